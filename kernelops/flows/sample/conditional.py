"""Conditional sampling: complete windows that agree with observed entries (imputation, forecasting).

Given observations y on the entries where the mask m is 1, each method integrates a modified
field from the source (t = 0) to the data (t = 1) and finally sets the observed entries to y.
All are written for an affine path x_t = α_t x₁ + σ_t ε and a field v_t(x) = a_t x + b_t D_t(x)
with a clean-window prediction D (:class:`~kernelops.flows.SpectralVelocityField`); the
conditional field we want is v_t(x | y) = a_t x + b_t E[x₁ | x_t = x, x₁ᵒ = y].

* ``"field"`` — a field trained for it (``FieldConfig(conditional=True)``): D_t(x | y, m) is the
  skip Gaussian's exact posterior mean given x_t and x₁ᵒ = y plus a learned part that reads the
  mask and y (:mod:`kernelops.flows.masked_field`). No extra cost beyond the conditioning of the
  skip.

* ``"gaussian"`` — condition the x₁-prediction with the skip's Gaussian. If the windows were
  N(μ, Σ), the clean window given x_t would be Gaussian with mean D_t(x) and covariance
  C_t = Q diag(λ σ_t²/(α_t² λ + σ_t²)) Qᵀ, and conditioning that on x₁ᵒ = y gives

      E[x₁ | x_t, x₁ᵒ = y] = D_t(x) + C_t[:, o] (C_t[o, o])⁻¹ (y − D_t(x)ᵒ).

  We apply this update to the model's own D (skip plus learned part) with the window skip's
  fitted Σ. Exact (up to the ODE solver) when the data are Gaussian and D is the Gaussian
  posterior mean (the learned part is zero); the observed coordinates then follow the
  conditional path α_t y + σ_t ε exactly. Needs ``skip="window"``; one Gaussian conditioning
  per distinct mask and field evaluation (below).
* ``"replacement"`` — guidance-free: at every field evaluation the observed coordinates of the
  state are replaced by the path's sample given x₁ᵒ = y, α_t y + σ_t ε (the same noise ε the
  draw started from), and their velocity by the path's, α'_t y + σ'_t ε. Cheap and works for
  any field, but not exact even for Gaussian data: the field then conditions on a noisy
  version of y instead of y itself, which biases the unobserved coordinates towards the prior.
* ``"guidance"`` — reconstruction guidance through the x₁-prediction: the velocity gets the
  gradient term −w_t ∇ₓ ‖m ⊙ (D_t(x) − y)‖², with
  w_t = scale · b_t σ_t² / (2 α_t c_out(t)²), the weight that turns ∇ log N(y; Dᵒ, c_out² I)
  into a velocity (Tweedie's formula), c_out² being the posterior variance of a scalar Gaussian
  with the data's variance, and α_t floored at ``SampleConfig.alpha_floor`` (the weight grows as
  1/α_t and would multiply a learned prediction's error near t = 0). An approximation whose
  strength ``guidance_scale`` tunes; one backward pass through the field per evaluation. The
  term's norm is capped at ``GUIDANCE_MAX_RATIO`` times the unguided velocity's (per window), so
  no scale can make a finite field's draws non-finite; scales must be finite and ≥ 0.

docs/conditional_generation.md compares the methods.

The Gaussian conditioning ("gaussian", and the skip of "field") keeps the skip covariance's
leading ``FieldConfig.condition_rank`` eigen-directions exactly and gives the others their mean
variance (:meth:`~kernelops.flows.gaussian.WindowGaussian.posterior_covariance`), so one mask
costs a Woodbury solve of that rank instead of a factorisation of the whole (N·d)² matrix.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from kernelops.errors import ShapeError
from kernelops.flows.config import GUIDANCE_MAX_RATIO, METHODS, SampleConfig
from kernelops.flows.field import SpectralVelocityField
from kernelops.flows.gaussian import condition_on_observed

_SAMPLE = SampleConfig()


def check_observations(observed: torch.Tensor, mask: torch.Tensor, shape: tuple[int, int] | None = None
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate observations and mask; return y with unobserved entries set to 0 and a bool mask.

    Args:
        observed: windows with the observed values (anything, e.g. NaN, where the mask is 0).
        mask: 1 / True where an entry is observed.
        shape: the window shape (N, d) the model needs, or None.

    Raises:
        ShapeError: naming what is wrong (shape, a non-finite observed value, a 0/1 mask).

    Shape:
        observed, mask: (B, N, d). returns: (B, N, d) each.
    """
    if not isinstance(observed, torch.Tensor) or not isinstance(mask, torch.Tensor):
        raise ShapeError("observed, mask: expected torch tensors")
    if observed.dim() != 3:
        raise ShapeError(f"observed: expected windows of shape (B, N, d), got {tuple(observed.shape)}")
    if mask.shape != observed.shape:
        raise ShapeError(f"mask: expected the shape of observed {tuple(observed.shape)}, got {tuple(mask.shape)}")
    if shape is not None and tuple(observed.shape[1:]) != tuple(shape):
        raise ShapeError(f"observed: expected windows of shape (N, d) = {tuple(shape)} (the model's), "
                         f"got {tuple(observed.shape[1:])}")
    if mask.dtype != torch.bool:
        if not bool(((mask == 0) | (mask == 1)).all()):
            raise ShapeError("mask: expected 0/1 or boolean entries (1 = observed)")
        mask = mask != 0
    if not bool(torch.isfinite(observed[mask]).all()):
        raise ShapeError("observed: an entry marked observed by the mask is NaN or infinite")
    y = torch.where(mask, observed, torch.zeros((), dtype=observed.dtype, device=observed.device))
    return y, mask


def _require_window_skip(field: SpectralVelocityField) -> Any:
    skip = getattr(field, "skip", None)
    if skip is None or getattr(skip, "kind", None) != "window":
        raise ValueError("method='gaussian' needs a field with the window skip (skip='window'): it conditions "
                         "through the skip's covariance; use method='replacement' or 'guidance' for this model")
    return skip


def gaussian_update(field: SpectralVelocityField, t: torch.Tensor, prediction: torch.Tensor, y: torch.Tensor,
                    m: torch.Tensor) -> torch.Tensor:
    """D + C_t[:, o] C_t[o, o]⁻¹ (y − Dᵒ) with the window skip's posterior covariance C_t.

    Shape:
        t: (). prediction, y, m: (B, N, d). returns: (B, N, d).
    """
    skip = _require_window_skip(field)
    c = field.path.schedule.evaluate(t.double())
    return condition_on_observed(skip.posterior_covariance(c.alpha, c.sigma, field.config.condition_rank),
                                 prediction, y, m)


def _require_conditional(field: SpectralVelocityField) -> None:
    if not getattr(getattr(field, "config", None), "conditional", False):
        raise ValueError("method='field' needs a mask-conditioned field: train with conditional=True "
                         "(kernelops fit --conditional); for this model use 'gaussian', 'replacement' or 'guidance'")


def conditional_field(field: SpectralVelocityField, path: Any, y: torch.Tensor, m: torch.Tensor, eps: torch.Tensor, *,
                      method: str = "gaussian", guidance_scale: float = _SAMPLE.guidance_scale,
                      alpha_floor: float = _SAMPLE.alpha_floor
                      ) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The velocity f(t, x) of one conditioning method, for a solver (module docstring).

    Args:
        field: a :class:`~kernelops.flows.SpectralVelocityField` (``denoise``, ``coefficients``).
        path: its affine path.
        y: observations in model coordinates (0 where unobserved).
        m: bool mask, True where observed.
        eps: the standardised source noise of each draw (x₀/σ₀), for "replacement".
        method: one of :data:`METHODS`.
        guidance_scale: multiplies the guidance term (method "guidance").
        alpha_floor: the floor of α_t in the guidance weight (module docstring).

    Shape:
        y, m, eps: (B, N, d); the returned f takes t: () and x: (B, N, d).
    """
    if method not in METHODS:
        raise ValueError(f"method: expected one of {METHODS}, got {method!r}")
    if method == "field":
        _require_conditional(field)

        def given(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
            return field(t, x, observed=y, mask=m)
        return given

    if method == "gaussian":
        _require_window_skip(field)

        def conditioned(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
            _, _, a, b, _, _ = field.coefficients(t.reshape(1).to(x.dtype))
            prediction = gaussian_update(field, t, field.denoise(t, x), y, m)
            return a * x + b * prediction
        return conditioned

    if method == "replacement":
        def replaced(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
            c = path.schedule.evaluate(t.to(x.dtype))
            x = torch.where(m, c.alpha * y + c.sigma * eps, x)
            return torch.where(m, c.d_alpha * y + c.d_sigma * eps, field(t, x))
        return replaced

    check_guidance_scale(guidance_scale)

    def f(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        alpha, sigma, a, b, _, c_out = field.coefficients(t.reshape(1).to(x.dtype))
        with torch.enable_grad():
            x_req = x.detach().requires_grad_(True)
            prediction = field.denoise(t, x_req)
            error = torch.where(m, prediction - y, torch.zeros((), dtype=x.dtype, device=x.device)).square().sum()
            (grad,) = torch.autograd.grad(error, x_req)
        weight = guidance_scale * b * sigma.square() / (2 * alpha.clamp_min(alpha_floor) * c_out.square())
        velocity = a * x + b * prediction.detach()
        return (velocity - bounded_guidance(velocity, grad, weight)).detach()
    return f


def check_guidance_scale(scale: Any) -> float:
    """The guidance scale as a float; refuses what is not a finite number ≥ 0 (bool, NaN, inf, < 0)."""
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale) or scale < 0:
        raise ValueError(f"guidance_scale: expected a finite number ≥ 0, got {scale!r}")
    return float(scale)


def bounded_guidance(velocity: torch.Tensor, grad: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """The guidance term weight·grad, its norm capped per window at ``GUIDANCE_MAX_RATIO`` times the
    unguided velocity's, so a finite field gives a finite guided field for every scale.

    The cap is applied to the weight (min(w, ρ‖v‖/‖g‖)), never by forming w·g first, so a huge
    weight cannot overflow.

    Shape:
        velocity, grad: (B, N, d). weight: () or (1,). returns: (B, N, d).
    """
    v_norm = velocity.flatten(1).norm(dim=1)
    g_norm = grad.flatten(1).norm(dim=1)
    cap = GUIDANCE_MAX_RATIO * v_norm / g_norm.clamp_min(torch.finfo(grad.dtype).tiny)
    effective = torch.minimum(weight.reshape(-1).expand_as(cap), cap)
    return torch.nan_to_num(effective)[:, None, None] * grad


@torch.no_grad()
def sample_conditional(field: SpectralVelocityField, path: Any, solver: Any, observed: torch.Tensor, mask: torch.Tensor, *,
                       samples: int, steps: int | None, generator: torch.Generator, method: str = "gaussian",
                       guidance_scale: float = _SAMPLE.guidance_scale, batch_size: int = _SAMPLE.batch_size,
                       device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32,
                       alpha_floor: float = _SAMPLE.alpha_floor) -> tuple[torch.Tensor, int]:
    """``samples`` complete draws per window that equal the observations where ``mask`` is 1.

    All source noise is drawn at once on the CPU generator (independent of ``batch_size`` and
    device). Windows are integrated ``max(1, batch_size // samples)`` at a time, each with all its
    draws.

    Args:
        field, path, solver: the velocity field, its affine path and a solver object.
        observed: windows in model coordinates (any value where unobserved, e.g. NaN).
        mask: 1 / True where observed.
        samples: draws per window K.
        steps: solver steps (None for adaptive solvers).
        generator: CPU generator for the source noise.
        method: one of :data:`METHODS`.
        guidance_scale, alpha_floor: strength of method "guidance" and the floor of α_t in its weight.
        batch_size: states integrated together (about).
        device, dtype: where and in what precision to integrate.

    Returns:
        the draws (observed entries set to y exactly), and the largest NFE over the batches.

    Shape:
        observed, mask: (B, N, d). returns: (B, K, N, d) on ``device``.
    """
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ValueError(f"samples: expected a positive integer, got {samples!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size: expected a positive integer, got {batch_size!r}")
    if method not in METHODS:
        raise ValueError(f"method: expected one of {METHODS}, got {method!r}")
    check_guidance_scale(guidance_scale)
    y_all, m_all = check_observations(observed, mask, (field.seq_len, field.in_dim)
                                      if method in ("field", "gaussian") else None)
    windows, shape = y_all.shape[0], tuple(y_all.shape[1:])
    noise = path.sample_source((windows, samples, *shape), generator=generator, dtype=dtype)
    per_batch = max(1, batch_size // samples)
    out, nfe = [], 0
    was_training = field.training
    field.eval()
    try:
        for start in range(0, windows, per_batch):
            stop = min(start + per_batch, windows)
            k = (stop - start) * samples
            y = y_all[start:stop].to(device=device, dtype=dtype).repeat_interleave(samples, dim=0)
            m = m_all[start:stop].to(device).repeat_interleave(samples, dim=0)
            x0 = noise[start:stop].reshape(k, *shape).to(device)
            f = conditional_field(field, path, y, m, x0 / path.source_std, method=method,
                                  guidance_scale=guidance_scale, alpha_floor=alpha_floor)
            result = solver.solve(f, x0, 0.0, 1.0, steps)
            nfe = max(nfe, int(result.nfe))
            if not bool(torch.isfinite(result.x).all()):  # never hand back NaN or inf as if it were a draw
                raise FloatingPointError(f"method {method!r}: the draws became non-finite (the field diverged on "
                                         "these observations); try method 'gaussian' or 'replacement', or more steps")
            out.append(torch.where(m, y, result.x).reshape(stop - start, samples, *shape))
    finally:
        field.train(was_training)
    return torch.cat(out, dim=0), nfe


__all__ = ["bounded_guidance", "check_guidance_scale", "check_observations", "conditional_field", "gaussian_update",
           "sample_conditional"]
