"""benchmarks/table1.py: the markdown it renders from a json and the sample storage rule."""

from __future__ import annotations

import json

import numpy as np
import pytest


@pytest.fixture(scope="module")
def table1(load_script):
    return load_script("table1")


def _row(fid: float, floor_fid: float) -> dict:
    metric = lambda m: {"mean": m, "std": 0.0, "values": [m]}  # noqa: E731
    row = {m: metric(0.5) for m in ("correlational", "discriminative", "predictive")}
    row["context_fid"] = metric(fid)
    row["floor"] = {m: metric(0.25) for m in ("correlational", "discriminative", "predictive")}
    row["floor"]["context_fid"] = metric(floor_fid)
    row.update(steps=10, train_seconds=120.0, sample_seconds=3.0, nfe=16, runs=1, floor_runs=1,
               num_windows=7, device="cpu (1 threads)", config={}, command="x", floor_method="halves")
    return row


def test_markdown_orders_rows_and_computes_the_distance_from_the_floor(table1):
    md = table1.render_markdown({"etth": _row(1.5, 0.125), "sines": _row(0.75, 0.5)})
    summary = md[md.index("## Summary"):md.index("## sines")]
    assert summary.index("| sines |") < summary.index("| etth |")  # CONFIGS order, not insertion order
    assert "| sines | 10 steps, 2 min | **0.750** / 0.500 / 0.004 |" in summary  # paper's Sines FID
    sines = md[md.index("## sines"):md.index("## etth")]
    assert "| context_fid | 0.750 ± 0.000 | 0.500 ± 0.000 | +0.250 | 0.004 |" in sines
    assert "0.093 (real 0.094)" in sines


def test_render_only_rewrites_the_markdown_from_the_json(table1, tmp_path):
    (tmp_path / "table1.json").write_text(json.dumps({"stocks": _row(0.0625, 0.03125)}))
    assert table1.main(["--render-only", "--out", str(tmp_path)]) == 0
    assert "| context_fid | 0.062 ± 0.000 | 0.031 ± 0.000 | +0.031 | 0.008 |" in (tmp_path / "table1.md").read_text()


def test_large_samples_are_stored_as_float16_small_ones_as_float32(table1):
    small = np.full((10, 24, 5), 0.3, dtype=np.float64)
    assert table1.storable(small).dtype == np.float32
    big = np.random.default_rng(0).random((20000, 24, 5))  # 9.6 MB as float32
    stored = table1.storable(big)
    assert stored.dtype == np.float16
    assert np.abs(stored.astype(np.float64) - big).max() <= 2.5e-4  # half a float16 spacing in [0.5, 1)


def test_gaussian_baseline_matches_the_windows_moments_and_is_rendered(table1):
    rng = np.random.default_rng(0)
    real = (0.5 + 0.1 * rng.standard_normal((4000, 3, 2)) @ np.diag([1.0, 0.5])).astype(np.float32)
    real[:, :, 1] += 0.5 * real[:, :, 0]  # correlated channels
    fake = table1.gaussian_windows(real, 20000, seed=1)
    assert fake.shape == (20000, 3, 2) and fake.dtype == np.float32
    flat_r, flat_f = real.reshape(4000, -1), fake.reshape(20000, -1)
    np.testing.assert_allclose(flat_f.mean(0), flat_r.mean(0), atol=3e-3)
    np.testing.assert_allclose(np.cov(flat_f, rowvar=False), np.cov(flat_r, rowvar=False), atol=1.5e-3)
    row = _row(0.75, 0.5)
    row["gaussian"] = {m: {"mean": 0.125, "std": 0.0, "values": [0.125]} for m in
                       ("context_fid", "correlational", "discriminative", "predictive")}
    md = table1.render_markdown({"sines": row, "etth": _row(1.5, 0.125)})
    assert "## Summary: ours / floor / Gaussian / paper" in md
    assert "| sines | 10 steps, 2 min | **0.750** / 0.500 / 0.125 / 0.004 |" in md
    assert "| etth | 10 steps, 2 min | **1.500** / 0.125 / – / 0.058 |" in md  # a row without it
    assert "| metric | ours | floor | Δ floor | Gaussian | paper |" in md
    assert "| context_fid | 0.750 ± 0.000 | 0.500 ± 0.000 | +0.250 | 0.125 ± 0.000 | 0.004 |" in md


def test_floor_is_reused_only_when_measured_the_same_way(table1):
    row = _row(0.75, 0.5)
    row.update(seed=0, fast_metrics=False)
    args = table1.parse_args(["--datasets", "sines", "--floor-runs", "1", "--force", "--reuse-floor"])
    assert table1.reusable_floor(row, "halves", args) is row["floor"]
    assert table1.reusable_floor(row, "an independent draw", args) is None  # another method
    assert table1.reusable_floor(row, "halves", table1.parse_args(["--floor-runs", "3"])) is None
    assert table1.reusable_floor(row, "halves", table1.parse_args(["--floor-runs", "1", "--seed", "4"])) is None
    assert table1.reusable_floor(row, "halves", table1.parse_args(["--floor-runs", "1", "--fast-metrics"])) is None
    assert table1.reusable_floor(None, "halves", args) is None


def test_a_retrained_row_keeps_its_gaussian_baseline_only_when_scored_the_same_way(table1):
    row = _row(0.75, 0.5)
    gauss = {m: {"mean": 0.125, "std": 0.0, "values": [0.125]} for m in ("context_fid", "predictive")}
    row.update(seed=0, fast_metrics=False, gaussian=gauss, gaussian_runs=3, gaussian_seconds=9.5)
    args = table1.parse_args(["--datasets", "stocks", "--force"])
    assert table1.reusable_gaussian(row, args) == {"gaussian": gauss, "gaussian_runs": 3, "gaussian_seconds": 9.5}
    assert table1.reusable_gaussian(row, table1.parse_args(["--seed", "2"])) == {}
    assert table1.reusable_gaussian(row, table1.parse_args(["--fast-metrics"])) == {}
    assert table1.reusable_gaussian(_row(0.75, 0.5), args) == {}  # a row never scored against it
    assert table1.reusable_gaussian(None, args) == {}
