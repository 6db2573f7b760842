"""make_sines follows its definition exactly; WindowDataset sizes, raw view and splits."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import least_squares

from kernelops.data import MinMaxScaler, Sines, WindowDataset, make_sines, sliding_windows
from kernelops.errors import DataError, ShapeError


def test_make_sines_shape_dtype_range_and_determinism():
    x = make_sines(num=300, seq_len=24, features=5, seed=3)
    assert x.shape == (300, 24, 5) and x.dtype == np.float32
    # f t + phi lies in [0, 2.4] within [0, pi], so sin >= 0 and values are in [0.5, 1]
    assert x.min() >= 0.5 and x.max() <= 1.0
    np.testing.assert_array_equal(x, make_sines(num=300, seq_len=24, features=5, seed=3))
    assert not np.array_equal(x, make_sines(num=300, seq_len=24, features=5, seed=4))


def test_every_channel_obeys_the_sine_recurrence():
    # s_t = sin(f t + phi) satisfies s_{t+1} + s_{t-1} = 2 cos(f) s_t, i.e. with x = (s + 1) / 2
    # x_{t+1} + x_{t-1} - 1 = 2 cos(f) (x_t - 1/2), one constant c = cos f per channel
    x = make_sines(num=200, seq_len=24, features=5, seed=0).astype(np.float64)
    s = 2 * x - 1
    lhs, mid = s[:, 2:] + s[:, :-2], s[:, 1:-1]
    c = (lhs * mid).sum(1) / (2 * (mid * mid).sum(1))  # least-squares cos f per (sequence, channel)
    resid = np.abs(lhs - 2 * c[:, None] * mid).max()
    assert resid < 1e-5  # float32 storage noise only
    assert c.min() >= np.cos(0.1) - 1e-4 and c.max() <= 1 + 1e-6
    # a wrong generator (e.g. a frequency drawn per step) would break the recurrence
    noisy = s + 1e-3 * np.random.default_rng(0).normal(size=s.shape)
    lhs_n, mid_n = noisy[:, 2:] + noisy[:, :-2], noisy[:, 1:-1]
    c_n = (lhs_n * mid_n).sum(1) / (2 * (mid_n * mid_n).sum(1))
    assert np.abs(lhs_n - 2 * c_n[:, None] * mid_n).max() > 1e-3


def test_each_channel_is_a_sine_with_f_and_phase_in_0_01():
    x = make_sines(num=30, seq_len=24, features=5, seed=1).astype(np.float64)
    t = np.arange(24.0)

    def jac(p):
        c = np.cos(p[0] * t + p[1]) / 2
        return np.stack([c * t, c], axis=1)

    freqs, phases = [], []
    for seq in x:
        for ch in seq.T:
            phi0 = np.arcsin(np.clip(2 * ch[0] - 1, -1, 1))
            fit = least_squares(lambda p: (np.sin(p[0] * t + p[1]) + 1) / 2 - ch, x0=[0.05, phi0], jac=jac,
                                bounds=([-0.05, -0.05], [0.2, 0.2]), xtol=1e-14, ftol=1e-14, gtol=1e-14)
            assert np.abs(fit.fun).max() < 2e-7  # exact up to float32 rounding
            freqs.append(fit.x[0])
            phases.append(fit.x[1])
    freqs, phases = np.array(freqs), np.array(phases)
    for v in (freqs, phases):
        assert v.min() > -1e-4 and v.max() < 0.1 + 1e-4
        # U[0, 0.1] over 150 draws: mean 0.05 (s.e. 0.0024), std 0.0289 (s.e. about 0.001)
        assert abs(v.mean() - 0.05) < 0.01
        assert abs(v.std() - 0.1 / np.sqrt(12)) < 0.006


def test_sines_dataset_uses_identity_scaler():
    ds = Sines(num=50, seq_len=24, features=5, seed=0)
    assert (ds.name, ds.num_windows, ds.seq_len, ds.num_features) == ("sines", 50, 24, 5)
    np.testing.assert_array_equal(ds.windows, make_sines(50, 24, 5, 0))
    np.testing.assert_array_equal(ds.raw_windows(), ds.windows.astype(np.float64))
    assert ds.describe()["shape"] == [50, 24, 5]


def _toy(num_steps=40, seq_len=5):
    series = np.stack([np.arange(num_steps, dtype=float), 10.0 * np.arange(num_steps)], axis=1)
    sc = MinMaxScaler().fit(series)
    windows = sliding_windows(sc.transform(series), seq_len)
    return WindowDataset("toy", windows, sc, ["a", "b"], "made in a test", series)


def test_raw_windows_undo_the_scaling():
    ds = _toy()
    assert ds.windows.dtype == np.float32
    np.testing.assert_allclose(ds.raw_windows()[7], ds.series[7:12], atol=1e-4)


def test_random_split_partitions_the_windows():
    ds = _toy()
    train, test = ds.split(0.25, seed=1)
    assert test.num_windows == int(np.ceil(36 * 0.25)) and train.num_windows + test.num_windows == 36
    starts = lambda d: set(np.rint(d.raw_windows()[:, 0, 0]).astype(int))  # noqa: E731
    assert starts(train).isdisjoint(starts(test)) and starts(train) | starts(test) == set(range(36))
    again, _ = ds.split(0.25, seed=1)
    np.testing.assert_array_equal(again.windows, train.windows)
    assert train.scaler is ds.scaler


def test_contiguous_split_leaves_a_gap_so_no_time_step_is_shared():
    ds = _toy(num_steps=40, seq_len=5)  # 36 windows
    train, test = ds.split(0.25, contiguous=True)
    test_starts = np.rint(test.raw_windows()[:, 0, 0]).astype(int)
    train_steps = set(np.rint(train.raw_windows()[..., 0]).astype(int).ravel())
    test_steps = set(np.rint(test.raw_windows()[..., 0]).astype(int).ravel())
    np.testing.assert_array_equal(test_starts, np.arange(27, 36))  # the last 9 windows in order
    assert train.num_windows == 27 - 4  # seq_len - 1 windows dropped before the test block
    assert train_steps.isdisjoint(test_steps)
    assert max(train_steps) == min(test_steps) - 1  # and no more: the train part ends the step before


def test_split_and_constructor_errors():
    ds = _toy(num_steps=8, seq_len=5)  # 4 windows
    with pytest.raises(ValueError, match=r"fraction: expected a number in \(0, 1\)"):
        ds.split(1.5)
    with pytest.raises(DataError, match="too few"):
        ds.split(0.5, contiguous=True)
    with pytest.raises(ShapeError, match="feature_names"):
        WindowDataset("x", np.zeros((2, 3, 2)), MinMaxScaler.identity(2), ["only_one"])
    with pytest.raises(ShapeError, match="windows"):
        WindowDataset("x", np.zeros((3, 2)), MinMaxScaler.identity(2))


def test_sines_parameters_are_the_frequencies_and_phases_of_the_windows():
    """Each channel is (sin(f·t + φ) + 1)/2 with the (f, φ) sines_parameters returns for the same seed."""
    from kernelops.data import sines_parameters

    x = make_sines(num=50, seq_len=24, features=3, seed=8)
    freq, phase = sines_parameters(num=50, features=3, seed=8)
    assert freq.shape == phase.shape == (50, 3) and 0 <= freq.min() and freq.max() <= 0.1
    t = np.arange(24)[None, :, None]
    np.testing.assert_allclose(x, (np.sin(freq[:, None] * t + phase[:, None]) + 1) / 2, atol=1e-6)
    # another seed draws other frequencies
    assert not np.allclose(freq, sines_parameters(num=50, features=3, seed=9)[0])
    with pytest.raises(ValueError, match="num: expected a positive integer"):
        sines_parameters(num=0)
