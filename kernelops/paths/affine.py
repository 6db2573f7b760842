"""Affine probability paths x_t = α_t x₁ + σ_t ε, ε ~ N(0, I), and the built-in OT, VP and VE paths.

t = 0 is source noise, t = 1 is data. The source q₀ = N(0, σ₀² I) is (up to the α₀ x₁ term,
≈ 6.6e-3 x₁ for VP and x₁ for VE) the t = 0 marginal, and a source draw x0 enters the path as
ε = x0 / σ₀. The conditional target is u_t(x | x₁) = α'_t x₁ + (σ'_t / σ_t)(x − α_t x₁); when
the data are Gaussian the marginal field has the closed form of :meth:`AffinePath.marginal_velocity`,
whose Jacobian is symmetric (it is a gradient field, which spectral mean flows need).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from kernelops.errors import ShapeError
from kernelops.paths.base import PathSample
from kernelops.paths.schedules import OTSchedule, Schedule, ScheduleOutput, VESchedule, VPSchedule
from kernelops.paths.time import as_time_tensor, broadcast_time
from kernelops.utils.validation import check_tensor


def _check_pair(x0: torch.Tensor, x1: torch.Tensor, name0: str = "x0", name1: str = "x1") -> None:
    # finite=False: these run every training step; data NaNs are caught where data are loaded
    check_tensor(x0, name0, min_ndim=1, finite=False, allow_complex=False)
    check_tensor(x1, name1, min_ndim=1, finite=False, allow_complex=False)
    if x0.shape != x1.shape:
        raise ShapeError(f"{name0} and {name1} must have the same shape; got {name0} {tuple(x0.shape)} "
                         f"and {name1} {tuple(x1.shape)}")


class AffinePath:
    """The affine Gaussian path x_t = α_t x₁ + σ_t ε driven by a :class:`Schedule`.

    Args:
        schedule: gives α_t, σ_t and their time derivatives.

    Attributes:
        name: the registry name ("affine" for a custom schedule).
        schedule: the schedule.
        source_std: σ₀, the std of the source N(0, σ₀² I): 1 for OT, √(1 − α₀²) ≈ 1 − 2e-5 for
            VP, σ_max for VE.
    """

    name: str = "affine"

    def __init__(self, schedule: Schedule):
        if not isinstance(schedule, Schedule):
            raise ValueError(f"schedule: expected a kernelops.paths.Schedule, got {type(schedule).__name__}")
        self.schedule = schedule
        self.source_std = float(schedule(torch.tensor(0.0, dtype=torch.float64)).sigma)

    # -- sampling -------------------------------------------------------------------------
    def sample_source(
        self,
        shape: tuple[int, ...] | torch.Size | int,
        *,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> torch.Tensor:
        """Draw x0 ~ N(0, σ₀² I).

        Args:
            shape: the shape of the draw, e.g. (batch, N, d).
            generator: a torch.Generator on ``device`` for reproducible draws.
            device: where to draw (default: CPU).
            dtype: a floating dtype.

        Shape:
            returns: ``shape``.
        """
        if not dtype.is_floating_point:
            raise ValueError(f"dtype: expected a floating dtype, got {dtype}")
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        return torch.randn(shape, generator=generator, device=device, dtype=dtype) * self.source_std

    def source_log_prob(self, x0: torch.Tensor) -> torch.Tensor:
        """log q₀(x0) under the source N(0, σ₀² I), summed over all but the first (batch) axis.

        The density a flow's samples are pushed forward from (:mod:`kernelops.flows.likelihood`).

        Shape:
            x0: (batch, ...). returns: (batch,).
        """
        check_tensor(x0, "x0", min_ndim=1, finite=False, allow_complex=False)
        flat = x0.reshape(x0.shape[0], -1)
        log_norm = 0.5 * math.log(2.0 * math.pi) + math.log(self.source_std)
        return -0.5 * flat.square().sum(1) / self.source_std**2 - flat.shape[1] * log_norm

    def sample_t(
        self,
        batch: int,
        *,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
        eps: float = 1e-5,
    ) -> torch.Tensor:
        """Training times t ~ U[eps, 1 − eps].

        ``eps`` keeps t off the endpoints, where the VP target has σ'_t ∝ (1 − t)^(−1/2) (finite
        only thanks to the variance floor) and where per-sample targets are least informative;
        for OT and VE it changes nothing measurable. Pass ``eps=0`` for exact U[0, 1).

        Args:
            batch: number of times.
            generator: a torch.Generator on ``device``.
            device: where to draw.
            dtype: a floating dtype.
            eps: margin in [0, 0.5).

        Shape:
            returns: (batch,).
        """
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 0:
            raise ValueError(f"batch: expected a non-negative int, got {batch!r}")
        if not 0.0 <= eps < 0.5:
            raise ValueError(f"eps: expected a number in [0, 0.5), got {eps!r}")
        u = torch.rand(batch, generator=generator, device=device, dtype=dtype)
        return eps + (1.0 - 2.0 * eps) * u

    # -- the conditional path ----------------------------------------------------------------
    def coefficients(
        self, t: float | torch.Tensor, x: torch.Tensor, name: str = "t", *, check_range: bool = True
    ) -> ScheduleOutput:
        """α_t, σ_t, α'_t, σ'_t broadcast against ``x`` (see :func:`~kernelops.paths.time.broadcast_time`).

        Shape:
            t: (), (batch,) or broadcastable to x. x: (batch, ...).
            returns: tensors of shape (), (batch, 1, ..., 1) or t's shape.
        """
        return self.schedule.evaluate(broadcast_time(t, x, name, check_range=check_range))

    def interpolate(self, x0: torch.Tensor, x1: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
        """x_t = α_t x1 + σ_t x0 / σ₀.

        Shape:
            x0, x1: (batch, ...). t: (), (batch,) or broadcastable. returns: (batch, ...).
        """
        _check_pair(x0, x1)
        c = self.coefficients(t, x1)
        return c.alpha * x1 + (c.sigma / self.source_std) * x0

    def velocity(self, x0: torch.Tensor, x1: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
        """The conditional target u_t(x_t | x1) = α'_t x1 + σ'_t x0 / σ₀ = d/dt interpolate(x0, x1, t).

        Shape:
            x0, x1: (batch, ...). t: (), (batch,) or broadcastable. returns: (batch, ...).
        """
        _check_pair(x0, x1)
        c = self.coefficients(t, x1)
        return c.d_alpha * x1 + (c.d_sigma / self.source_std) * x0

    def conditional_velocity(self, x_t: torch.Tensor, x1: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
        """u_t(x | x1) = α'_t x1 + (σ'_t / σ_t)(x − α_t x1), the target as a function of the point.

        Equals :meth:`velocity` at ``x_t = interpolate(x0, x1, t)``.

        Shape:
            x_t, x1: (batch, ...). t: (), (batch,) or broadcastable. returns: (batch, ...).
        """
        _check_pair(x_t, x1, "x_t", "x1")
        c = self.coefficients(t, x1)
        return c.d_alpha * x1 + (c.d_sigma / c.sigma) * (x_t - c.alpha * x1)

    def sample(self, x0: torch.Tensor, x1: torch.Tensor, t: float | torch.Tensor) -> PathSample:
        """x_t and u_t for flow matching, from one schedule evaluation.

        Shape:
            x0, x1: (batch, ...). t: (), (batch,) or broadcastable.
            returns: PathSample with x_t, u_t of shape (batch, ...) and t as given (as a tensor).
        """
        _check_pair(x0, x1)
        t_given = as_time_tensor(t, dtype=x1.dtype, device=x1.device)
        c = self.coefficients(t_given, x1, check_range=False)
        eps = x0 / self.source_std
        return PathSample(x0=x0, x1=x1, t=t_given,
                          x_t=c.alpha * x1 + c.sigma * eps, u_t=c.d_alpha * x1 + c.d_sigma * eps)

    # -- the marginal field of an empirical data set ----------------------------------------------
    @torch.no_grad()
    def posterior_mean(self, x: torch.Tensor, t: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        """E[x₁ | x_t = x] when the data are the windows in ``reference`` (the exact denoiser).

        With x₁ uniform over the reference set, the posterior of x₁ given x_t = x has weights
        w_i ∝ exp(−‖x − α_t r_i‖²/(2σ_t²)); the result is Σ_i w_i r_i. Computed as one
        (batch × windows) product, with both sides shifted by the reference mean (same weights,
        smaller numbers, so float32 stays accurate as t → 1 where the weights become one-hot).

        Args:
            x: points x_t (any trailing shape; flattened per row).
            t: one time per row.
            reference: data windows r_i, same trailing shape as x.

        Shape:
            x: (batch, ...). t: (batch,). reference: (num, ...). returns: (batch, ...).
        """
        check_tensor(x, "x", min_ndim=2, finite=False, allow_complex=False)
        check_tensor(reference, "reference", min_ndim=2, finite=False, allow_complex=False)
        if reference.shape[1:] != x.shape[1:]:
            raise ShapeError(f"reference: expected windows of shape {tuple(x.shape[1:])} like x, "
                             f"got {tuple(reference.shape[1:])}")
        batch = x.shape[0]
        if tuple(t.shape) != (batch,):
            raise ShapeError(f"t: expected shape ({batch},), got {tuple(t.shape)}")
        c = self.schedule.evaluate(t.to(dtype=x.dtype, device=x.device))
        alpha, sigma = c.alpha[:, None], c.sigma[:, None]
        flat, ref = x.reshape(batch, -1), reference.reshape(reference.shape[0], -1).to(x)
        centre = ref.mean(0)
        flat_c, ref_c = flat - alpha * centre, ref - centre
        # −‖x − α r‖²/(2σ²) up to terms constant in r
        logits = (alpha * (flat_c @ ref_c.T) - 0.5 * alpha.square() * ref_c.square().sum(1)) / sigma.square()
        return (torch.softmax(logits, dim=1) @ ref_c + centre).reshape(x.shape)

    @torch.no_grad()
    def posterior_velocity(self, x: torch.Tensor, t: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        """u_t(x) = E[u_t(x | x₁) | x_t = x] when the data are the windows in ``reference``.

        u_t(x | x₁) is affine in x₁, so this is the conditional velocity at the posterior mean
        x̂₁ = :meth:`posterior_mean`. With the whole training set as the reference it is exactly
        the minimiser of the conditional flow-matching loss on that set: regressing on it
        changes the loss by a constant and the expected gradient not at all, and removes the
        target's own variance.

        Shape:
            x: (batch, ...). t: (batch,). reference: (num, ...). returns: (batch, ...).
        """
        x1_hat = self.posterior_mean(x, t, reference)
        return self.conditional_velocity(x, x1_hat, t.to(dtype=x.dtype, device=x.device))

    # -- the marginal field for Gaussian data ---------------------------------------------------
    def marginal_velocity(
        self, x: torch.Tensor, t: float | torch.Tensor, mean: torch.Tensor, cov: torch.Tensor
    ) -> torch.Tensor:
        """Closed-form marginal field u_t(x) = E[u_t(x | x1) | x_t = x] when the data are N(mean, cov).

        x_t ~ N(α_t m, S_t) with S_t = α_t² Σ + σ_t² I, and
        u_t(x) = α'_t m + (α'_t α_t Σ + σ'_t σ_t I) S_t⁻¹ (x − α_t m). All matrices are functions
        of Σ, so with Σ = Q diag(λ) Qᵀ this is α'_t m + Q diag((α'α λ + σ'σ)/(α² λ + σ²)) Qᵀ (x − α m):
        a symmetric Jacobian, i.e. the gradient of a quadratic potential.

        Args:
            x: points, last dimension d.
            t: times (number, 0-d, (batch,) or broadcastable to x).
            mean: the data mean m.
            cov: the data covariance Σ (symmetric positive semi-definite).

        Shape:
            x: (..., d). mean: (d,). cov: (d, d). returns: (..., d).
        """
        check_tensor(x, "x", min_ndim=1, allow_complex=False)
        d = x.shape[-1]
        check_tensor(mean, "mean", shape=(d,), allow_complex=False)
        check_tensor(cov, "cov", shape=(d, d), allow_complex=False)
        mean = mean.to(dtype=x.dtype, device=x.device)
        cov = cov.to(dtype=x.dtype, device=x.device)
        lam, q = torch.linalg.eigh(0.5 * (cov + cov.transpose(-1, -2)))
        c = self.coefficients(t, x)
        if c.alpha.dim() > 0 and c.alpha.shape[-1] != 1:
            # a t that varies along the last (coordinate) axis would not give a field of x
            raise ShapeError(f"t: must not vary along the last dimension of x; got shape {tuple(c.alpha.shape)}")
        gain = (c.d_alpha * c.alpha * lam + c.d_sigma * c.sigma) / (c.alpha**2 * lam + c.sigma**2)
        centred = (x - c.alpha * mean) @ q
        return c.d_alpha * mean + (gain * centred) @ q.transpose(-1, -2)

    # -- bookkeeping -------------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        """Constructor keyword arguments: ``ko.path(p.name, **p.config())`` rebuilds a built-in path."""
        return self.schedule.config()

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        if type(self) is AffinePath:
            return f"AffinePath({self.schedule!r})"
        return f"{type(self).__name__}({args})"


class OTPath(AffinePath):
    """Conditional optimal transport: x_t = t x1 + (1 − (1 − σ_min) t) x0, u_t = x1 − (1 − σ_min) x0.

    Args:
        sigma_min: noise left at t = 1, in [0, 1).
    """

    name = "ot"

    def __init__(self, sigma_min: float = 1e-4):
        super().__init__(OTSchedule(sigma_min=sigma_min))


class VPPath(AffinePath):
    """Variance preserving: x_t = α(1 − t) x1 + √(1 − α(1 − t)²) ε, β linear from β_min to β_max.

    See :class:`~kernelops.paths.schedules.VPSchedule` for the variance floor at t = 1.

    Args:
        beta_min: β at the data end, ≥ 0.
        beta_max: β at the noise end, ≥ beta_min.
    """

    name = "vp"

    def __init__(self, beta_min: float = 0.1, beta_max: float = 20.0):
        super().__init__(VPSchedule(beta_min=beta_min, beta_max=beta_max))


class VEPath(AffinePath):
    """Variance exploding: x_t = x1 + σ(1 − t) ε, σ geometric from σ_min (t = 1) to σ_max (t = 0).

    The source is N(0, σ_max² I); see :class:`~kernelops.paths.schedules.VESchedule` for the
    default σ_max = 10 (data in [0, 1], windows of 24 × 5 values).

    Args:
        sigma_min: noise at t = 1, > 0.
        sigma_max: noise at t = 0, > sigma_min.
    """

    name = "ve"

    def __init__(self, sigma_min: float = 0.01, sigma_max: float = 10.0):
        super().__init__(VESchedule(sigma_min=sigma_min, sigma_max=sigma_max))
