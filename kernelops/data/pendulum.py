"""A nonlinear pendulum: trajectories of angle and angular velocity (docs/datasets.md, "Pendulum").

θ'' = −(g/ℓ)·sin θ with g/ℓ = ``omega_sq``; each trajectory starts at θ(0) ~ U[−θ_max, θ_max],
θ'(0) ~ U[−ω_max, ω_max] (independent per trajectory) and is observed every ``dt`` time units
for ``seq_len`` steps (the first observation is the initial state). The ODE is integrated with
the classical fourth-order Runge-Kutta method on ``substeps`` equal sub-steps per observation.
With the defaults (θ_max = 2, ω_max = 1, g/ℓ = 1) the energy ½θ'² − cos θ stays below 1, the
separatrix, so every trajectory swings back and forth (no full turns, no angle wrapping).

The system has no friction: energy is conserved and the flow preserves area in phase space,
which is what the stability regulariser of the pendulum benchmark encodes
(:mod:`kernelops.flows.stability`).
"""

from __future__ import annotations

import math

import numpy as np

from kernelops.data.base import WindowDataset
from kernelops.data.scaling import MinMaxScaler


def _positive(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name}: expected a positive finite number, got {value!r}")
    return float(value)


def _count(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}: expected a positive integer, got {value!r}")
    return int(value)


def pendulum_energy(states: np.ndarray, omega_sq: float = 1.0) -> np.ndarray:
    """E = ½θ'² − (g/ℓ)·cos θ of every state (conserved along a trajectory).

    Shape:
        states: (..., 2) with (θ, θ') last. returns: (...).
    """
    return 0.5 * states[..., 1] ** 2 - omega_sq * np.cos(states[..., 0])


def make_pendulum(num: int = 3000, seq_len: int = 40, dt: float = 0.2, theta_max: float = 2.0,
                  omega_max: float = 1.0, omega_sq: float = 1.0, substeps: int = 10, seed: int = 0) -> np.ndarray:
    """Draw ``num`` pendulum trajectories of (θ, θ') in radians and radians per time unit.

    Args:
        num: number of trajectories.
        seq_len: observations per trajectory (the first is the initial state).
        dt: time between observations.
        theta_max, omega_max: half-widths of the uniform initial angle and angular velocity.
        omega_sq: g/ℓ, the squared small-angle frequency.
        substeps: Runge-Kutta steps per observation interval.
        seed: seed of the NumPy generator; the same seed gives the same array.

    Shape:
        returns: (num, seq_len, 2), float64.
    """
    num, seq_len, substeps = _count(num, "num"), _count(seq_len, "seq_len"), _count(substeps, "substeps")
    dt, omega_sq = _positive(dt, "dt"), _positive(omega_sq, "omega_sq")
    theta_max, omega_max = _positive(theta_max, "theta_max"), _positive(omega_max, "omega_max")
    rng = np.random.default_rng(seed)
    state = np.stack([rng.uniform(-theta_max, theta_max, num), rng.uniform(-omega_max, omega_max, num)], axis=-1)

    def rate(s: np.ndarray) -> np.ndarray:
        return np.stack([s[:, 1], -omega_sq * np.sin(s[:, 0])], axis=-1)

    h = dt / substeps
    out = np.empty((num, seq_len, 2))
    out[:, 0] = state
    for n in range(1, seq_len):
        for _ in range(substeps):
            k1 = rate(state)
            k2 = rate(state + 0.5 * h * k1)
            k3 = rate(state + 0.5 * h * k2)
            k4 = rate(state + h * k3)
            state = state + (h / 6.0) * (k1 + 2 * k2 + 2 * k3 + k4)
        out[:, n] = state
    return out


def Pendulum(num: int = 3000, seq_len: int = 40, dt: float = 0.2, seed: int = 0) -> WindowDataset:  # noqa: N802
    """Pendulum trajectories as a :class:`WindowDataset`, each channel min-max scaled to [0, 1].

    Shape:
        windows: (num, seq_len, 2) float32 in [0, 1]; ``raw_windows()`` gives (θ, θ').
    """
    raw = make_pendulum(num=num, seq_len=seq_len, dt=dt, seed=seed)
    scaler = MinMaxScaler().fit(raw)
    return WindowDataset(name="pendulum", windows=scaler.transform(raw).astype(np.float32), scaler=scaler,
                         feature_names=["angle", "angular_velocity"],
                         source=f"generated: make_pendulum(num={num}, seq_len={seq_len}, dt={dt}, seed={seed})")


__all__ = ["Pendulum", "make_pendulum", "pendulum_energy"]
