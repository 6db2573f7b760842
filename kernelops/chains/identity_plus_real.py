"""The identity-plus spectral chain in real arithmetic: the same TN(x), every product a real matmul.

:func:`~kernelops.chains.identity_plus_chain_evaluate` contracts complex features with complex heads.
Here a complex row vector z ∈ C^m is held as the real row [Re z, Im z] ∈ R^{2m}, and a complex matrix
A ∈ C^{m×n} acting on row vectors (z ↦ zA) as its real block form

    R(A) = [[Re A, Im A], [−Im A, Re A]] ∈ R^{2m×2n},   [Re z, Im z] R(A) = [Re zA, Im zA].

One transfer step v ← u + g·((u Lhᵀ) ⊙ h) Rh with u = vΛ then takes two real batched products:

    [u, p] = v [R(Λ) | R(Λ Lhᵀ)],                         p = [Re p, Im p] = u Lhᵀ,
    q = [p ⊙ [Re h, Im h], p ⊙ [Im h, Re h]]              (the four real products of p ⊙ h),
    v ← u + q M,   M = [T; −T; S; S],  T, S the upper and lower halves of R(g·Rh),

since Re(p ⊙ h) = Re p Re h − Im p Im h and Im(p ⊙ h) = Re p Im h + Im p Re h: the signs and sums
of the complex product are folded into M, so a step is one product, one elementwise product with
the step's features and one fused multiply-add product. The last Λ is folded into the end:
TN = Σ v ⊙ (Λ η̃) with Λη̃ = Λe₀ + g·h (HΛ). Real matmuls avoid the complex kernels' extra passes
and the complex autograd formulas (conjugations) in the double backward of flow matching.
"""

from __future__ import annotations

import torch

from kernelops.chains._checks import check_chain_tensor

__all__ = ["identity_plus_chain_real", "real_block"]


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
        h: per-step features as real rows [Re h, Im h] per block (what
            :meth:`~kernelops.features.SpectralMLP.real_features` returns, reshaped to blocks).
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
