"""``kernelops evaluate``: the distribution scores beside the protocol's, and scores and the copy
test against held-out windows (--held-out, or RUN/held_out_scaled.npy)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from run_folders import tiny_sines_run

import kernelops as ko
from kernelops.cli.main import main
from kernelops.data import make_sines
from kernelops.flows import SpectralMeanFlow

FAST = ("--fast", "--runs", "1", "--metrics", "correlational", "--no-plots")


def _evaluate(*argv: str) -> int:
    return main(["evaluate", *argv])


@pytest.fixture
def arrays(tmp_path):
    real = make_sines(60, seed=0)
    shifted = real.copy()
    shifted[:, :, 0] += 0.125  # channel 0 moved up: W1 0.125 there, the same spectrum
    paths = {"real": tmp_path / "real.npy", "shifted": tmp_path / "shifted.npy",
             "held": tmp_path / "held.npy", "copies": tmp_path / "copies.npy"}
    np.save(paths["real"], real)
    np.save(paths["shifted"], shifted)
    np.save(paths["held"], make_sines(40, seed=1))
    np.save(paths["copies"], real[:30])  # copies of "training" windows
    return paths, real, shifted


def test_distribution_block_and_table_rows_with_known_values(arrays, tmp_path, capsys):
    paths, real, shifted = arrays
    out = tmp_path / "out"
    assert _evaluate("--real", str(paths["real"]), "--fake", str(paths["shifted"]), "--out", str(out), *FAST) == 0
    report = json.loads((out / "metrics.json").read_text())
    dist = report["distribution"]
    np.testing.assert_allclose(dist["marginal_wasserstein"]["per_channel"], [0.125, 0, 0, 0, 0], atol=1e-6)
    np.testing.assert_allclose(dist["spectral_distance"]["per_channel"], [0] * 5, atol=1e-6)
    # the shifted channel 0 leaves the real range exactly where its values were within 0.125 of the top
    expected = float((shifted[:, :, 0] > real[:, :, 0].max()).sum()) / shifted.size
    assert expected > 0 and dist["value_range_share"] == pytest.approx(expected)
    # the protocol's keys are unchanged; no held-out windows here
    assert {"metrics", "real", "fake", "runs", "seed", "fast", "loglik", "plots"} <= set(report)
    assert report["held_out"] is None and set(report["metrics"]) == {"correlational"}
    printed = capsys.readouterr().out
    assert "marginal_w1    0.0250           exact" in printed  # the mean over 5 channels
    assert "spectral_tv    0.0000" in printed and "outside_range" in printed and "copy test" not in printed


def test_held_out_option_scores_against_them_and_finds_copies(arrays, tmp_path, capsys):
    paths, real, _ = arrays
    out = tmp_path / "out"
    assert _evaluate("--real", str(paths["real"]), "--fake", str(paths["copies"]), "--held-out", str(paths["held"]),
                     "--out", str(out), *FAST) == 0
    held = json.loads((out / "metrics.json").read_text())["held_out"]
    assert held["source"] == str(paths["held"]) and held["shape"] == [40, 24, 5]
    assert set(held["metrics"]) == {"correlational"} and held["metrics"]["correlational"]["runs"] == 1
    assert held["distribution"]["marginal_wasserstein"]["mean"] > 0
    copy = held["copy_test"]
    assert copy["ratio"] == 0.0 and copy["share_below"] == 1.0 and copy["median_fake"] == 0.0
    assert copy["windows"] == {"train": 60, "fake": 30, "held_out": 40} and copy["train_source"] == str(paths["real"])
    printed = capsys.readouterr().out
    assert f"against held-out windows: {paths['held']} (40, 24, 5)" in printed
    assert printed.count("marginal_w1") == 2 and "ratio 0 " in printed and "100.0 % of generated" in printed


def _sines_run(tmp_path, fake: np.ndarray):
    """A run folder as `kernelops fit --dataset sines` leaves it, with samples and no checkpoint."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"source": {"dataset": "sines", "data": None, "window": None,
                                                            "stride": None, "columns": None}}))
    np.save(run / "fake_scaled.npy", fake)
    return run


def test_run_folder_with_held_out_windows_runs_the_copy_test_against_its_training_windows(arrays, tmp_path, capsys):
    paths, _, _ = arrays
    train = ko.dataset("sines").windows
    run = _sines_run(tmp_path, train[:25].copy())
    np.save(run / "held_out_scaled.npy", make_sines(30, seed=7))
    assert _evaluate(str(run), *FAST) == 0
    held = json.loads((run / "metrics.json").read_text())["held_out"]
    assert held["source"] == str(run / "held_out_scaled.npy")
    assert held["copy_test"]["ratio"] == 0.0 and held["copy_test"]["windows"]["train"] == len(train)
    # with --real, the scores use those windows but the copy test still the run's training windows
    assert _evaluate(str(run), "--real", str(paths["real"]), *FAST) == 0
    report = json.loads((run / "metrics.json").read_text())
    assert report["real"]["source"] == str(paths["real"])
    copy = report["held_out"]["copy_test"]
    assert copy["ratio"] == 0.0 and copy["train_source"].startswith("sines")
    assert "copy test" in capsys.readouterr().out


def test_held_out_windows_that_do_not_fit_are_refused_with_one_line(arrays, tmp_path, capsys):
    paths, _, _ = arrays
    bad, few = tmp_path / "bad.npy", tmp_path / "few.npy"
    np.save(bad, np.zeros((20, 24, 3), dtype=np.float32))
    np.save(few, make_sines(5, seed=3))
    base = ("--real", str(paths["real"]), "--fake", str(paths["shifted"]), *FAST)
    assert _evaluate(*base, "--held-out", str(bad)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"held-out ({bad}) has 3 features but real ({paths['real']}) has 5" in err
    assert _evaluate(*base, "--held-out", str(few)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"held-out ({few}): only 5 windows to compare" in err
    assert _evaluate(*base, "--held-out", str(tmp_path / "nope.npy")) == 2
    assert "--held-out: no such file" in capsys.readouterr().err


def test_a_run_with_a_checkpoint_also_scores_the_log_likelihood_of_held_out_windows(tmp_path, capsys):
    run = tiny_sines_run(tmp_path)
    np.save(run / "held_out_scaled.npy", np.zeros((20, 24, 3), dtype=np.float32))
    assert _evaluate(str(run), "--num", "12", *FAST) == 2  # refused before anything is sampled
    assert "held-out" in capsys.readouterr().err and not (run / "fake_scaled.npy").exists()
    held = make_sines(20, seed=9)
    np.save(run / "held_out_scaled.npy", held)
    assert _evaluate(str(run), "--num", "12", "--loglik", "3", *FAST) == 0
    report = json.loads((run / "metrics.json").read_text())
    ll = report["held_out"]["loglik"]
    assert ll["windows"] == 3 and ll["source"] == f"held-out ({run / 'held_out_scaled.npy'})"
    chosen = np.sort(np.random.default_rng(0).choice(20, size=3, replace=False))  # --seed 0 picks them
    direct = SpectralMeanFlow.load(run / "checkpoint.pt").log_prob(held[chosen].astype(np.float64)).log_prob
    assert ll["mean_nats_per_window"] == pytest.approx(float(direct.mean()), rel=1e-6)
    assert report["loglik"]["source"].startswith("real (sines")  # the training windows' score is unchanged
    assert "log-likelihood of 3 windows of held-out" in capsys.readouterr().out


def test_run_folder_without_held_out_windows_runs_the_copy_test_within_the_training_period(tmp_path, capsys):
    train = ko.dataset("sines").windows
    run = _sines_run(tmp_path, train[::40].copy())  # 250 copies of training windows
    assert _evaluate(str(run), *FAST) == 0
    report = json.loads((run / "metrics.json").read_text())
    assert report["held_out"] is None
    copy = report["copy_test"]
    assert "ratio" not in copy and copy["windows"] == {"train": len(train), "fake": 250}
    assert copy["within"]["gap"] == 23 and copy["within"]["ratio"] == 0.0 and copy["within"]["share_below"] == 1.0
    assert "copy test within the training period" in capsys.readouterr().out
    # new windows of the same law: an independent draw sits as far from the training set as its own windows
    np.save(run / "fake_scaled.npy", make_sines(250, seed=3))
    assert _evaluate(str(run), *FAST) == 0
    within = json.loads((run / "metrics.json").read_text())["copy_test"]["within"]
    assert within["ratio"] == pytest.approx(1.0, abs=0.1) and within["share_below"] < 0.05
