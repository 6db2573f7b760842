"""The chronological held-out split: no time step shared, counts recorded, every built-in loader in time order."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kernelops.data import Pendulum, Sines, hold_out, load_user_windows
from kernelops.data.holdout import check_fraction, training_part
from kernelops.errors import DataError


def _time_index_file(tmp_path, steps: int = 103):
    """A user series whose first channel is the time index and second a sine (two features to scale)."""
    t = np.arange(steps, dtype=np.float64)
    path = tmp_path / "t.npy"
    np.save(path, np.stack([t, np.sin(0.3 * t)], axis=1))
    return path


def _steps(ds) -> np.ndarray:
    """The time index of every value of every window (the first channel, back in raw units)."""
    return np.rint(ds.raw_windows()[..., 0]).astype(int)


@pytest.mark.parametrize("window, stride", [(5, 1), (5, 2), (6, 4), (4, 7)])
def test_no_training_window_shares_a_time_step_with_a_held_out_one(tmp_path, window, stride):
    ds = load_user_windows(_time_index_file(tmp_path), window=window, stride=stride)
    np.testing.assert_array_equal(_steps(ds)[:, 0], stride * np.arange(ds.num_windows))  # the loader's time order
    train, held, record = hold_out(ds, 0.2)
    assert _steps(train).max() < _steps(held).min()
    assert record == {"fraction": 0.2, "windows": math.ceil(0.2 * ds.num_windows), "train_windows": train.num_windows,
                      "gap": window - 1}
    assert record["train_windows"] + record["gap"] + record["windows"] == ds.num_windows
    np.testing.assert_array_equal(held.windows, ds.windows[-record["windows"]:])  # the last windows, in order
    np.testing.assert_array_equal(train.windows, ds.windows[:record["train_windows"]])
    if stride == 1:  # the fewest windows dropped: training ends the step before the held-out part starts
        assert _steps(train).max() == _steps(held).min() - 1
    assert train.scaler is ds.scaler and held.scaler is ds.scaler  # one scale, fit on the whole series
    assert held.windows.min() >= 0.0 and held.windows.max() <= 1.0


def test_pre_windowed_files_keep_their_order(tmp_path):
    """A 3-d file is used in the order written: the held-out part is its last windows."""
    windows = np.arange(40, dtype=np.float64)[:, None, None] + np.zeros((40, 3, 1))
    windows[:, :, 0] += np.arange(3)  # window i holds i, i+1, i+2
    np.save(tmp_path / "w.npy", windows)
    ds = load_user_windows(tmp_path / "w.npy")
    train, held, record = hold_out(ds, 0.25)
    np.testing.assert_array_equal(_steps(held)[:, 0], np.arange(30, 40))
    np.testing.assert_array_equal(_steps(train)[:, 0], np.arange(0, 28))
    assert _steps(train).max() < _steps(held).min() and record["gap"] == 2


@pytest.mark.parametrize("factory", [lambda: Sines(num=100, seq_len=8, features=2),
                                     lambda: Pendulum(num=100, seq_len=8)])
def test_generated_datasets_hold_out_their_last_draws(factory):
    """Sines and pendulum windows are independent draws: the held-out part is the last fraction of them."""
    ds = factory()
    train, held, record = hold_out(ds, 0.2)
    np.testing.assert_array_equal(held.windows, ds.windows[80:])
    np.testing.assert_array_equal(train.windows, ds.windows[:80 - 7])
    assert record == {"fraction": 0.2, "windows": 20, "train_windows": 73, "gap": 7}


def test_training_part_rebuilds_the_split_and_refuses_changed_data(tmp_path):
    ds = load_user_windows(_time_index_file(tmp_path), window=5)
    train, _, record = hold_out(ds, 0.3)
    np.testing.assert_array_equal(training_part(ds, record).windows, train.windows)
    shorter = load_user_windows(_time_index_file(tmp_path, steps=90), window=5)
    with pytest.raises(DataError, match=r"the run: its held-out split of 0.3 gave 65 training .* now give"):
        training_part(shorter, record)
    with pytest.raises(DataError, match="malformed"):
        training_part(ds, {"windows": 3})


@pytest.mark.parametrize("bad", [0, 1, 1.5, -0.2, float("nan"), True, "0.2"])
def test_fraction_must_lie_strictly_between_0_and_1(bad):
    with pytest.raises(ValueError, match=r"--hold-out: expected .* strictly between 0 and 1"):
        check_fraction(bad)


def test_too_few_windows_for_a_training_part(tmp_path):
    ds = load_user_windows(_time_index_file(tmp_path, steps=12), window=5)  # 8 windows
    with pytest.raises(DataError, match=r"--hold-out 0.5: 8 windows of 5 steps leave fewer than 2 for training"):
        hold_out(ds, 0.5)
