"""`kernelops fit` / `kernelops sample` end to end in a subprocess (tiny model, few steps)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

TINY = ["--depth", "1", "--width", "8", "--batch-size", "16", "--sample-steps", "2", "--no-progress"]


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "KERNELOPS_LOAD_PLUGINS": ""}
    env.pop("KERNELOPS_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "kernelops.cli.main", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cli")
    proc = _run("fit", "--dataset", "sines", "--steps", "20", "--checkpoint-every", "10", "--out", "run", *TINY, cwd=root)
    assert proc.returncode == 0, proc.stderr
    return root / "run"


@pytest.mark.slow
def test_fit_writes_the_run_folder(run_dir):
    assert {p.name for p in run_dir.iterdir()} >= {"config.json", "checkpoint.pt", "loss.csv", "samples.png"}
    config = json.loads((run_dir / "config.json").read_text())
    assert config["source"]["dataset"] == "sines" and config["step"] == 20
    assert config["model"]["field"]["depth"] == 1 and config["model"]["field"]["width"] == 8
    assert config["model"]["path"] == "ot" and config["train"]["batch_size"] == 16 and config["train"]["warmup"] == 2
    assert config["dataset"]["shape"] == [10000, 24, 5]
    rows = list(csv.reader((run_dir / "loss.csv").open()))
    assert rows[0] == ["step", "loss", "lr"] and [int(r[0]) for r in rows[1:]] == list(range(1, 21))
    assert all(np.isfinite(float(r[1])) and float(r[1]) > 0 for r in rows[1:])
    png = (run_dir / "samples.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


@pytest.mark.slow
def test_sample_writes_original_and_scaled_arrays(run_dir, tmp_path):
    proc = _run("sample", str(run_dir), "--num", "16", "--out", str(tmp_path / "X.npy"), "--seed", "3", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "NFE 4" in proc.stdout and "X_scaled.npy" in proc.stdout  # midpoint, 2 steps
    fake, scaled = np.load(tmp_path / "X.npy"), np.load(tmp_path / "X_scaled.npy")
    assert fake.shape == scaled.shape == (16, 24, 5) and fake.dtype == np.float32
    assert np.isfinite(fake).all()
    # Sines is stored with the identity scaler: both scales coincide
    np.testing.assert_allclose(fake, scaled, atol=1e-6)
    # same seed, same windows (and the checkpoint file works as RUN too)
    again = _run("sample", str(run_dir / "checkpoint.pt"), "--num", "16", "--out", str(tmp_path / "Y.npy"), "--seed", "3",
                 cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "Y.npy"), fake)


@pytest.mark.slow
def test_resume_extends_a_run_exactly(run_dir, tmp_path):
    """--resume with --steps 30 continues from the step-20 checkpoint and logs steps 21..30."""
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    proc = _run("fit", "--resume", str(copy), "--steps", "30", "--no-progress", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.reader((copy / "loss.csv").open()))[1:]
    assert [int(r[0]) for r in rows] == list(range(1, 31))
    assert json.loads((copy / "config.json").read_text())["step"] == 30


@pytest.mark.slow
def test_user_csv_with_original_scale(tmp_path):
    t = np.arange(80)
    series = np.stack([10 + 5 * np.sin(0.3 * t), 100 + 20 * np.cos(0.2 * t)], axis=1)
    lines = ["date,a,b"] + [f"2020-01-{i % 28 + 1:02d},{a},{b}" for i, (a, b) in enumerate(series)]
    (tmp_path / "s.csv").write_text("\n".join(lines) + "\n")
    proc = _run("fit", "--data", "s.csv", "--window", "6", "--steps", "3", "--out", "r", *TINY, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    proc = _run("sample", "r", "--num", "8", "--out", "f.npy", "--steps", "1", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    fake, scaled = np.load(tmp_path / "f.npy"), np.load(tmp_path / "f_scaled.npy")
    assert fake.shape == (8, 6, 2)
    lo, hi = series.min(0), series.max(0)
    np.testing.assert_allclose(fake, lo + scaled * (hi - lo + 1e-7), rtol=1e-4, atol=1e-3)


@pytest.mark.slow
def test_skip_target_and_local_flags_are_recorded_and_the_window_skip_fixes_the_sample_length(tmp_path):
    t = np.arange(60)
    series = np.stack([np.sin(0.3 * t), np.cos(0.2 * t)], axis=1)
    np.save(tmp_path / "s.npy", series)
    proc = _run("fit", "--data", "s.npy", "--window", "6", "--steps", "3", "--skip", "window",
                "--target", "conditional", "--local-context", "1", "--out", "r", *TINY, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    config = json.loads((tmp_path / "r" / "config.json").read_text())
    assert config["model"]["field"]["skip"] == "window" and config["train"]["target"] == "conditional"
    assert config["model"]["field"]["local_context"] == 1
    proc = _run("sample", "r", "--num", "4", "--out", "f.npy", "--steps", "1", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert np.load(tmp_path / "f.npy").shape == (4, 6, 2)
    proc = _run("sample", "r", "--num", "4", "--out", "g.npy", "--seq-len", "9", cwd=tmp_path)
    assert proc.returncode != 0
    assert "seq_len" in proc.stderr and "6 steps" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_a_channel_skip_model_samples_other_lengths(tmp_path):
    np.save(tmp_path / "s.npy", np.sin(0.3 * np.arange(60))[:, None])
    proc = _run("fit", "--data", "s.npy", "--window", "6", "--steps", "2", "--potential", "chain", "--skip", "channel",
                "--out", "r", *TINY, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    proc = _run("sample", "r", "--num", "3", "--out", "g.npy", "--seq-len", "9", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert np.load(tmp_path / "g.npy").shape == (3, 9, 1)


@pytest.mark.slow
@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_a_stop_signal_saves_a_checkpoint_and_resume_matches_an_uninterrupted_run(tmp_path, signame):
    import signal
    import time

    steps = ["--steps", "60", "--checkpoint-every", "1000", *TINY]
    full = _run("fit", "--dataset", "sines", "--out", "full", *steps, cwd=tmp_path)
    assert full.returncode == 0, full.stderr
    env = {**os.environ, "OMP_NUM_THREADS": "1", "KERNELOPS_LOAD_PLUGINS": ""}
    proc = subprocess.Popen([sys.executable, "-m", "kernelops.cli.main", "fit", "--dataset", "sines", "--out", "cut", *steps],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log = tmp_path / "cut" / "loss.csv"
    deadline = time.time() + 120
    while time.time() < deadline and not (log.exists() and len(log.read_text().splitlines()) > 6):
        time.sleep(0.05)
    proc.send_signal(getattr(signal, signame))
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert f"stopped by {signame}" in err and "checkpoint saved" in err and (tmp_path / "cut" / "checkpoint.pt").exists()
    stopped = json.loads((tmp_path / "cut" / "config.json").read_text())["step"]
    assert 5 <= stopped < 60
    resumed = _run("fit", "--resume", "cut", "--no-progress", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert (tmp_path / "cut" / "loss.csv").read_text() == (tmp_path / "full" / "loss.csv").read_text()


def test_unknown_path_fails_with_one_line_in_a_subprocess(tmp_path):
    proc = _run("fit", "--path", "nope", "--steps", "1", cwd=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kernelops fit: error: unknown path 'nope'"), proc.stderr
    assert all(name in lines[0] for name in ("ot", "vp", "ve"))


@pytest.mark.parametrize("args, words", [
    (["fit", "--steps", "-5"], ["--steps", "-5"]),
    (["fit", "--batch-size", "0"], ["--batch-size"]),
    (["fit", "--dataset", "sines", "--data", "x.csv"], ["--dataset", "--data"]),
    (["fit", "--resume", "no_such_run"], ["no_such_run"]),
    (["sample", "no_such_run", "--num", "4"], ["no_such_run"]),
    (["sample", ".", "--num", "0"], ["--num"]),
    (["sample", ".", "--num", "2"], ["no checkpoint.pt"]),
])
def test_bad_arguments_fail_with_one_line(tmp_path, monkeypatch, capsys, args, words):
    from kernelops.cli.main import main

    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"kernelops {args[0]}: error:")
    for word in words:
        assert word in lines[0]


def test_stability_weight_reaches_the_objective_and_is_refused_for_the_window_potential(tmp_path, monkeypatch, capsys):
    from kernelops.cli.main import main

    monkeypatch.chdir(tmp_path)
    np.save(tmp_path / "s.npy", np.sin(0.3 * np.arange(60))[:, None])
    fit = ["fit", "--data", "s.npy", "--window", "6", "--steps", "2", "--no-progress", "--depth", "1", "--width", "4",
           "--batch-size", "4", "--sample-steps", "1"]
    assert main([*fit, "--potential", "window", "--stability-weight", "1", "--out", "w"]) == 2
    assert "stability_weight" in capsys.readouterr().err
    assert main([*fit, "--potential", "chain", "--stability-weight", "-1", "--out", "n"]) == 2
    assert "--stability-weight" in capsys.readouterr().err
    assert main([*fit, "--potential", "chain", "--stability-weight", "0.5", "--out", "c"]) == 0
    state = torch.load(tmp_path / "c" / "checkpoint.pt", weights_only=True)
    assert state["train_config"]["stability_weight"] == 0.5
