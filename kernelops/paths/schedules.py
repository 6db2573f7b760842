"""Noise schedules (α_t, σ_t) of affine probability paths x_t = α_t x₁ + σ_t ε.

Convention everywhere: t = 0 is source noise, t = 1 is data. A schedule returns α_t, σ_t and
their closed-form derivatives with respect to t; :class:`~kernelops.paths.affine.AffinePath`
turns them into interpolants and velocities.

* OT (conditional optimal transport, Lipman et al. 2023): α_t = t, σ_t = 1 − (1 − σ_min) t.
* VP (variance preserving, the β-linear diffusion schedule of Song et al. 2021, in the
  flow-matching time direction): α_t = a(1 − t), a(s) = exp(−½ ∫₀ˢ β) with β linear from
  β_min to β_max, σ_t = √(1 − α_t²). (Not the cos/sin interpolant that some libraries call VP.)
* VE (variance exploding, Song & Ermon): α_t = 1, σ_t = σ(1 − t), σ(s) = σ_min (σ_max/σ_min)^s.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

import torch

from kernelops.paths.time import as_time_tensor


@dataclass(frozen=True)
class ScheduleOutput:
    """α_t, σ_t and their derivatives d/dt, all of the shape of the times they were evaluated at.

    Shape:
        alpha, sigma, d_alpha, d_sigma: t.shape.
    """

    alpha: torch.Tensor
    sigma: torch.Tensor
    d_alpha: torch.Tensor
    d_sigma: torch.Tensor


def _check_number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise ValueError(f"{name}: expected a finite real number, got {value!r}")
    return float(value)



def prediction_coefficients(c: ScheduleOutput) -> tuple[torch.Tensor, torch.Tensor]:
    """(a_t, b_t) with v_t(x) = a_t x + b_t D_t(x): velocity from a clean-data prediction D.

    On an affine path x_t = α_t x₁ + σ_t x₀ the conditional velocity is
    u_t(x | x₁) = α'_t x₁ + σ'_t x₀ = a_t x + b_t x₁ with a_t = σ'_t/σ_t and b_t = α'_t − a_t α_t
    (eliminate x₀ = (x − α_t x₁)/σ_t), so any field that predicts x₁ has the velocity a x + b D
    and, conversely, D = (v − a x)/b.

    Shape:
        every field of ``c`` and both outputs: t's shape.
    """
    a = c.d_sigma / c.sigma
    return a, c.d_alpha - a * c.alpha


class Schedule:
    """Base class: subclasses set ``name`` and implement :meth:`evaluate` and :meth:`config`."""

    name: str = "schedule"

    def __call__(self, t: float | torch.Tensor) -> ScheduleOutput:
        """Evaluate the schedule at times ``t`` in [0, 1].

        Args:
            t: a number or a real tensor of times.

        Raises:
            ValueError: naming ``t`` if a time lies outside [0, 1].

        Shape:
            t: any. returns: a :class:`ScheduleOutput` of tensors of t's shape.
        """
        return self.evaluate(as_time_tensor(t))

    def evaluate(self, t: torch.Tensor) -> ScheduleOutput:
        """Like calling the schedule but without checking t: for a tensor already validated.

        Shape:
            t: any (a real floating tensor in [0, 1]). returns: tensors of t's shape.
        """
        raise NotImplementedError

    def config(self) -> dict[str, float]:
        """Constructor keyword arguments that rebuild this schedule."""
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"


class OTSchedule(Schedule):
    """Conditional optimal transport: α_t = t, σ_t = 1 − (1 − σ_min) t.

    Args:
        sigma_min: the noise left at t = 1, in [0, 1). With ``sigma_min = 0`` the conditional
            velocity written as a function of x_t is undefined at exactly t = 1.
    """

    name = "ot"

    def __init__(self, sigma_min: float = 1e-4):
        self.sigma_min = _check_number(sigma_min, "sigma_min")
        if not 0.0 <= self.sigma_min < 1.0:
            raise ValueError(f"sigma_min: expected a number in [0, 1), got {sigma_min!r}")

    def evaluate(self, t: torch.Tensor) -> ScheduleOutput:
        slope = 1.0 - self.sigma_min
        return ScheduleOutput(alpha=t, sigma=1.0 - slope * t,
                              d_alpha=torch.ones_like(t), d_sigma=torch.full_like(t, -slope))

    def config(self) -> dict[str, float]:
        return {"sigma_min": self.sigma_min}


class VPSchedule(Schedule):
    """Variance preserving: α_t = a(1 − t), σ_t = √(1 − α_t²), β linear from β_min to β_max.

    a(s) = exp(−½ ∫₀ˢ β(u) du) = exp(−½ (β_min s + ½ (β_max − β_min) s²)), so
    dα_t/dt = ½ β(1 − t) α_t and dσ_t/dt = −α_t (dα_t/dt) / σ_t.

    At t = 1, σ_t → 0 like √(β_min (1 − t)) and dσ_t/dt diverges. To keep every output finite,
    the variance 1 − α_t² (computed as −expm1(2 log α_t), exact in float32 too) is clamped
    below at :attr:`VAR_FLOOR` = 1e-8, i.e. σ_t ≥ 1e-4 — the same floor as the OT path's
    σ_min — and dσ_t/dt uses the clamped σ_t, so σ_t dσ_t/dt = −α_t dα_t/dt holds exactly
    everywhere (the combination the marginal field uses). The clamp only acts for
    1 − t ≲ 1e-7 with the default β.

    Args:
        beta_min: β at the data end (s = 0), ≥ 0.
        beta_max: β at the noise end (s = 1), ≥ beta_min and > 0.
    """

    name = "vp"
    #: lower bound on 1 − α_t², keeping σ_t and dσ_t/dt finite at t = 1
    VAR_FLOOR = 1e-8

    def __init__(self, beta_min: float = 0.1, beta_max: float = 20.0):
        self.beta_min = _check_number(beta_min, "beta_min")
        self.beta_max = _check_number(beta_max, "beta_max")
        if self.beta_min < 0:
            raise ValueError(f"beta_min: expected a non-negative number, got {beta_min!r}")
        if self.beta_max < self.beta_min or self.beta_max <= 0:
            raise ValueError(f"beta_max: expected a positive number >= beta_min ({self.beta_min!r}), "
                             f"got {beta_max!r}")

    def evaluate(self, t: torch.Tensor) -> ScheduleOutput:
        s = 1.0 - t
        log_alpha = -0.5 * (self.beta_min * s + 0.5 * (self.beta_max - self.beta_min) * s * s)
        alpha = torch.exp(log_alpha)
        var = (-torch.expm1(2.0 * log_alpha)).clamp_min(self.VAR_FLOOR)
        sigma = torch.sqrt(var)
        beta = self.beta_min + (self.beta_max - self.beta_min) * s
        d_alpha = 0.5 * beta * alpha  # dα/dt = −da/ds = ½ β(s) a(s)
        d_sigma = -alpha * d_alpha / sigma
        return ScheduleOutput(alpha=alpha, sigma=sigma, d_alpha=d_alpha, d_sigma=d_sigma)

    def config(self) -> dict[str, float]:
        return {"beta_min": self.beta_min, "beta_max": self.beta_max}


class VESchedule(Schedule):
    """Variance exploding: α_t = 1, σ_t = σ_min (σ_max/σ_min)^(1 − t), dσ_t/dt = −ln(σ_max/σ_min) σ_t.

    Default σ_max = 10: Song & Ermon (2020, "Improved techniques...", technique 1) take σ_max
    about the largest Euclidean distance between training points, so that noise at t = 0 mixes
    all of them. Windows of 24 × 5 values in [0, 1] have diameter √120 ≈ 11, an upper bound on
    those distances (docs/concepts/paths.md lists them for the bundled datasets). The source
    N(0, σ_max² I) is centred at 0 while [0, 1] data are not, which argues for the large end as
    well. Too large costs little (the schedule is geometric: doubling σ_max adds
    ln 2 / ln(σ_max/σ_min) of the time), too small leaves the source unlike the t = 0 marginal.
    Rescale σ_max with the data (×2 for data in [−1, 1]).

    Args:
        sigma_min: noise at t = 1, > 0.
        sigma_max: noise at t = 0 (the source std), > sigma_min.
    """

    name = "ve"

    def __init__(self, sigma_min: float = 0.01, sigma_max: float = 10.0):
        self.sigma_min = _check_number(sigma_min, "sigma_min")
        self.sigma_max = _check_number(sigma_max, "sigma_max")
        if self.sigma_min <= 0:
            raise ValueError(f"sigma_min: expected a positive number, got {sigma_min!r}")
        if self.sigma_max <= self.sigma_min:
            raise ValueError(f"sigma_max: expected a number > sigma_min ({self.sigma_min!r}), got {sigma_max!r}")
        self._log_ratio = math.log(self.sigma_max / self.sigma_min)

    def evaluate(self, t: torch.Tensor) -> ScheduleOutput:
        sigma = self.sigma_max * torch.exp(-self._log_ratio * t)  # exact σ_max at t = 0 (the source std)
        return ScheduleOutput(alpha=torch.ones_like(t), sigma=sigma,
                              d_alpha=torch.zeros_like(t), d_sigma=-self._log_ratio * sigma)

    def config(self) -> dict[str, float]:
        return {"sigma_min": self.sigma_min, "sigma_max": self.sigma_max}
