"""benchmarks/table3.py: a smoke run on short pieces of the two long-series datasets."""

from __future__ import annotations

import json

import pytest


@pytest.mark.slow
def test_smoke_run_scores_gaussian_and_both_potentials(load_script, tmp_path, real_datasets):
    script = load_script("table3")
    assert script.main(["--smoke", "--out", str(tmp_path)]) == 0
    rows = json.loads((tmp_path / "table3.json").read_text())["rows"]
    assert [(r["dataset"], r["model"].split(" (")[0]) for r in rows] == [
        (d, m) for d in ("fred_md", "nn5_daily") for m in ("Gaussian", "spectral mean flow", "spectral mean flow")]
    assert [r["model"] for r in rows[1:3]] == ["spectral mean flow (chain potential)", "spectral mean flow (window potential)"]
    for row in rows:
        assert row["shape"] == [12, 40, 1] and row["marginal"] >= 0 and row["prediction"]["mean"] >= 0
        assert 0 <= row["accuracy"]["mean"] <= 1
    md = (tmp_path / "table3.md").read_text()
    assert "fred_md 0.019 / 1.338 / 0.03; nn5_daily 0.006 / 0.95 / 0.539" in md
