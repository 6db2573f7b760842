"""Synthetic windows far from Gaussian, with known laws (docs/datasets.md, "Data far from Gaussian").

Five generators, each registered as a built-in dataset. Every one draws ``num`` windows of
``seq_len`` steps and ``features`` channels; channels are independent and identically
distributed unless said otherwise, and every value lies in [0, 1] by construction, so the
datasets carry a fixed scaler (the identity, or division by the count cap) rather than one fitted
to the draw: two seeds give windows on the same scale. n = 0 … seq_len − 1 is the step.

* ``oscillations``: x_n = ½ + ½·sin(2π f n + φ), f ~ U[f_low, f_high] cycles per step and
  φ ~ U[0, 2π) per window and channel. The amplitude is exactly ½ in every window; with the
  default band [1/8, 1/4] a 24-step window holds 3 to 6 periods.
* ``regimes``: a two-state Markov chain s_n ∈ {0, 1} per window and channel, s_0 uniform (the
  stationary law), P(s_{n+1} ≠ s_n) = ``switch_prob``; x_n = levels[s_n] + u_n with
  u_n ~ U[−noise, noise] independent. Defaults: levels (0.25, 0.75), noise 0.1.
* ``spikes``: a slow background b_n = ½ + ¼·sin(f n + φ), f ~ U[0, 0.1] rad per step and
  φ ~ U[0, 2π), plus isolated one-step jumps: at each step, independently with probability
  ``spike_prob``, x_n = b_n + h_n with h_n ~ U[0.15, 0.25]; otherwise x_n = b_n.
* ``counts``: Poisson counts c_n ~ Poisson(λ_n) with a smooth rate
  λ_n = rate_max·(½ + ½·sin(f n + φ)), f ~ U[0, 0.3] rad per step, φ ~ U[0, 2π), clipped at
  ``cap``; the windows are c_n / cap (a grid of ``cap`` + 1 values), the scaler undoes the
  division, so ``raw_windows()`` are the integer counts.
* ``mixture``: each window is, with probability ``weight``, a rising ramp
  r_n = 0.2 + 0.6·n/(N − 1) and otherwise the falling ramp 1 − r_n, shared by all its channels;
  every channel adds its own level shift a ~ U[−0.1, 0.1] and noise u_n ~ U[−0.05, 0.05].
  The two shapes are far apart (their ends differ by 0.6, the noise is at most 0.15).

The ``*_parameters`` / ``*_states`` functions return the hidden variables a generator draws with
the same arguments (they share its random stream), so tests check the law, not just the shape.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from kernelops.data.base import WindowDataset
from kernelops.data.scaling import MinMaxScaler
from kernelops.utils.memory import check_allocation

#: the datasets this module registers, with their factories' names (kernelops.plugins.builtin)
MEMBERS = ("oscillations", "regimes", "spikes", "counts", "mixture")
SPIKE_HEIGHT = (0.15, 0.25)
MIXTURE_RAMP = (0.2, 0.8)
MIXTURE_SHIFT = 0.1
MIXTURE_NOISE = 0.05


# -- argument checks --------------------------------------------------------------------------------
def _count(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}: expected a positive integer, got {value!r}")
    return int(value)


def _number(value: Any, name: str, low: float, high: float, *, open_low: bool = False,
            open_high: bool = False) -> float:
    ok = isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool)
    ok = ok and math.isfinite(value) and (value > low if open_low else value >= low)
    ok = ok and (value < high if open_high else value <= high)
    if not ok:
        lo, hi = "(" if open_low else "[", ")" if open_high else "]"
        raise ValueError(f"{name}: expected a number in {lo}{low:g}, {high:g}{hi}, got {value!r}")
    return float(value)


def _sizes(num: Any, seq_len: Any, features: Any, member: str) -> tuple[int, int, int]:
    num, seq_len, features = _count(num, "num"), _count(seq_len, "seq_len"), _count(features, "features")
    check_allocation(num * seq_len * features * 8 * 3, f"{member}: {num} windows x {seq_len} steps x "
                     f"{features} features (64-bit temporaries)", "use a smaller seq_len or fewer windows (num)")
    return num, seq_len, features


def _steps(seq_len: int) -> np.ndarray:
    """The step index n as a (1, seq_len, 1) float64 array, to broadcast against (num, 1, features)."""
    return np.arange(seq_len, dtype=np.float64)[None, :, None]


def _dataset(name: str, windows: np.ndarray, call: str, scaler: MinMaxScaler | None = None) -> WindowDataset:
    d = windows.shape[-1]
    return WindowDataset(name=name, windows=windows.astype(np.float32),
                         scaler=scaler if scaler is not None else MinMaxScaler.identity(d),
                         feature_names=[f"{name}_{k}" for k in range(d)], source=f"generated: {call}")


# -- oscillations: several periods per window, fixed amplitude ---------------------------------------
def oscillation_parameters(num: int = 10000, features: int = 5, f_low: float = 0.125, f_high: float = 0.25,
                           seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The frequencies f (cycles per step) and phases φ that :func:`make_oscillations` draws.

    Shape:
        returns: freq (num, features) in [f_low, f_high], phase (num, features) in [0, 2π).
    """
    num, features = _count(num, "num"), _count(features, "features")
    f_low = _number(f_low, "f_low", 0.0, 0.5, open_low=True)
    f_high = _number(f_high, "f_high", 0.0, 0.5)
    if f_high < f_low:
        raise ValueError(f"f_high: expected at least f_low={f_low:g}, got {f_high:g}")
    rng = np.random.default_rng(seed)
    return rng.uniform(f_low, f_high, size=(num, features)), rng.uniform(0.0, 2 * np.pi, size=(num, features))


def make_oscillations(num: int = 10000, seq_len: int = 24, features: int = 5, f_low: float = 0.125,
                      f_high: float = 0.25, seed: int = 0) -> np.ndarray:
    """Sinusoids of fixed amplitude ½ around ½ with several periods per window (module docstring).

    Args:
        num, seq_len, features: windows, steps per window, channels.
        f_low, f_high: the band of frequencies in cycles per step, 0 < f_low ≤ f_high ≤ ½
            (½ is the Nyquist frequency).
        seed: seed of the NumPy generator; the same seed gives the same array.

    Shape:
        returns: (num, seq_len, features) float64 in [0, 1].
    """
    num, seq_len, features = _sizes(num, seq_len, features, "oscillations")
    freq, phase = oscillation_parameters(num, features, f_low, f_high, seed)
    return 0.5 + 0.5 * np.sin(2 * np.pi * freq[:, None, :] * _steps(seq_len) + phase[:, None, :])


def Oscillations(num: int = 10000, seq_len: int = 24, features: int = 5, f_low: float = 0.125,  # noqa: N802
                 f_high: float = 0.25, seed: int = 0) -> WindowDataset:
    """:func:`make_oscillations` as a dataset (registered as ``"oscillations"``; identity scaler)."""
    x = make_oscillations(num, seq_len, features, f_low, f_high, seed)
    return _dataset("oscillations", x, f"make_oscillations(num={num}, seq_len={seq_len}, features={features}, "
                    f"f_low={f_low}, f_high={f_high}, seed={seed})")


# -- regimes: a two-state Markov chain switching the level ---------------------------------------------
def regime_states(num: int = 10000, seq_len: int = 24, features: int = 5, switch_prob: float = 0.1,
                  seed: int = 0) -> np.ndarray:
    """The hidden states s_n ∈ {0, 1} that :func:`make_regimes` draws with the same arguments.

    Shape:
        returns: (num, seq_len, features) int8.
    """
    num, seq_len, features = _sizes(num, seq_len, features, "regimes")
    switch_prob = _number(switch_prob, "switch_prob", 0.0, 1.0)
    rng = np.random.default_rng(seed)
    first = rng.integers(0, 2, size=(num, 1, features))
    flips = rng.random((num, seq_len - 1, features)) < switch_prob
    # s_n = s_0 xor (number of switches up to n) mod 2
    parity = np.concatenate([np.zeros((num, 1, features), dtype=np.int64), np.cumsum(flips, axis=1)], axis=1)
    return ((first + parity) % 2).astype(np.int8)


def make_regimes(num: int = 10000, seq_len: int = 24, features: int = 5, switch_prob: float = 0.1,
                 levels: tuple[float, float] = (0.25, 0.75), noise: float = 0.1, seed: int = 0) -> np.ndarray:
    """Two levels switched by a Markov chain, plus bounded noise (module docstring).

    Args:
        switch_prob: probability of a switch between consecutive steps, in [0, 1].
        levels: the level of state 0 and of state 1; with the noise they must stay in [0, 1].
        noise: half-width of the uniform noise, ≥ 0.

    Shape:
        returns: (num, seq_len, features) float64 in [0, 1].
    """
    states = regime_states(num, seq_len, features, switch_prob, seed)
    if not (isinstance(levels, (tuple, list)) and len(levels) == 2):
        raise ValueError(f"levels: expected two numbers (state 0, state 1), got {levels!r}")
    noise = _number(noise, "noise", 0.0, 0.5)
    low, high = (_number(v, "levels", noise, 1.0 - noise) for v in levels)
    rng = np.random.default_rng(seed)
    rng.integers(0, 2, size=(states.shape[0], 1, states.shape[2]))  # the states' draws, skipped
    rng.random((states.shape[0], states.shape[1] - 1, states.shape[2]))
    return np.where(states == 1, high, low) + rng.uniform(-noise, noise, size=states.shape)


def Regimes(num: int = 10000, seq_len: int = 24, features: int = 5, switch_prob: float = 0.1,  # noqa: N802
            seed: int = 0) -> WindowDataset:
    """:func:`make_regimes` as a dataset (registered as ``"regimes"``; identity scaler)."""
    x = make_regimes(num, seq_len, features, switch_prob, seed=seed)
    return _dataset("regimes", x, f"make_regimes(num={num}, seq_len={seq_len}, features={features}, "
                    f"switch_prob={switch_prob}, seed={seed})")


# -- spikes: sparse one-step jumps on a smooth background -----------------------------------------------
def spike_parameters(num: int = 10000, seq_len: int = 24, features: int = 5, spike_prob: float = 0.05,
                     seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The background b and the jumps (0 where there is none) that :func:`make_spikes` draws.

    Shape:
        returns: background (num, seq_len, features), jumps (num, seq_len, features), float64.
    """
    num, seq_len, features = _sizes(num, seq_len, features, "spikes")
    spike_prob = _number(spike_prob, "spike_prob", 0.0, 1.0)
    rng = np.random.default_rng(seed)
    freq = rng.uniform(0.0, 0.1, size=(num, 1, features))
    phase = rng.uniform(0.0, 2 * np.pi, size=(num, 1, features))
    background = 0.5 + 0.25 * np.sin(freq * _steps(seq_len) + phase)
    where = rng.random((num, seq_len, features)) < spike_prob
    heights = rng.uniform(*SPIKE_HEIGHT, size=(num, seq_len, features))
    return background, np.where(where, heights, 0.0)


def make_spikes(num: int = 10000, seq_len: int = 24, features: int = 5, spike_prob: float = 0.05,
                seed: int = 0) -> np.ndarray:
    """A slow sinusoid with isolated one-step upward jumps (module docstring).

    Args:
        spike_prob: probability of a jump at each step and channel, in [0, 1].

    Shape:
        returns: (num, seq_len, features) float64 in [0.25, 1].
    """
    background, jumps = spike_parameters(num, seq_len, features, spike_prob, seed)
    return background + jumps


def Spikes(num: int = 10000, seq_len: int = 24, features: int = 5, spike_prob: float = 0.05,  # noqa: N802
           seed: int = 0) -> WindowDataset:
    """:func:`make_spikes` as a dataset (registered as ``"spikes"``; identity scaler)."""
    x = make_spikes(num, seq_len, features, spike_prob, seed)
    return _dataset("spikes", x, f"make_spikes(num={num}, seq_len={seq_len}, features={features}, "
                    f"spike_prob={spike_prob}, seed={seed})")


# -- counts: integer values from a Poisson law with a smooth rate ---------------------------------------
def count_rates(num: int = 10000, seq_len: int = 24, features: int = 5, rate_max: float = 6.0,
                seed: int = 0) -> np.ndarray:
    """The Poisson rates λ_n that :func:`make_counts` draws with the same arguments.

    Shape:
        returns: (num, seq_len, features) float64 in [0, rate_max].
    """
    num, seq_len, features = _sizes(num, seq_len, features, "counts")
    rate_max = _number(rate_max, "rate_max", 0.0, 1e6, open_low=True)
    rng = np.random.default_rng(seed)
    freq = rng.uniform(0.0, 0.3, size=(num, 1, features))
    phase = rng.uniform(0.0, 2 * np.pi, size=(num, 1, features))
    return rate_max * (0.5 + 0.5 * np.sin(freq * _steps(seq_len) + phase))


def make_counts(num: int = 10000, seq_len: int = 24, features: int = 5, rate_max: float = 6.0, cap: int = 10,
                seed: int = 0) -> np.ndarray:
    """Poisson counts with a smooth rate, clipped at ``cap`` (module docstring).

    Args:
        rate_max: the largest rate, > 0.
        cap: the largest count kept (larger ones become ``cap``), a positive integer.

    Shape:
        returns: (num, seq_len, features) int64 counts in {0, …, cap}.
    """
    rates = count_rates(num, seq_len, features, rate_max, seed)
    cap = _count(cap, "cap")
    rng = np.random.default_rng(seed)
    rng.uniform(size=(2, rates.shape[0], 1, rates.shape[2]))  # the rates' draws, skipped
    return np.minimum(rng.poisson(rates), cap)


def Counts(num: int = 10000, seq_len: int = 24, features: int = 5, rate_max: float = 6.0, cap: int = 10,  # noqa: N802
           seed: int = 0) -> WindowDataset:
    """:func:`make_counts` as a dataset (registered as ``"counts"``): windows c / cap in [0, 1], a
    scaler whose ``inverse_transform`` gives the integer counts back."""
    counts = make_counts(num, seq_len, features, rate_max, cap, seed)
    d = counts.shape[-1]
    scaler = MinMaxScaler.from_state_dict({"eps": 0.0, "min": [0.0] * d, "max": [float(cap)] * d,
                                           "scale": [float(cap)] * d})
    return _dataset("counts", counts / cap, f"make_counts(num={num}, seq_len={seq_len}, features={features}, "
                    f"rate_max={rate_max}, cap={cap}, seed={seed})", scaler)


# -- mixture: two well-separated window shapes ---------------------------------------------------------
def mixture_labels(num: int = 10000, weight: float = 0.3, seed: int = 0) -> np.ndarray:
    """Which shape each window of :func:`make_mixture` is: 1 the rising ramp, 0 the falling one.

    Shape:
        returns: (num,) int8.
    """
    num = _count(num, "num")
    weight = _number(weight, "weight", 0.0, 1.0)
    return (np.random.default_rng(seed).random(num) < weight).astype(np.int8)


def mixture_shapes(seq_len: int = 24) -> np.ndarray:
    """The two shapes: row 0 the falling ramp, row 1 the rising ramp.

    Shape:
        returns: (2, seq_len) float64.
    """
    seq_len = _count(seq_len, "seq_len")
    low, high = MIXTURE_RAMP
    rising = low + (high - low) * np.arange(seq_len) / max(seq_len - 1, 1)
    return np.stack([1.0 - rising, rising])


def make_mixture(num: int = 10000, seq_len: int = 24, features: int = 5, weight: float = 0.3,
                 seed: int = 0) -> np.ndarray:
    """Windows that are one of two ramps, plus a per-channel shift and noise (module docstring).

    Args:
        weight: probability of the rising ramp, in [0, 1].

    Shape:
        returns: (num, seq_len, features) float64 in [0.05, 0.95].
    """
    num, seq_len, features = _sizes(num, seq_len, features, "mixture")
    labels = mixture_labels(num, weight, seed)
    rng = np.random.default_rng(seed)
    rng.random(num)  # the labels' draws, skipped
    shift = rng.uniform(-MIXTURE_SHIFT, MIXTURE_SHIFT, size=(num, 1, features))
    noise = rng.uniform(-MIXTURE_NOISE, MIXTURE_NOISE, size=(num, seq_len, features))
    return mixture_shapes(seq_len)[labels][:, :, None] + shift + noise


def Mixture(num: int = 10000, seq_len: int = 24, features: int = 5, weight: float = 0.3,  # noqa: N802
            seed: int = 0) -> WindowDataset:
    """:func:`make_mixture` as a dataset (registered as ``"mixture"``; identity scaler)."""
    x = make_mixture(num, seq_len, features, weight, seed)
    return _dataset("mixture", x, f"make_mixture(num={num}, seq_len={seq_len}, features={features}, "
                    f"weight={weight}, seed={seed})")


def draw(member: str, num: int, seed: int, **kwargs: Any) -> np.ndarray:
    """The windows of dataset ``member`` on its [0, 1] scale (counts divided by their cap), float32.

    Shape:
        returns: (num, seq_len, features).
    """
    factories: dict[str, Callable[..., WindowDataset]] = {
        "oscillations": Oscillations, "regimes": Regimes, "spikes": Spikes, "counts": Counts, "mixture": Mixture}
    if member not in factories:
        raise ValueError(f"member: expected one of {MEMBERS}, got {member!r}")
    return factories[member](num=num, seed=seed, **kwargs).windows


__all__ = ["MEMBERS", "Counts", "Mixture", "Oscillations", "Regimes", "Spikes", "count_rates", "draw",
           "make_counts", "make_mixture", "make_oscillations", "make_regimes", "make_spikes", "mixture_labels",
           "mixture_shapes", "oscillation_parameters", "regime_states", "spike_parameters"]
