"""``kernelops evaluate``: metrics.json content, known correlational answers, plots, run folders
and one-line errors that name the offending file."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from run_folders import tiny_sines_run

from kernelops.cli.main import main
from kernelops.data import make_sines
from kernelops.flows import SpectralMeanFlow


def _corr(x: np.ndarray) -> np.ndarray:
    """Lag-0 cross-correlation of the channels, written out independently of kernelops."""
    flat = x.reshape(-1, x.shape[-1]).astype(np.float64)
    z = (flat - flat.mean(0)) / flat.std(0, ddof=1)
    return z.T @ z / len(flat)


@pytest.fixture
def files(tmp_path):
    # every window identical: any resampling of the set leaves its statistics unchanged, so the
    # correlational score (which resamples windows per run) has an exact expected value
    t = np.arange(24)[:, None]
    c = np.arange(5)[None, :]
    w = 0.75 + 0.25 * np.sin(0.3 * (c + 1) * t + c)  # (24, 5), every channel well spread
    real = np.repeat(w[None], 40, axis=0).astype(np.float32)
    flipped = real.copy()
    flipped[:, :, 0] = 1.5 - flipped[:, :, 0]  # mirror channel 0 inside [0.5, 1] (exact in float32)
    paths = {"real": tmp_path / "real.npy", "same": tmp_path / "same.npy", "flipped": tmp_path / "flipped.npy"}
    np.save(paths["real"], real)
    np.save(paths["same"], real.copy())
    np.save(paths["flipped"], flipped)
    return paths, real, flipped


def _evaluate(*argv: str) -> int:
    return main(["evaluate", *argv])


def test_identical_inputs_score_zero_and_metrics_json_has_the_keys(files, tmp_path, capsys):
    paths, real, _ = files
    out = tmp_path / "out"
    code = _evaluate("--real", str(paths["real"]), "--fake", str(paths["same"]), "--fast", "--runs", "1",
                     "--metrics", "correlational", "--out", str(out), "--no-plots")
    assert code == 0
    report = json.loads((out / "metrics.json").read_text())
    assert set(report["metrics"]) == {"correlational"}
    entry = report["metrics"]["correlational"]
    assert {"mean", "std", "values"} <= set(entry)
    assert entry["mean"] == 0.0 and entry["values"] == [0.0] and entry["std"] == 0.0
    assert report["real"]["shape"] == [40, 24, 5] and report["runs"] == 1 and report["fast"] is True
    assert report["plots"] == []
    printed = capsys.readouterr().out
    assert "correlational" in printed and "0.0000 ± 0.0000" in printed


def test_correlational_known_value_and_plots(files, tmp_path):
    paths, real, flipped = files
    code = _evaluate("--real", str(paths["real"]), "--fake", str(paths["flipped"]), "--fast", "--runs", "2",
                     "--metrics", "correlational")
    assert code == 0
    out = paths["flipped"].parent  # default output: the fake file's folder
    report = json.loads((out / "metrics.json").read_text())
    # mirroring channel 0 flips the sign of its correlations with the 4 others; the reference
    # sums |C_fake - C_real| over pairs i >= j and divides by 10; each of the 2 runs draws
    # 40 // 2 = 20 windows per set, and C carries the factor (nT - 1) / nT of that draw
    c = _corr(real[:20])
    expected = 2 * np.abs(c[0, 1:]).sum() / 10
    np.testing.assert_allclose(report["metrics"]["correlational"]["values"], [expected] * 2, rtol=1e-4)
    assert report["plots"] == ["pca.png", "tsne.png", "histogram.png", "channels.png"]
    for name in report["plots"]:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_run_folder_uses_its_dataset_and_generated_file(tmp_path, real_datasets):
    run = tmp_path / "run"
    run.mkdir()
    # the layout `kernelops fit` writes: the data source under "source"
    (run / "config.json").write_text(json.dumps({"source": {"dataset": "stocks", "data": None, "window": 12,
                                                            "stride": 4, "columns": None},
                                                 "dataset": {"name": "stocks"}}))
    import kernelops as ko

    real = ko.dataset("stocks", seq_len=12, stride=4).windows
    fake = real[::-1].copy()
    np.save(run / "fake_scaled.npy", fake)
    assert _evaluate(str(run), "--fast", "--runs", "1", "--metrics", "correlational", "--no-plots") == 0
    report = json.loads((run / "metrics.json").read_text())
    assert report["real"]["shape"] == list(real.shape) and report["real"]["source"].startswith("stocks")
    assert report["fake"]["source"] == str(run / "fake_scaled.npy")
    from kernelops.metrics import evaluate_all

    direct = evaluate_all(real, fake, metrics=("correlational",), runs=1, fast=True)
    assert report["metrics"]["correlational"]["values"] == pytest.approx(direct["correlational"]["values"])


def test_run_folder_without_samples_draws_them_from_the_checkpoint(tmp_path):
    run = tiny_sines_run(tmp_path)
    assert _evaluate(str(run), "--num", "20", "--seed", "3", "--fast", "--runs", "1",
                     "--metrics", "correlational", "--no-plots") == 0
    saved = np.load(run / "fake_scaled.npy")
    expected = SpectralMeanFlow.load(run / "checkpoint.pt").sample(20, seed=3).numpy()
    np.testing.assert_allclose(saved, expected, atol=1e-6)  # the checkpoint's EMA model, seeded
    report = json.loads((run / "metrics.json").read_text())
    assert report["fake"]["shape"] == [20, 24, 5] and "sampled from" in report["fake"]["source"]


def test_samples_older_than_the_checkpoint_are_not_reused(tmp_path, capsys):
    import os

    run = tiny_sines_run(tmp_path)
    stale = np.full((20, 24, 5), 0.5, dtype=np.float32)  # what an earlier model would have drawn
    np.save(run / "fake_scaled.npy", stale)
    old = (run / "checkpoint.pt").stat().st_mtime - 60
    os.utime(run / "fake_scaled.npy", (old, old))  # sampled a minute before the checkpoint was written
    assert _evaluate(str(run), "--num", "20", "--seed", "3", "--fast", "--runs", "1",
                     "--metrics", "correlational", "--no-plots") == 0
    assert "older than" in capsys.readouterr().err
    fresh = np.load(run / "fake_scaled.npy")
    expected = SpectralMeanFlow.load(run / "checkpoint.pt").sample(20, seed=3).numpy()
    np.testing.assert_allclose(fresh, expected, atol=1e-6)
    assert "sampled from" in json.loads((run / "metrics.json").read_text())["fake"]["source"]


@pytest.mark.parametrize("make, match", [
    (lambda: np.zeros((4, 24)), r"--fake {f}: expected shape \(n, seq_len, features\), got \(4, 24\)"),
    (lambda: np.full((4, 24, 5), np.nan), r"--fake {f}: contains 480 NaN or infinite value\(s\)"),
    (lambda: np.zeros((4, 24, 3)), r"fake \({f}\) has 3 features but real \(.*\) has 5"),
    (lambda: np.zeros((4, 12, 5)), r"fake \({f}\) has windows of 12 steps but real \(.*\) has 24"),
    (lambda: np.array(["a", "b"]), r"--fake {f}: expected numbers, got dtype <U1"),
    (None, r"--fake: no such file: {f}"),
])
def test_bad_inputs_exit_nonzero_with_one_line_naming_the_file(files, tmp_path, capsys, make, match):
    paths, _, _ = files
    bad = tmp_path / "bad.npy"
    if make is not None:
        np.save(bad, make())
    code = _evaluate("--real", str(paths["real"]), "--fake", str(bad), "--no-plots")
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err
    assert err.startswith("kernelops evaluate: error: ")
    import re

    assert re.search(match.format(f=re.escape(str(bad))), err), err
    assert not (tmp_path / "metrics.json").exists()


def test_not_an_npy_file_and_missing_arguments(tmp_path, capsys):
    junk = tmp_path / "junk.npy"
    junk.write_text("not numpy")
    assert _evaluate("--real", str(junk), "--fake", str(junk)) == 2
    err = capsys.readouterr().err
    assert f"--real {junk}: cannot read it as a .npy array" in err
    assert _evaluate("--real", str(junk)) == 2
    assert "give a run folder" in capsys.readouterr().err
    assert _evaluate(str(tmp_path / "nope")) == 2
    assert "no such run folder" in capsys.readouterr().err


def test_console_entry_point_reports_a_missing_file(tmp_path):
    """The real command line: exit status 2 and exactly one line on stderr."""
    missing = tmp_path / "missing.npy"
    proc = subprocess.run([sys.executable, "-m", "kernelops.cli.main", "evaluate", "--real", str(missing),
                           "--fake", str(missing)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"kernelops evaluate: error: --real: no such file: {missing}"]


def test_real_dataset_option_takes_registered_windows(tmp_path, capsys):
    real = make_sines(50, seed=2)
    fake_path = tmp_path / "fake_scaled.npy"
    np.save(fake_path, real)
    assert _evaluate("--real-dataset", "sines", "--fake", str(fake_path), "--fast", "--runs", "1",
                     "--metrics", "correlational", "--no-plots") == 0
    report = json.loads((tmp_path / "metrics.json").read_text())
    assert report["real"]["shape"] == [10000, 24, 5] and report["real"]["source"].startswith("sines")
    # both real sources at once, or an unknown dataset name, are refused with one line
    assert _evaluate("--real-dataset", "sines", "--real", str(fake_path), "--fake", str(fake_path)) == 2
    assert "not both" in capsys.readouterr().err
    assert _evaluate("--real-dataset", "nosuch", "--fake", str(fake_path)) == 2
    err = capsys.readouterr().err
    assert "unknown dataset 'nosuch'" in err and "sines" in err and err.count("\n") == 1


def test_scale_warning_counts_overshoot_and_flags_unscaled_files():
    from kernelops.cli.evaluate import scale_warning

    ok = np.full((4, 5, 2), 0.5)
    assert scale_warning(ok, "fake") is None
    overshoot = ok.copy()
    overshoot[0, 0, 0], overshoot[1, 2, 1] = -0.02, 1.07
    msg = scale_warning(overshoot, "fake")
    assert msg.startswith("note: fake: 2 of 40 values") and "[-0.02, 1.07]" in msg and "_scaled" not in msg
    unscaled = ok * 100
    assert "pass the *_scaled.npy file" in scale_warning(unscaled, "fake")


def test_run_folder_reports_the_log_likelihood_of_held_out_windows(tmp_path):
    run = tiny_sines_run(tmp_path)
    held = make_sines(30, seed=11)
    np.save(tmp_path / "held.npy", held)
    assert _evaluate(str(run), "--num", "20", "--fast", "--runs", "1", "--metrics", "correlational", "--no-plots",
                     "--loglik", "6", "--loglik-input", str(tmp_path / "held.npy")) == 0
    report = json.loads((run / "metrics.json").read_text())["loglik"]
    assert report["windows"] == 6 and report["source"] == str(tmp_path / "held.npy") and report["exact"]
    chosen = np.sort(np.random.default_rng(0).choice(30, size=6, replace=False))
    direct = SpectralMeanFlow.load(run / "checkpoint.pt").log_prob(held[chosen].astype(np.float64)).log_prob
    assert report["mean_nats_per_window"] == pytest.approx(float(direct.mean()), rel=1e-6)
    assert report["bits_per_value"] == pytest.approx(-float(direct.mean()) / (120 * np.log(2)), rel=1e-6)
    assert _evaluate(str(run), "--fast", "--runs", "1", "--metrics", "correlational", "--no-plots",
                     "--loglik", "0") == 0
    assert json.loads((run / "metrics.json").read_text())["loglik"] is None
