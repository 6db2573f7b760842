"""The non-Gaussian family follows its stated laws; seeding, shapes, registration and bad arguments."""

from __future__ import annotations

import numpy as np
import pytest

import kernelops as ko
from kernelops.data import nongaussian as ng


def _binomial_ok(hits: float, trials: int, p: float, z: float = 5.0) -> bool:
    """Whether a count of hits is within z standard errors of a Binomial(trials, p) mean."""
    return abs(hits - trials * p) <= z * np.sqrt(trials * p * (1 - p)) + 1e-9


@pytest.mark.parametrize("member", ng.MEMBERS)
def test_registered_like_sines_seeded_shaped_and_in_unit_range(member):
    ds = ko.dataset(member, num=60, seq_len=12, features=3, seed=5)
    assert ds.name == member and ds.windows.shape == (60, 12, 3) and ds.windows.dtype == np.float32
    assert ds.windows.min() >= 0.0 and ds.windows.max() <= 1.0
    again = ko.dataset(member, num=60, seq_len=12, features=3, seed=5)
    np.testing.assert_array_equal(ds.windows, again.windows)
    assert not np.array_equal(ds.windows, ko.dataset(member, num=60, seq_len=12, features=3, seed=6).windows)
    assert "seed=5" in ds.source and member in ko.list_plugins("datasets")["datasets"]
    np.testing.assert_array_equal(ng.draw(member, 60, 5, seq_len=12, features=3), ds.windows)


def test_oscillations_have_exactly_the_fixed_amplitude_and_their_frequency_band():
    x = ng.make_oscillations(num=400, seq_len=24, features=3, seed=1)
    freq, phase = ng.oscillation_parameters(num=400, features=3, seed=1)
    # a sampled sinusoid y_n = A sin(ωn + φ) obeys y_n² − y_{n−1} y_{n+1} = A² sin²ω at every n:
    # with the drawn ω this gives A exactly, a drifting amplitude would make it vary along n
    y = x - 0.5
    inv = y[:, 1:-1] ** 2 - y[:, :-2] * y[:, 2:]
    amp = np.sqrt(inv / np.sin(2 * np.pi * freq[:, None, :]) ** 2)
    np.testing.assert_allclose(amp, 0.5, atol=1e-9)
    assert freq.min() >= 0.125 and freq.max() <= 0.25 and phase.min() >= 0 and phase.max() < 2 * np.pi
    # several periods per window: 24 steps at 1/8 to 1/4 cycles per step is 3 to 6 periods
    assert (24 * freq).min() >= 3 and (24 * freq).max() <= 6
    # values are spread over [0, 1], not concentrated around ½ as a Gaussian would put them
    assert x.min() < 0.01 and x.max() > 0.99


def test_regimes_switch_at_the_stated_rate_between_the_two_levels():
    num, seq_len, d, p = 2000, 24, 2, 0.1
    x = ng.make_regimes(num=num, seq_len=seq_len, features=d, switch_prob=p, seed=2)
    s = ng.regime_states(num=num, seq_len=seq_len, features=d, switch_prob=p, seed=2)
    # the level of each value is the state's, the rest is the bounded noise
    resid = x - np.where(s == 1, 0.75, 0.25)
    assert np.abs(resid).max() <= 0.1 and abs(resid.mean()) < 0.005 and abs(resid.std() - 0.1 / np.sqrt(3)) < 0.002
    # thresholding at ½ recovers the states (the levels are 0.5 apart, the noise at most 0.1)
    np.testing.assert_array_equal((x > 0.5).astype(np.int8), s)
    switches = int((np.diff(s, axis=1) != 0).sum())
    assert _binomial_ok(switches, num * (seq_len - 1) * d, p)
    assert _binomial_ok(int(s[:, 0].sum()), num * d, 0.5)


def test_spikes_are_isolated_jumps_at_the_stated_rate_on_the_sinusoidal_background():
    num, seq_len, d, p = 1500, 24, 2, 0.05
    x = ng.make_spikes(num=num, seq_len=seq_len, features=d, spike_prob=p, seed=3)
    background, jumps = ng.spike_parameters(num=num, seq_len=seq_len, features=d, spike_prob=p, seed=3)
    np.testing.assert_array_equal(x, background + jumps)
    hit = jumps > 0
    assert _binomial_ok(int(hit.sum()), num * seq_len * d, p)
    assert jumps[hit].min() >= 0.15 and jumps[hit].max() <= 0.25
    # the background is a slow sinusoid: its second difference is tiny next to a jump
    assert np.abs(np.diff(background, 2, axis=1)).max() < 0.25 * 0.1**2 + 1e-12
    assert background.min() >= 0.25 and background.max() <= 0.75


def test_counts_are_clipped_integers_with_the_poisson_mean_and_variance():
    num, seq_len, d = 1500, 24, 2
    c = ng.make_counts(num=num, seq_len=seq_len, features=d, rate_max=6.0, cap=10, seed=4)
    rates = ng.count_rates(num=num, seq_len=seq_len, features=d, rate_max=6.0, seed=4)
    assert np.issubdtype(c.dtype, np.integer) and c.min() >= 0 and c.max() == 10
    # Poisson: E[c − λ] = 0 and E[(c − λ)² − λ] = 0 (clipping at 10 changes the mean of a rate-6
    # count by under 0.01 and is left out by keeping the values with rate ≤ 3)
    low = rates <= 3
    resid = c[low] - rates[low]
    assert abs(resid.mean()) < 5 * np.sqrt(rates[low].mean() / low.sum())
    assert abs((resid**2 - rates[low]).mean()) < 0.05 * rates[low].mean()
    ds = ng.Counts(num=50, seq_len=seq_len, features=d, seed=4)
    np.testing.assert_allclose(ds.raw_windows(), ng.make_counts(50, seq_len, d, seed=4), atol=1e-5)
    np.testing.assert_allclose(ds.windows * 10, np.round(ds.windows * 10), atol=1e-5)  # a grid of 11 values


def test_mixture_is_two_separated_shapes_with_the_stated_weight():
    num, seq_len, d, w = 3000, 24, 3, 0.3
    x = ng.make_mixture(num=num, seq_len=seq_len, features=d, weight=w, seed=5)
    labels = ng.mixture_labels(num=num, weight=w, seed=5)
    assert _binomial_ok(int(labels.sum()), num, w)
    shapes = ng.mixture_shapes(seq_len)
    resid = x - shapes[labels][:, :, None]
    assert np.abs(resid).max() <= 0.15
    # the shift is constant along a window, the noise is what varies
    noise = resid - resid.mean(1, keepdims=True)
    assert np.abs(noise).max() <= 0.1 and abs(noise.std() - 0.05 / np.sqrt(3)) < 0.002
    # the nearest shape is the drawn one for every window: the two modes are well separated
    dist = ((x.mean(2)[:, None, :] - shapes[None]) ** 2).sum(-1)
    np.testing.assert_array_equal(dist.argmin(1), labels)
    assert 0.05 <= x.min() and x.max() <= 0.95


@pytest.mark.parametrize(("call", "message"), [
    (lambda: ng.make_oscillations(num=0), "num: expected a positive integer, got 0"),
    (lambda: ng.make_oscillations(seq_len=2.5), "seq_len: expected a positive integer"),
    (lambda: ng.make_oscillations(f_low=0.3, f_high=0.2), "f_high: expected at least f_low=0.3"),
    (lambda: ng.make_oscillations(f_high=0.7), r"f_high: expected a number in \[0, 0.5\]"),
    (lambda: ng.make_regimes(switch_prob=1.5), r"switch_prob: expected a number in \[0, 1\]"),
    (lambda: ng.make_regimes(levels=(0.05, 0.75)), r"levels: expected a number in \[0.1, 0.9\]"),
    (lambda: ng.make_regimes(levels=(0.5,)), "levels: expected two numbers"),
    (lambda: ng.make_spikes(spike_prob=-0.1), "spike_prob: expected a number"),
    (lambda: ng.make_counts(cap=0), "cap: expected a positive integer"),
    (lambda: ng.make_counts(rate_max=float("nan")), "rate_max: expected a number"),
    (lambda: ng.make_mixture(weight=True), "weight: expected a number"),
    (lambda: ng.draw("gaussian", 10, 0), "member: expected one of"),
])
def test_bad_arguments_are_refused_with_a_message_naming_them(call, message):
    with pytest.raises(ValueError, match=message):
        call()
