"""Conditional sampling: complete windows that agree with observed entries (imputation, forecasting).

Given observations y on the entries where the mask m is 1, each method integrates a modified
field from the source (t = 0) to the data (t = 1) and finally sets the observed entries to y.
All are written for an affine path x_t = α_t x₁ + σ_t ε and a field v_t(x) = a_t x + b_t D_t(x)
with a clean-window prediction D (:class:`~kernelops.flows.SpectralVelocityField`); the
conditional field we want is v_t(x | y) = a_t x + b_t E[x₁ | x_t = x, x₁ᵒ = y].

* ``"field"`` — a field trained for it (``FieldConfig(conditional=True)``): D_t(x | y, m) is the
  skip Gaussian's exact posterior mean given x_t and x₁ᵒ = y plus a learned part that reads the
  mask and y (:mod:`kernelops.flows.field`, :mod:`kernelops.flows.masks`). No extra cost beyond
  the conditioning of the skip.

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
  version of y instead of y itself, which biases the unobserved coordinates towards the prior
  (measured in docs/conditional_generation.md).
* ``"guidance"`` — reconstruction guidance through the x₁-prediction: the velocity gets the
  gradient term −w_t ∇ₓ ‖m ⊙ (D_t(x) − y)‖², with
  w_t = scale · b_t σ_t² / (2 α_t c_out(t)²), the weight that turns ∇ log N(y; Dᵒ, c_out² I)
  into a velocity (Tweedie's formula), c_out² being the posterior variance of a scalar Gaussian
  with the data's variance. An approximation whose strength ``guidance_scale`` tunes: on
  Gaussian data with independent coordinates the term never reaches the free coordinates (they
  keep their exact law), with correlated ones it under-conditions them (measured in
  docs/conditional_generation.md). One backward pass through the field per evaluation. The
  term's norm is capped at ``GUIDANCE_MAX_RATIO`` times the unguided velocity's (per window), so
  no scale can make a finite field's draws non-finite; scales must be finite and ≥ 0.

The Gaussian conditioning ("gaussian", and the skip of "field") keeps the skip covariance's
leading ``FieldConfig.condition_rank`` (default 512) eigen-directions exactly and gives the
others their mean variance (:meth:`~kernelops.flows.skip.WindowGaussian.posterior_covariance`),
so one mask costs a Woodbury solve of that rank instead of a factorisation of the whole (N·d)²
matrix; it is exact for windows of up to that many values.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch

from kernelops.errors import ShapeError

if TYPE_CHECKING:
    from kernelops.flows.field import SpectralVelocityField
    from kernelops.flows.skip import PosteriorCovariance

#: conditioning methods of :func:`sample_conditional` (module docstring)
METHODS = ("field", "gaussian", "replacement", "guidance")
#: α_t below this counts as this in the guidance weight. The weight grows as 1/α_t; the exact
#: posterior mean's Jacobian shrinks as α_t and cancels it, a learned one does not, so near t = 0
#: a small floor multiplies the learned part's error (with 1e-3, guidance with the window
#: potential diverged on 1 400-value MuJoCo windows; 0.3 was the best of the floors measured on
#: MuJoCo and Sines, docs/conditional_generation.md)
ALPHA_FLOOR = 0.3
#: the guidance term's norm is at most this times the unguided velocity's, per window: a bound
#: by construction (without it scale 10 reached values of 1e16 and scale 100 NaN). 4 leaves the
#: default scale's draws as they were on Sines and nearly so on exactly Gaussian windows, where 1
#: cost accuracy (docs/conditional_generation.md)
GUIDANCE_MAX_RATIO = 4.0
#: jitter added to the diagonal of the conditioning system, relative to its largest entry
_JITTER = 1e-10


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


def conditioning_system(cov_t: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Cholesky factors of M C M + (I − M) for every window's mask M = diag(m).

    Solving with them gives C_oo⁻¹ r_o on the observed entries (and r on the others) for every
    window at once; the observed diagonal gets a jitter of ``_JITTER`` times C's largest
    variance. The dense exact solve of :func:`kernelops.flows.missing.fill_missing` (run once
    before training); sampling and the mask-conditioned field use :func:`condition_on_observed`.

    Shape:
        cov_t: (D, D). m: (B, D) bool. returns: (B, D, D).
    """
    mf = m.to(cov_t.dtype)
    system = mf[:, :, None] * cov_t * mf[:, None, :]
    scale = cov_t.diagonal().max().clamp_min(torch.finfo(cov_t.dtype).tiny)
    diag = torch.where(m, _JITTER * scale, torch.ones((), dtype=cov_t.dtype, device=cov_t.device))
    return torch.linalg.cholesky(system + torch.diag_embed(diag))


def masked_gram(eigvecs: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Uᵀ diag(m) U for every mask, summed over the observed rows or subtracted over the missing
    ones, whichever are fewer (U has orthonormal columns, so Uᵀ U = I).

    Shape:
        eigvecs: (D, k). masks: (n, D) bool. returns: (n, k, k).
    """
    rank = eigvecs.shape[1]
    eye = torch.eye(rank, dtype=eigvecs.dtype, device=eigvecs.device)
    out = torch.empty(masks.shape[0], rank, rank, dtype=eigvecs.dtype, device=eigvecs.device)
    for i, mask in enumerate(masks):
        if 2 * int(mask.sum()) <= mask.numel():
            rows = eigvecs[mask]
            out[i] = rows.T @ rows
        else:
            rows = eigvecs[~mask]
            out[i] = eye - rows.T @ rows
    return out


def condition_on_observed(cov: PosteriorCovariance, prediction: torch.Tensor, y: torch.Tensor, m: torch.Tensor
                          ) -> torch.Tensor:
    """The conditioned prediction of :func:`conditioned_with_variance`, without computing the variance."""
    return _conditioned(cov, prediction, y, m, variance=False)[0]


def conditioned_with_variance(cov: PosteriorCovariance, prediction: torch.Tensor, y: torch.Tensor, m: torch.Tensor
                              ) -> tuple[torch.Tensor, torch.Tensor]:
    """prediction + C[:, o] C[o, o]⁻¹ (y − predictionᵒ): a Gaussian with mean ``prediction`` and
    covariance C, conditioned on its observed entries being y.

    C = f I + U diag(δ) Uᵀ (:meth:`~kernelops.flows.skip.WindowGaussian.posterior_covariance`),
    so C_oo⁻¹ comes from the Woodbury identity with one k × k factorisation,
    f I_k + √δ (U_oᵀ U_o) √δ: O(N·d·k²) per mask instead of O((N·d)³). Computed in float64. With
    one time for every row (sampling), rows that share a mask share the factorisation (K draws of
    a window, or every window of a forecast); with one time per row (training), each row has its own.

    Also returns how much conditioning shrank the variance of the free entries: their mean
    conditional variance tr(C_mm − C_mo C_oo⁻¹ C_om)/|m| over the mean variance tr(C)/D of all
    entries (exactly 1 with nothing observed, and for a row with nothing free). From the same factor:
    tr over the free entries = f|m| + f (Σᵢ (A⁻¹)ᵢᵢ (δᵢ + f) − k), A = f I + √δ U_oᵀU_o √δ.

    Shape:
        cov: eigvecs (D, k); excess (k,) or (B, k); floor () or (B,). prediction, y, m: (B, N, d).
        returns: (B, N, d) and (B,).
    """
    conditioned, ratio = _conditioned(cov, prediction, y, m, variance=True)
    assert ratio is not None
    return conditioned, ratio


def _conditioned(cov: PosteriorCovariance, prediction: torch.Tensor, y: torch.Tensor, m: torch.Tensor, *,
                 variance: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    u, excess, floor = cov
    rows, rank = prediction.shape[0], u.shape[1]
    flat_m = m.reshape(rows, -1)
    zero = torch.zeros((), dtype=torch.float64, device=y.device)
    residual = torch.where(flat_m, y.reshape(rows, -1).double() - prediction.reshape(rows, -1).double(), zero)
    masks, which = torch.unique(flat_m, dim=0, return_inverse=True)
    gram = masked_gram(u, masks)
    root = excess.sqrt()
    projected = root * (residual @ u)  # √δ ⊙ U_oᵀ r, (B, k)
    eye = torch.eye(rank, dtype=torch.float64, device=u.device)
    if excess.dim() == 1:  # one time: one factorisation per distinct mask
        chol = torch.linalg.cholesky(floor * eye + root[:, None] * gram * root[None, :])
        solved = torch.empty_like(projected)
        for j in range(masks.shape[0]):
            rows_j = (which == j).nonzero()[:, 0]
            solved[rows_j] = torch.cholesky_solve(projected[rows_j].T, chol[j]).T
        f = floor
    else:
        chol = torch.linalg.cholesky(floor[:, None, None] * eye + root[:, :, None] * gram[which] * root[:, None, :])
        solved = torch.cholesky_solve(projected[:, :, None], chol)[:, :, 0]
        f = floor[:, None]
    weights = torch.where(flat_m, (residual - (root * solved) @ u.T) / f, zero)  # C_oo⁻¹ r_o (Woodbury)
    update = f * weights + (excess * (weights @ u)) @ u.T  # C[:, o] w
    conditioned = prediction + update.reshape(prediction.shape).to(prediction.dtype)
    if not variance:
        return conditioned, None
    inverse_diagonal = torch.cholesky_inverse(chol).diagonal(dim1=-2, dim2=-1)  # (masks or B, k)
    if excess.dim() == 1:
        inverse_diagonal = inverse_diagonal[which]
    free = (~flat_m).sum(1).to(torch.float64)
    f_row = f.reshape(-1) if f.dim() else f
    free_total = f_row * free + f_row * ((inverse_diagonal * (excess + f)).sum(-1) - rank)
    total = f_row * flat_m.shape[1] + excess.sum(-1)
    ratio = (free_total.clamp_min(0) / free.clamp_min(1)) / (total / flat_m.shape[1])
    # exactly 1 where nothing is observed (the unconditional field) or nothing is free
    ratio = torch.where((free > 0) & flat_m.any(1), ratio, torch.ones_like(ratio))
    return conditioned, ratio.expand(rows)


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
                      method: str = "gaussian", guidance_scale: float = 1.0
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
        weight = guidance_scale * b * sigma.square() / (2 * alpha.clamp_min(ALPHA_FLOOR) * c_out.square())
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
                       guidance_scale: float = 1.0, batch_size: int = 1000, device: torch.device | str = "cpu",
                       dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, int]:
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
        guidance_scale: strength of method "guidance".
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
                                  guidance_scale=guidance_scale)
            result = solver.solve(f, x0, 0.0, 1.0, steps)
            nfe = max(nfe, int(result.nfe))
            if not bool(torch.isfinite(result.x).all()):  # never hand back NaN or inf as if it were a draw
                raise FloatingPointError(f"method {method!r}: the draws became non-finite (the field diverged on "
                                         "these observations); try method 'gaussian' or 'replacement', or more steps")
            out.append(torch.where(m, y, result.x).reshape(stop - start, samples, *shape))
    finally:
        field.train(was_training)
    return torch.cat(out, dim=0), nfe


__all__ = ["ALPHA_FLOOR", "GUIDANCE_MAX_RATIO", "METHODS", "bounded_guidance", "check_guidance_scale",
           "check_observations", "condition_on_observed", "conditioning_system", "conditional_field",
           "conditioned_with_variance", "gaussian_update", "masked_gram", "sample_conditional"]
