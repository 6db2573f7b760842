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


# -- --hold-out ---------------------------------------------------------------------------------
def _series_dataset(tmp_path, steps: int = 260, window: int = 8):
    """A tiny two-channel series (a noisy sine and a drifting cosine), windowed in time order."""
    from kernelops.data import load_user_windows

    t = np.arange(steps, dtype=np.float64)
    rng = np.random.default_rng(0)
    series = np.stack([np.sin(0.5 * t) + 0.1 * rng.standard_normal(steps), np.cos(0.3 * t) + 0.002 * t], axis=1)
    np.save(tmp_path / "series.npy", series)
    return load_user_windows(tmp_path / "series.npy", window=window)


def test_hold_out_parts_split_real_data_in_time_and_subsample_only_the_training_part(table1, tmp_path, monkeypatch):
    ds = _series_dataset(tmp_path)
    monkeypatch.setattr(table1, "load_dataset", lambda name: ds)
    train, held, _, record = table1.held_out_parts("etth", 0.2, None, seed=0)
    n_held = int(np.ceil(0.2 * ds.num_windows))
    assert record["windows"] == n_held == len(held) and record["gap"] == ds.seq_len - 1
    assert record["train_windows"] == len(train) == ds.num_windows - n_held - (ds.seq_len - 1)
    np.testing.assert_array_equal(held, ds.windows[-n_held:])  # the last windows in time
    np.testing.assert_array_equal(train, ds.windows[:len(train)])
    small, held_again, _, small_record = table1.held_out_parts("etth", 0.2, 50, seed=0)
    np.testing.assert_array_equal(held_again, held)  # --smoke's cap never touches the held-out part
    assert len(small) == small_record["train_windows"] == 50 and "50 of them drawn at random" in small_record["method"]
    rows = {w.tobytes() for w in train}
    assert all(w.tobytes() in rows for w in small)  # drawn from the training part only


def test_sines_hold_out_their_independent_draw(table1):
    from kernelops.data import make_sines

    train, held, _, record = table1.held_out_parts("sines", 0.2, 300, seed=0)
    assert train.shape == held.shape == (300, 24, 5)
    np.testing.assert_array_equal(held, make_sines(300, seed=1).astype(np.float32))
    assert record["windows"] == record["train_windows"] == 300 and record["gap"] == 0
    floor_a, floor_b, _ = table1.floor_pair("sines", train, seed=0)
    np.testing.assert_array_equal(floor_b, held)  # the held-out set is the draw the floor uses


def _held_out_block(fid: float) -> dict:
    metric = lambda m: {"mean": m, "std": 0.0, "values": [m]}  # noqa: E731
    scores = {"marginal_wasserstein": {"per_channel": [0.02], "mean": 0.02},
              "spectral_distance": {"per_channel": [0.25], "mean": 0.25}, "value_range_share": 0.0625}
    return {"fraction": 0.2, "windows": 30, "train_windows": 100, "gap": 7, "method": "chronological",
            "metrics": {"context_fid": metric(fid), "discriminative": metric(0.125)},
            "floor": {"context_fid": metric(1.5), "discriminative": metric(0.25)},
            "gaussian": {"context_fid": metric(3.0), "discriminative": metric(0.375)},
            "distribution": {"model": scores, "floor": scores, "gaussian": scores}, "runs": 1, "floor_runs": 1,
            "copy_test": {"median_fake": 0.5, "median_held_out": 0.25, "ratio": 2.0, "share_below": 0.0,
                          "quantile": 0.01, "held_out_quantile": 0.125,
                          "windows": {"train": 100, "fake": 100, "held_out": 30},
                          "within": {"gap": 7, "windows": 100, "median": 0.625, "ratio": 0.8, "share_below": 0.03,
                                     "quantile_value": 0.375}}}


def test_markdown_gains_the_held_out_summary_only_for_rows_that_have_one(table1):
    row = _row(0.75, 0.5)
    row["held_out"] = _held_out_block(2.25)
    md = table1.render_markdown({"etth": row, "stocks": _row(0.75, 0.5)})
    held = md[md.index("## Held-out windows"):md.index("## etth")]
    assert "| dataset | in-sample CFID / disc | held-out CFID / disc | held-out floor | Gaussian | copy ratio / " \
           "share below | within: ratio / share below |" in held
    assert "| etth | 0.750 / 0.500 | **2.250 / 0.125** | 1.500 / 0.250 | 3.000 / 0.375 | 2.000 / 0.000 | " \
           "**0.800 / 0.030** |" in held
    assert "| stocks |" not in held  # a protocol row has no held-out cells
    assert "| etth | – / 0.0200 / 0.0200 / 0.0200 | – / 0.2500 / 0.2500 / 0.2500 | – / 0.0625 / 0.0625 / 0.0625 |" \
        in held  # no in-sample distribution block in this row: a dash, not a number
    section = md[md.index("## etth"):]  # stocks comes first (CONFIGS order)
    assert "| context_fid | 0.750 ± 0.000 | 2.250 ± 0.000 | 1.500 ± 0.000 | 3.000 ± 0.000 |" in section
    assert "(ratio 2.000); 0.000 of the generated windows" in section
    assert "more than 7 windows away): median 0.625, ratio 0.800; 0.030 of the generated" in section
    assert "Held out" not in md[md.index("## stocks"):md.index("## etth")]
    assert "## Held-out windows" not in table1.render_markdown({"stocks": _row(0.75, 0.5)})


def test_hold_out_is_checked_and_kept_apart_from_protocol_baselines(table1):
    for bad in ("0", "1", "1.5", "-0.2", "nan"):
        with pytest.raises(SystemExit):
            table1.parse_args(["--hold-out", bad])
    assert table1.parse_args([]).hold_out is None
    row = _row(0.75, 0.5)
    gauss = {"context_fid": {"mean": 0.125, "std": 0.0, "values": [0.125]}}
    row.update(seed=0, fast_metrics=False, gaussian=gauss, gaussian_runs=3)
    held_args = table1.parse_args(["--hold-out", "0.2", "--force", "--floor-runs", "1"])
    assert table1.reusable_gaussian(row, held_args) == {}  # scored on every window, not the training part
    row["gaussian_hold_out"] = 0.2
    assert table1.reusable_gaussian(row, held_args)["gaussian_hold_out"] == 0.2
    assert table1.reusable_gaussian(row, table1.parse_args([])) == {}
    row["held_out"] = _held_out_block(2.25)
    full = {m: {"mean": 0.1, "std": 0.0, "values": [0.1]} for m in table1.METRICS}
    row["held_out"].update(floor=full, gaussian=full)
    record = {k: row["held_out"][k] for k in ("fraction", "windows", "train_windows", "gap")}
    assert table1.reusable_held_out(row, record, held_args)["floor"] is full
    assert table1.reusable_held_out(row, {**record, "windows": 31}, held_args) is None  # another split
    assert table1.reusable_held_out(row, record, table1.parse_args(["--hold-out", "0.2", "--floor-runs", "2"])) is None


@pytest.mark.slow
def test_a_tiny_hold_out_run_writes_held_out_scores_and_the_copy_test(table1, tmp_path, monkeypatch):
    """The whole --hold-out pipeline on 253 windows of 8 steps (two metrics, to stay short)."""
    ds = _series_dataset(tmp_path)
    monkeypatch.setattr(table1, "load_dataset", lambda name: ds)
    monkeypatch.setattr(table1, "METRICS", ("correlational", "discriminative"))
    train_ds, held_ds = ds.split(0.2, contiguous=True)
    n_train, n_held = train_ds.num_windows, held_ds.num_windows
    out = tmp_path / "out"
    args = ["--datasets", "etth", "--smoke", "--floor-runs", "1", "--threads", "1", "--out", str(out)]
    assert table1.main(args + ["--hold-out", "0.2"]) == 0
    row = json.loads((out / "table1.json").read_text())["etth"]
    held = row["held_out"]
    assert (held["fraction"], held["windows"], held["train_windows"], held["gap"]) == (0.2, n_held, n_train, 7)
    assert row["num_windows"] == n_train  # trained and scored in-sample on the training part only
    assert "halves of the training windows" in row["floor_method"]
    assert np.load(out / "samples" / "etth.npy").shape == (n_train, 8, 2)
    assert json.loads((out / "samples" / "etth.json").read_text())["hold_out"] == 0.2
    for block in (held["metrics"], held["floor"], held["gaussian"]):
        assert set(block) == {"correlational", "discriminative"}
        assert 0.0 <= block["discriminative"]["mean"] <= 0.5 and block["correlational"]["mean"] >= 0.0
    copies = held["copy_test"]
    assert copies["windows"] == {"train": n_train, "fake": n_train, "held_out": n_held}
    assert copies["ratio"] > 0 and 0.0 <= copies["share_below"] <= 1.0
    assert copies["ratio"] == pytest.approx(copies["median_fake"] / copies["median_held_out"])
    # the within-period reference: as many training windows as generated ones, seq_len − 1 neighbours left out
    within = copies["within"]
    assert within["gap"] == 7 and within["windows"] == n_train and within["ratio"] > 0
    assert within["ratio"] == pytest.approx(copies["median_fake"] / within["median"])
    for scores in (*held["distribution"].values(), *row["distribution"].values()):
        assert 0.0 <= scores["value_range_share"] <= 1.0 and scores["marginal_wasserstein"]["mean"] >= 0.0
        assert 0.0 <= scores["spectral_distance"]["mean"] <= 1.0
    # the held-out floor's range share: training values outside the held-out windows' per-channel range
    low, high = held_ds.windows.min(axis=(0, 1)), held_ds.windows.max(axis=(0, 1))
    outside = ((train_ds.windows < low) | (train_ds.windows > high)).mean()
    assert held["distribution"]["floor"]["value_range_share"] == pytest.approx(outside)
    md = (out / "table1.md").read_text()
    assert "## Held-out windows (`--hold-out`)" in md
    assert f"| {copies['ratio']:.3f} / {copies['share_below']:.3f} | **{within['ratio']:.3f} / " \
           f"{within['share_below']:.3f}** |" in md
    # --rescore-copies redoes the copy test from the saved samples: the same numbers, nothing trained
    table = json.loads((out / "table1.json").read_text())
    del table["etth"]["held_out"]["copy_test"]["within"]
    (out / "table1.json").write_text(json.dumps(table))
    assert table1.main(["--rescore-copies", "--threads", "1", "--out", str(out)]) == 0
    again = json.loads((out / "table1.json").read_text())["etth"]["held_out"]["copy_test"]
    assert again["within"] == pytest.approx(within) and again["ratio"] == pytest.approx(copies["ratio"])
    # the row is not taken for a protocol row: skipped with a note, and its samples are refused
    assert table1.main(args) == 0 and "held_out" in json.loads((out / "table1.json").read_text())["etth"]
    (out / "table1.json").unlink()
    with pytest.raises(SystemExit, match="--hold-out 0.2"):
        table1.main(args)
