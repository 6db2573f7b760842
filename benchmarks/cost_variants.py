"""Cost levers of the chain's training step that were measured and not kept (benchmarks/flow_cost.py, part L).

Each is exact (tests/benchmarks/test_cost_variants_*.py) and measured slower than, or no faster
than, what the library does, so the library holds only the winner; they live here so the
measurement can be repeated.

* :func:`identity_plus_chain_real`: the identity-plus chain in real arithmetic. A complex row
  vector z ∈ C^m is held as the real row [Re z, Im z] ∈ R^{2m}, a complex matrix A ∈ C^{m×n} acting on
  rows (z ↦ zA) as its real block form R(A) = [[Re A, Im A], [−Im A, Re A]]. One transfer step
  v ← u + g·((u Lhᵀ) ⊙ h) Rh with u = vΛ takes two real batched products,

      [u, p] = v [R(Λ) | R(Λ Lhᵀ)],   q = [p ⊙ [Re h, Im h], p ⊙ [Im h, Re h]],   v ← u + q M,

  M = [T; −T; S; S] with T, S the halves of R(g·Rh): the signs and sums of the complex products
  are folded into M so that a step is three operations, at the price of twice the multiply-adds of
  the complex products (R(Λ) is dense, q has four real products per complex entry). The last Λ is
  folded into the end: TN = Σ v ⊙ (Λη̃).
* :func:`first_order_loss`: the flow-matching loss with a first-order parameter gradient. With
  F = −∇_y f and D = S + c_out·F(c_in x), ∇_θ Σ c ⊙ (D − x̂)² = −∇_θ Σ_b ⟨d_b, ∇_y f(y_b)⟩ for the
  fixed d = stop_grad(2c ⊙ (D − x̂))·c_out (1/b without a skip): a directional derivative, taken by
  the central difference ‖d_b‖·(f(y_b + εd̂_b) − f(y_b − εd̂_b))/2ε, both evaluations in one call of
  twice the batch. Where f is smooth on the segment (SiLU; the chain's squared ReLU away from its
  kinks) its θ-gradient is off by ‖d_b‖·(ε²/6)·∇_θ∂³_{d̂}f plus rounding u·|∇_θ f|/ε; the step
  ε ≈ u^{1/3} balances the two. The value is computed exactly (F from one input gradient) and the
  returned tensor is value + (S − stop_grad(S)).
"""

from __future__ import annotations

import torch

from kernelops.chains._checks import check_chain_tensor

__all__ = ["central_difference_step", "first_order_loss", "identity_plus_chain_real", "real_block"]


def real_block(a: torch.Tensor) -> torch.Tensor:
    """R(A) = [[Re A, Im A], [−Im A, Re A]]: the real matrix of z ↦ zA on rows [Re z, Im z].

    Shape:
        a: (..., m, n) complex. returns: (..., 2m, 2n) real.
    """
    re, im = a.real, a.imag
    return torch.cat([torch.cat([re, im], -1), torch.cat([-im, re], -1)], -2)


def _real_row(z: torch.Tensor) -> torch.Tensor:
    """[Re z, Im z] along the last axis. Shape: (..., m) complex → (..., 2m) real."""
    return torch.cat([z.real, z.imag], -1)


def identity_plus_chain_real(h: torch.Tensor, start: torch.Tensor, B: torch.Tensor,  # noqa: N803
                             Lh: torch.Tensor, Rh: torch.Tensor, end: torch.Tensor,  # noqa: N803
                             H: torch.Tensor, eigvals: torch.Tensor, gain: torch.Tensor,  # noqa: N803
                             *, check_finite: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """TN(x) of :func:`~kernelops.chains.identity_plus_chain_evaluate` from features in real form.

    Args:
        h: per-step features as real rows [Re h, Im h] per block (``torch.cat([h.real, h.imag], -1)``).
        start, B, Lh, Rh, end, H, eigvals: the chain's complex vectors and heads, as for
            :func:`~kernelops.chains.identity_plus_chain_evaluate`.
        gain: g per block (real, > 0).
        check_finite: also reject NaN/inf inputs (a device sync; off in training loops).

    Shape:
        h: (batch, N, L, 2k) real with N ≥ 1. start, end, eigvals: (L, r) complex. B, Lh, Rh, H:
        (L, k, r) complex. gain: (L,). returns: (Re TN, Im TN), each (batch,) in h's dtype.

    Raises:
        ShapeError: a tensor has the wrong shape (the message names it), N = 0, or NaN/inf.
    """
    check_chain_tensor(h, "h", ("batch", "N", "L", "2k"), (None, None, None, None), finite=check_finite)
    _, steps, nblocks, two_k = h.shape
    if h.is_complex() or two_k % 2:
        raise ValueError(f"h: expected real rows [Re h, Im h] of even length 2k, got dtype {h.dtype} and "
                         f"length {two_k}")
    k = two_k // 2
    check_chain_tensor(B, "B", ("L", "k", "r"), (nblocks, k, None), finite=check_finite)
    r = B.shape[-1]
    for name, head in (("Lh", Lh), ("Rh", Rh), ("H", H)):
        check_chain_tensor(head, name, ("L", "k", "r"), (nblocks, k, r), finite=check_finite)
    for name, vec in (("start", start), ("end", end), ("eigvals", eigvals)):
        check_chain_tensor(vec, name, ("L", "r"), (nblocks, r), finite=check_finite)
    check_chain_tensor(gain, "gain", ("L",), (nblocks,), finite=check_finite)
    rdt = h.dtype
    cdt = torch.complex128 if rdt == torch.float64 else torch.complex64
    g = gain.to(rdt)[:, None, None]
    lam = eigvals.to(cdt)
    # blocks lead and the batch is the rows of one batched product per block: (N, L, batch, 2k)
    steps_first = h.permute(1, 2, 0, 3)
    v = torch.baddbmm(_real_row(start.to(cdt)).unsqueeze(1), steps_first[0], g * real_block(B.to(cdt)))
    if steps > 2:
        mid = steps_first[1:-1]
        swapped = torch.cat([mid[..., k:], mid[..., :k]], -1)
        # per step (L, batch, 2, 2k): [[Re h, Im h], [Im h, Re h]], the factors of p's four products
        factors = torch.stack([mid, swapped], -2)
        first = torch.cat([real_block(torch.diag_embed(lam)),
                           real_block(lam[:, :, None] * Lh.to(cdt).transpose(-1, -2))], -1)
        right = g * real_block(Rh.to(cdt))
        top, bottom = right[:, :k], right[:, k:]
        second = torch.cat([top, -top, bottom, bottom], 1)  # (L, 4k, 2r)
        two_r = 2 * r
        for hn in factors.unbind(0):
            up = torch.bmm(v, first)  # [u, p]: (L, batch, 2r + 2k)
            q = (up[..., two_r:].unsqueeze(-2) * hn).flatten(-2)
            v = torch.baddbmm(up[..., :two_r], q, second)
    # Λη̃ = Λe₀ + g·h (HΛ): the chain's last Λ folded into the end
    end_lam = torch.baddbmm(_real_row(lam * end.to(cdt)).unsqueeze(1), steps_first[-1],
                            g * real_block(H.to(cdt) * lam[:, None, :]))
    er, ei = end_lam[..., :r], end_lam[..., r:]
    vr, vi = v[..., :r], v[..., r:]
    re = (vr * er - vi * ei).sum(dim=(0, 2))
    im = (vr * ei + vi * er).sum(dim=(0, 2))
    return re, im


def central_difference_step(dtype: torch.dtype) -> float:
    """ε of the central difference in y's units (y has unit variance per entry): about u^{1/3},
    the step that balances the ε² truncation against the u/ε rounding (u: the unit round-off)."""
    return 1e-5 if dtype == torch.float64 else 5e-3


def first_order_loss(field: torch.nn.Module, t: torch.Tensor, x_t: torch.Tensor, clean: torch.Tensor,
                     mask: torch.Tensor | None = None, *, eps: float | None = None) -> torch.Tensor:
    """The loss of :class:`~kernelops.flows.loss.FlowMatchingObjective` on one batch of an
    unconditional :class:`~kernelops.flows.field.SpectralVelocityField`, with the first-order gradient.

    Args:
        field: the field (``coefficients``, ``loss_weight``, ``skip``, ``potential_net``).
        t: flow times. x_t: the noised windows. clean: the target x̂₁.
        mask: entries the loss is taken over (None: all).
        eps: central-difference step (None: :func:`central_difference_step` of the dtype).

    Shape:
        t: (batch,). x_t, clean, mask: (batch, N, d). returns: () real.
    """
    coefficients = field.coefficients(t)  # type: ignore[operator]
    weight = field.loss_weight(t)  # type: ignore[operator]
    alpha, sigma, a, b, c_in, c_out = coefficients
    no_skip = field.skip is None
    y = x_t if no_skip else c_in[:, None, None] * x_t
    potential = field.potential_net
    with torch.no_grad():
        with torch.enable_grad():
            y_in = y.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(potential(y_in, t).sum(), y_in)
        if no_skip:
            prediction = (-grad - a[:, None, None] * x_t) / b[:, None, None]
            out_scale = 1 / b
        else:
            prediction = field.skip(x_t, alpha, sigma) - c_out[:, None, None] * grad  # type: ignore[operator]
            out_scale = c_out
        error = weight[:, None, None] * (prediction - clean).square()
        per_entry = 2 * weight[:, None, None] * (prediction - clean)
        if mask is None:
            value = error.mean()
            per_entry = per_entry / error.numel()
        else:
            m = mask.to(device=error.device, dtype=error.dtype)
            count = m.sum().clamp_min(1.0)
            value = (error * m).sum() / count
            per_entry = per_entry * m / count
        direction = out_scale[:, None, None] * per_entry
        size = direction.flatten(1).norm(dim=1)
        unit = direction / size.clamp_min(torch.finfo(size.dtype).tiny)[:, None, None]
    step = central_difference_step(y.dtype) if eps is None else float(eps)
    y_pair = torch.cat([y.detach() + step * unit, y.detach() - step * unit])
    f_pair = potential(y_pair, torch.cat([t, t]))
    batch = y.shape[0]
    # −Σ_b ‖d_b‖ (f(y + εd̂) − f(y − εd̂)) / 2ε ≈ −Σ_b ⟨d_b, ∇f(y_b)⟩: the loss's θ-gradient
    surrogate = -(size * (f_pair[:batch] - f_pair[batch:])).sum() / (2 * step)
    return value + (surrogate - surrogate.detach())
