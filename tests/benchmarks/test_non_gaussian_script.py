"""benchmarks/non_gaussian.py: each member's law statistic tells its law from a Gaussian; a smoke run."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from kernelops.data.nongaussian import draw

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from _gaussian import gaussian_windows  # noqa: E402


@pytest.mark.parametrize(("member", "law", "gaussian_at_least"), [
    ("regimes", 0.0, 0.1), ("counts", 0.0, 0.5), ("mixture", 0.0, 0.05),
])
def test_law_statistics_are_zero_on_the_law_and_not_on_its_gaussian(load_script, member, law, gaussian_at_least):
    script = load_script("non_gaussian")
    real = draw(member, 1000, 0)
    stat = script.LAW[member][1]
    assert stat(draw(member, 1000, 1)) == law
    assert stat(gaussian_windows(real, 1000, 2)) >= gaussian_at_least


def test_range_and_spike_statistics_match_the_generators(load_script):
    script = load_script("non_gaussian")
    osc = draw("oscillations", 2000, 0)
    # the range of a fixed-amplitude sinusoid only varies by where the samples fall: std ≤ 0.05
    assert script.LAW["oscillations"][1](osc) < 0.05
    assert script.LAW["oscillations"][1](gaussian_windows(osc, 2000, 1)) > 0.15
    # detected spike rate: the law's 0.05, less the spikes next to another one (≈ 10 % of them)
    assert 0.04 < script.LAW["spikes"][1](draw("spikes", 2000, 0)) < 0.05


@pytest.mark.slow
def test_smoke_run_writes_every_row_and_figure(load_script, tmp_path):
    script = load_script("non_gaussian")
    assert script.main(["--smoke", "--members", "oscillations", "--out", str(tmp_path)]) == 0
    rows = json.loads((tmp_path / "non_gaussian.json").read_text())["rows"]
    assert [(r["member"], r["set"]) for r in rows] == [
        ("oscillations", s) for s in ("training draw", "floor", "Gaussian", "model")]
    floor = next(r for r in rows if r["set"] == "floor" and r["member"] == "oscillations")
    gauss = next(r for r in rows if r["set"] == "Gaussian" and r["member"] == "oscillations")
    # an independent draw stays (nearly: 200 windows) in the range and matches the marginals; the Gaussian does not
    assert floor["value_range_share"] < 1e-3 and gauss["value_range_share"] > 0.05
    assert floor["marginal_wasserstein"] < gauss["marginal_wasserstein"]
    assert all(np.isfinite(r[m]["mean"]) for r in rows if r["set"] != "training draw" for m in script.METRICS)
    md = (tmp_path / "non_gaussian.md").read_text()
    assert "| oscillations | model |" in md and "![oscillations](non_gaussian_oscillations.png)" in md
    assert (tmp_path / "samples" / "non_gaussian_oscillations.npy").is_file()
    assert (tmp_path / "non_gaussian_oscillations.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
