"""benchmarks/pendulum.py: a smoke run writes the table, the json and the figure."""

from __future__ import annotations

import json

import pytest


@pytest.mark.slow
def test_smoke_run_writes_rows_anchors_and_figure(load_script, tmp_path):
    script = load_script("pendulum")
    assert script.main(["--smoke", "--out", str(tmp_path)]) == 0
    rows = json.loads((tmp_path / "pendulum.json").read_text())["rows"]
    assert [r["weight"] for r in rows] == [None, None, 0.0, 1.0]
    assert rows[0]["energy_drift"] < 1e-6  # an independent draw of the data conserves energy
    assert all(0 <= r["correlational"]["mean"] and len(r["correlational"]["values"]) == 2 for r in rows)
    assert all(0 < r["eig_modulus_max"] < 1 for r in rows[2:])  # |λ| = exp(−exp ν) < 1
    md = (tmp_path / "pendulum.md").read_text()
    assert "| Gaussian (data mean and covariance) |" in md
    assert "- SMF (paper): 0.0029 → 0.0005" in md and "- KoVAE (paper): 0.004 → 0.003" in md
    assert (tmp_path / "pendulum.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
