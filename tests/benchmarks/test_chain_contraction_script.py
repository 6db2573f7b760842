"""benchmarks/chain_contraction.py: Fig. 2 draws measured and analytic memory apart, and a tiny run
writes the table, the JSON and the figure."""

from __future__ import annotations

import argparse
import json

import pytest


@pytest.fixture(scope="module")
def cc(load_script):
    return load_script("chain_contraction")


def test_fig2_plots_measured_dense_peaks_apart_from_the_analytic_sizes(cc, tmp_path):
    rows = [{"N": 2, "chain_peak_bytes": 400, "dense_peak_bytes": 10_240, "dense_mu_bytes_analytic": 8_192},
            {"N": 3, "chain_peak_bytes": 17_000, "dense_peak_bytes": 393_216, "dense_mu_bytes_analytic": 262_144},
            {"N": 4, "chain_peak_bytes": 18_000, "dense_mu_bytes_analytic": 8 * 32**4}]
    points = cc.plot_fig2(argparse.Namespace(rank=8, dim=32), rows, tmp_path / "fig2.png")
    assert points["chain"] == [(2, 400.0), (3, 17_000.0), (4, 18_000.0)]
    assert points["dense_measured"] == [(2, 10_240.0), (3, 393_216.0)]  # the measured peak, not the size of μ
    assert points["dense_analytic"] == [(4, float(8 * 32**4))]  # only where the dense tensor was refused
    assert (tmp_path / "fig2.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_tiny_run_writes_the_table_json_and_figure(cc, tmp_path):
    assert cc.main(["--max-n", "4", "--batch", "2", "--rank", "2", "--dim", "4", "--out", str(tmp_path)]) == 0
    md = (tmp_path / "chain_contraction.md").read_text()
    assert f"]({cc.FIG2_NAME})" in md  # the table's page shows the figure
    assert (tmp_path / cc.FIG2_NAME).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = json.loads((tmp_path / "chain_contraction.json").read_text())["experiment_b"]
    assert [r["N"] for r in rows] == list(range(2, 9))
    assert all("dense_peak_bytes" in r for r in rows)  # 4^8 entries fit: every dense peak is measured
