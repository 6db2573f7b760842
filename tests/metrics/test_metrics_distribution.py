"""kernelops.metrics.distribution: marginal W1, spectral distance, range share and the copy test on
sets with known answers (shifts, pure sines, exact counts, copies and independent draws)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kernelops.errors import ShapeError
from kernelops.metrics import (
    copy_test,
    distribution_scores,
    marginal_wasserstein,
    spectral_distance,
    value_range_share,
)
from kernelops.metrics.distribution import mean_power_spectrum, nearest_distances, within_training_distances


def _sines(n: int, seq_len: int, features: int, seed: int) -> np.ndarray:
    """Random-phase, random-frequency sines in [0, 1], an independent draw per seed."""
    gen = np.random.default_rng(seed)
    t = np.arange(seq_len)[None, :, None]
    freq = gen.uniform(0.1, 0.4, (n, 1, features))
    phase = gen.uniform(0, 2 * np.pi, (n, 1, features))
    return 0.5 + 0.4 * np.sin(freq * t + phase)


# -- marginal Wasserstein -------------------------------------------------------------------------
def test_marginal_wasserstein_of_a_shift_is_the_shift_and_zero_for_identical_sets():
    real = _sines(30, 16, 3, seed=0)
    same = marginal_wasserstein(real, torch.from_numpy(real.copy()))
    assert same["per_channel"] == [0.0, 0.0, 0.0] and same["mean"] == 0.0
    shifted = real + np.array([0.1, -0.25, 0.0])  # one shift per channel
    got = marginal_wasserstein(real, shifted)
    np.testing.assert_allclose(got["per_channel"], [0.1, 0.25, 0.0], atol=1e-12)
    assert got["mean"] == pytest.approx(0.35 / 3)


def test_marginal_wasserstein_with_unequal_counts_matches_scipy_and_a_hand_case():
    from scipy.stats import wasserstein_distance

    gen = np.random.default_rng(1)
    real = gen.uniform(0, 1, (7, 5, 2))
    fake = gen.beta(2, 5, (13, 5, 2))  # 65 values per channel against 35
    got = marginal_wasserstein(real, fake)["per_channel"]
    for k in range(2):
        assert got[k] == pytest.approx(wasserstein_distance(real[..., k].ravel(), fake[..., k].ravel()), rel=1e-12)
    # by hand: {0, 1} against {0, 0, 1}: the CDFs differ by 2/3 − 1/2 = 1/6 on [0, 1)
    a = np.array([0.0, 1.0]).reshape(1, 2, 1)
    b = np.array([0.0, 0.0, 1.0]).reshape(1, 3, 1)
    with pytest.raises(ShapeError, match="fake"):  # seq_len must agree...
        marginal_wasserstein(a, b)
    # ...so put the values in windows of one step
    assert marginal_wasserstein(a.reshape(2, 1, 1), b.reshape(3, 1, 1))["mean"] == pytest.approx(1 / 6)


# -- spectral distance ----------------------------------------------------------------------------
def _pure_sine(cycles: int, seq_len: int = 32, n: int = 4, amplitude: float = 0.4) -> np.ndarray:
    """Sines with a whole number of cycles per window: all their power in one rfft bin."""
    t = np.arange(seq_len)
    phases = np.linspace(0, 2, n)[:, None]
    return (0.5 + amplitude * np.sin(2 * np.pi * cycles * t / seq_len + phases))[..., None]


def test_spectral_distance_is_zero_for_identical_sets_and_one_for_sines_at_different_frequencies():
    real = _sines(20, 24, 2, seed=3)
    assert spectral_distance(real, real.copy())["per_channel"] == pytest.approx([0.0, 0.0], abs=1e-15)
    got = spectral_distance(_pure_sine(3), _pure_sine(5))
    assert got["per_channel"] == pytest.approx([1.0], abs=1e-12)  # disjoint spectra: the maximum
    assert spectral_distance(_pure_sine(3), _pure_sine(3, n=7))["mean"] == pytest.approx(0.0, abs=1e-12)
    # half of the power moved from bin 3 to bin 5: TV = 1/2
    mixed = np.concatenate([_pure_sine(3), _pure_sine(5)])
    assert spectral_distance(_pure_sine(3), mixed)["mean"] == pytest.approx(0.5, abs=1e-12)


def test_spectral_distance_ignores_amplitude_and_level():
    real = _sines(20, 24, 2, seed=4)
    scaled = 0.2 + 0.3 * (real - 0.5)  # amplitude × 0.3, level moved
    assert spectral_distance(real, scaled)["mean"] == pytest.approx(0.0, abs=1e-12)
    noisy = real + 0.05 * np.random.default_rng(0).standard_normal(real.shape)
    assert spectral_distance(real, noisy)["mean"] > 0.01  # white noise adds power at every frequency


def test_spectral_distance_of_constant_channels_and_the_power_spectrum():
    flat = np.full((3, 8, 1), 0.5)
    assert spectral_distance(flat, flat + 0.1)["mean"] == 0.0  # no power on either side
    assert spectral_distance(flat, _pure_sine(1, seq_len=8))["mean"] == 1.0
    power = mean_power_spectrum(_pure_sine(2, seq_len=8, n=1, amplitude=1.0))
    # A sin: |rfft|² = (A T / 2)² at its bin; bins 1..4 remain after dropping frequency 0
    np.testing.assert_allclose(power[:, 0].numpy(), [0.0, 16.0, 0.0, 0.0], atol=1e-12)
    with pytest.raises(ShapeError, match="windows"):
        mean_power_spectrum(np.zeros((2, 1, 1)))


# -- value range ----------------------------------------------------------------------------------
def test_value_range_share_counts_values_per_channel():
    real = np.zeros((2, 5, 2))
    # values exact in float32 too, so the float32 copy below has the same counts
    real[0, :, 0] = np.linspace(0.25, 0.75, 5)  # channel 0 spans [0, 0.75] (with the zeros of window 1)
    real[:, :, 1] = 0.5  # channel 1 is the single value 0.5
    fake = np.full((4, 5, 2), 0.5)
    fake[0, 0, 0] = 0.75  # on the boundary: inside
    fake[0, 1, 0] = 0.875  # above
    fake[1, 2, 0] = -0.125  # below
    fake[2, :, 1] = 0.6  # five values above channel 1's single value
    assert value_range_share(real, fake) == pytest.approx(7 / 40)
    assert value_range_share(real, real) == 0.0
    assert value_range_share(torch.from_numpy(real), torch.from_numpy(fake).float()) == pytest.approx(7 / 40)


def test_distribution_scores_bundle_the_three():
    real, fake = _sines(10, 12, 2, seed=5), _sines(8, 12, 2, seed=6)
    got = distribution_scores(real, fake)
    assert got["marginal_wasserstein"] == marginal_wasserstein(real, fake)
    assert got["spectral_distance"] == spectral_distance(real, fake)
    assert got["value_range_share"] == value_range_share(real, fake)


# -- copy test ------------------------------------------------------------------------------------
def test_copies_of_training_windows_have_ratio_zero_and_share_one():
    train, held = _sines(300, 24, 3, seed=7), _sines(100, 24, 3, seed=8)
    copies = train[np.random.default_rng(0).integers(0, 300, 120)]
    got = copy_test(train, copies, held, block_entries=1000)  # several blocks of 3 rows
    assert got["median_fake"] == 0.0 and got["ratio"] == 0.0 and got["share_below"] == 1.0
    assert got["windows"] == {"train": 300, "fake": 120, "held_out": 100}
    assert got["held_out_quantile"] > 0


def test_an_independent_draw_of_the_same_generator_has_ratio_near_one():
    train, held, fake = _sines(400, 16, 2, seed=9), _sines(300, 16, 2, seed=10), _sines(300, 16, 2, seed=11)
    got = copy_test(train, fake, held)
    assert got["ratio"] == pytest.approx(1.0, abs=0.1)
    assert got["share_below"] < 0.05
    # windows twice as far out as the data are farther from the training set than held-out ones
    assert copy_test(train, 0.5 + 2 * (fake - 0.5), held)["ratio"] > 1.5


def test_nearest_distances_match_a_dense_reference_in_blocks():
    gen = np.random.default_rng(2)
    q, ref = torch.from_numpy(gen.uniform(size=(37, 6, 2))), torch.from_numpy(gen.uniform(size=(23, 6, 2)))
    dense = (q.reshape(37, 1, -1) - ref.reshape(1, 23, -1)).norm(dim=2).min(dim=1).values
    for block in (1, 50, 10**6):
        np.testing.assert_allclose(nearest_distances(q, ref, block_entries=block).numpy(), dense.numpy(), rtol=1e-12)


def test_within_training_distances_leave_out_the_overlapping_band():
    gen = np.random.default_rng(4)
    train = torch.from_numpy(gen.uniform(size=(40, 5, 2)))
    flat = train.reshape(40, -1)
    dense = torch.cdist(flat, flat)
    band = (torch.arange(40)[:, None] - torch.arange(40)[None, :]).abs() <= 3
    expected = dense.masked_fill(band, float("inf")).min(dim=1).values
    for block in (1, 70, 10**6):  # one row, a few rows and every row per block
        got = within_training_distances(train, 3, 40, block_entries=block)
        np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-12)
    # fewer queries: evenly spaced windows, first and last included
    np.testing.assert_allclose(within_training_distances(train, 3, 4).numpy(), expected[[0, 13, 26, 39]].numpy(),
                               rtol=1e-12)
    # gap 0 leaves out only the window itself: a duplicated window is at distance 0
    twice = torch.cat([train[:1], train])
    assert within_training_distances(twice, 0, 41)[0] == 0.0


def _drifting_windows(seed: int, steps: int = 3000, seq_len: int = 12) -> np.ndarray:
    """Sliding windows of a linear trend plus AR(1) noise: a series whose level drifts."""
    gen = np.random.default_rng(seed)
    noise = np.zeros((steps, 2))
    for t in range(1, steps):
        noise[t] = 0.9 * noise[t - 1] + 0.05 * gen.standard_normal(2)
    x = 0.001 * np.arange(steps)[:, None] + noise
    return np.stack([x[i:i + seq_len] for i in range(steps - seq_len + 1)])


def test_within_reference_tells_new_windows_from_copies_where_drift_fools_the_held_out_one():
    series, other = _drifting_windows(0), _drifting_windows(100)
    train, held = series[:2000], series[-500:]
    # new windows of the training period: a second realisation of the same process over it
    fresh = other[:2000][np.random.default_rng(0).choice(2000, 500, replace=False)]
    got = copy_test(train, fresh, held, gap=11)
    assert got["ratio"] < 0.2 and got["share_below"] > 0.9  # drift: the held-out reference calls them copies
    assert got["within"]["ratio"] == pytest.approx(1.0, abs=0.1) and got["within"]["share_below"] < 0.05
    assert got["within"]["gap"] == 11 and got["within"]["windows"] == 500
    copies = copy_test(train, train[::4], gap=11)  # no held-out set needed
    assert copies["within"]["ratio"] == 0.0 and copies["within"]["share_below"] == 1.0
    assert "ratio" not in copies and copies["windows"] == {"train": 2000, "fake": 500}


def test_inputs_are_checked_naming_the_argument():
    w = np.zeros((4, 8, 2))
    with pytest.raises(ShapeError, match="held_out"):
        copy_test(w, w, np.zeros((4, 8, 3)))
    with pytest.raises(ShapeError, match="fake"):
        copy_test(w, np.zeros((4, 6, 2)), w)
    with pytest.raises(ShapeError, match="real"):
        value_range_share(np.zeros((4, 8)), w)
    with pytest.raises(ShapeError, match="fake"):
        marginal_wasserstein(w, np.full((4, 8, 2), np.nan))
    with pytest.raises(ValueError, match="block_entries"):
        copy_test(w, w, w, block_entries=0)
    with pytest.raises(ValueError, match="held-out windows, a gap"):
        copy_test(w, w)
    with pytest.raises(ValueError, match="gap: expected a non-negative integer"):
        copy_test(w, w, gap=-1)
    with pytest.raises(ValueError, match="4 training windows leave none"):
        copy_test(w, w, gap=2)
