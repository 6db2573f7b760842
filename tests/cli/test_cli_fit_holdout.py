"""`kernelops fit --hold-out F`: trains on the first windows, writes the last F, resume keeps the split."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from kernelops.cli.evaluate import real_from_run
from kernelops.cli.main import main
from kernelops.flows import SpectralMeanFlow

STEPS = 103  # the series' length: 99 windows of 5
FIT = ["fit", "--data", "t.npy", "--window", "5", "--no-progress", "--depth", "1", "--width", "4",
       "--batch-size", "4", "--sample-steps", "1"]


@pytest.fixture
def trained(tmp_path, monkeypatch) -> list[np.ndarray]:
    """Work in tmp_path with t.npy (channel 0 is 10 + the time index); returns what each fit trained on."""
    monkeypatch.chdir(tmp_path)
    t = np.arange(STEPS, dtype=np.float64)
    np.save(tmp_path / "t.npy", np.stack([10.0 + t, np.sin(0.3 * t)], axis=1))
    seen: list[np.ndarray] = []
    original = SpectralMeanFlow.fit

    def recording_fit(self, data, *args, **kwargs):
        seen.append(np.asarray(data).copy())
        return original(self, data, *args, **kwargs)

    monkeypatch.setattr(SpectralMeanFlow, "fit", recording_fit)
    return seen


def _steps(scaled: np.ndarray) -> np.ndarray:
    """The time index of scaled windows of t.npy (channel 0 spans 10 … 10 + STEPS − 1)."""
    return np.rint(scaled[..., 0].astype(np.float64) * (STEPS - 1)).astype(int)


def test_hold_out_trains_on_the_first_windows_and_writes_the_last(trained, tmp_path, capsys):
    assert main([*FIT, "--steps", "2", "--hold-out", "0.25", "--out", "run"]) == 0
    assert "held_out_scaled.npy (25 windows" in capsys.readouterr().out
    run = tmp_path / "run"
    config = json.loads((run / "config.json").read_text())
    held = np.load(run / "held_out_scaled.npy")
    n_held = math.ceil(0.25 * 99)
    assert config["held_out"] == {"fraction": 0.25, "windows": n_held, "train_windows": 99 - n_held - 4, "gap": 4}
    assert held.shape == (n_held, 5, 2) and held.dtype == np.float32
    # on the run's [0, 1] scale (the scaler of config.json maps it back to the raw series) ...
    scaler = config["scaler"]
    raw = held * np.asarray(scaler["scale"]) + np.asarray(scaler["min"])
    starts = np.arange(99 - n_held, 99)
    np.testing.assert_allclose(raw[:, :, 0], 10.0 + starts[:, None] + np.arange(5)[None, :], atol=1e-4)
    # ... the last n_held windows of the series, and training saw only windows ending before them
    np.testing.assert_array_equal(_steps(held)[:, 0], starts)
    (data,) = trained
    assert len(data) == config["held_out"]["train_windows"]
    assert _steps(data).max() == _steps(held).min() - 1
    # kernelops evaluate RUN scores against the training part, not every window
    real, desc, _ = real_from_run(run)
    np.testing.assert_array_equal(real, data)
    assert "[train split]" in desc
    assert SpectralMeanFlow.load(run / "checkpoint.pt").extra["held_out"] == config["held_out"]


def test_resume_keeps_the_split_and_refuses_a_changed_one(trained, tmp_path, capsys):
    assert main([*FIT, "--steps", "2", "--hold-out", "0.2", "--out", "run"]) == 0
    assert main([*FIT, "--steps", "2", "--out", "plain"]) == 0
    capsys.readouterr()
    assert main(["fit", "--resume", "run", "--hold-out", "0.3", "--steps", "3", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "--hold-out 0.3: run was trained with --hold-out 0.2; a run keeps its split" in err
    assert main(["fit", "--resume", "plain", "--hold-out", "0.2", "--steps", "3", "--no-progress"]) == 2
    assert "plain was trained on every window (no --hold-out)" in capsys.readouterr().err
    assert json.loads((tmp_path / "run" / "config.json").read_text())["step"] == 2  # refused before training
    # the same fraction, or none, resumes on the training part
    (tmp_path / "run" / "held_out_scaled.npy").unlink()  # rewritten from the data on resume
    assert main(["fit", "--resume", "run", "--hold-out", "0.2", "--steps", "3", "--no-progress"]) == 0
    assert main(["fit", "--resume", "run", "--steps", "4", "--no-progress"]) == 0
    first, _, resumed, again = trained
    np.testing.assert_array_equal(resumed, first)
    np.testing.assert_array_equal(again, first)
    assert np.load(tmp_path / "run" / "held_out_scaled.npy").shape == (20, 5, 2)
    assert json.loads((tmp_path / "run" / "config.json").read_text())["held_out"]["fraction"] == 0.2


def test_resume_refuses_data_that_no_longer_give_the_split(trained, tmp_path, capsys):
    assert main([*FIT, "--steps", "2", "--hold-out", "0.2", "--out", "run"]) == 0
    series = np.load(tmp_path / "t.npy")
    np.save(tmp_path / "t.npy", series[:90])
    capsys.readouterr()
    assert main(["fit", "--resume", "run", "--steps", "3", "--no-progress"]) == 2
    assert "differ from those it was trained on" in capsys.readouterr().err


def test_without_hold_out_a_run_trains_on_every_window_and_records_no_split(trained, tmp_path):
    assert main([*FIT, "--steps", "2", "--out", "run"]) == 0
    run = tmp_path / "run"
    config = json.loads((run / "config.json").read_text())
    assert "held_out" not in config and not (run / "held_out_scaled.npy").exists()
    assert "held_out" not in torch.load(run / "checkpoint.pt", weights_only=True)["extra"]
    (data,) = trained
    np.testing.assert_array_equal(_steps(data)[:, 0], np.arange(99))
    np.testing.assert_array_equal(real_from_run(run)[0], data)


@pytest.mark.parametrize("value", ["0", "1", "-0.1", "nan"])
def test_hold_out_outside_0_1_is_one_line(trained, tmp_path, capsys, value):
    assert main([*FIT, "--steps", "1", "--hold-out", value, "--out", "run"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kernelops fit: error: --hold-out: expected"), lines
    assert not (tmp_path / "run").exists()
