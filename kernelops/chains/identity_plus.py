"""The identity-plus spectral chain: a factored chain over features with a constant coordinate.

With per-step complex features h ∈ C^k, block heads B, Lh, Rh, H ∈ C^{k×r}, constant start and end
vectors b₀, e₀ ∈ C^r, a gain g > 0 and Λ = diag(λ),

    β̃(x) = b₀ + g·hB,   W̃(x) = I + g·Lhᵀ diag(h) Rh,   η̃(x) = e₀ + g·hH,
    TN(x) = β̃(x¹)ᵀ Λ W̃(x²) Λ ⋯ Λ W̃(x^{N−1}) Λ η̃(x^N)        (N = 1: β̃(x¹)ᵀ Λ η̃(x¹)).

This is the chain of :func:`~kernelops.chains.factored_chain_evaluate` over the features
(1, …, 1, g·h) with r constant coordinates whose transfer heads are the identity and whose start
and end rows hold b₀ and e₀: the per-step kernel is 1 + g²k₀, and the product over N steps expands
into a sum over subsets of steps (an ANOVA kernel) whose low orders dominate when g is small. A
chain of random transfers W(x) instead multiplies N random matrices, whose product changes direction
chaotically with its inputs (docs/spectral_mean_flow.md, "Why the chain did not learn").
W̃ is never formed: v ← u + g·Rhᵀ((Lh u) ⊙ h) with u = Λv costs O(k·r) per step.
"""

from __future__ import annotations

import torch

from kernelops.chains._checks import check_chain_tensor

__all__ = ["identity_plus_chain_evaluate"]


def identity_plus_chain_evaluate(h: torch.Tensor, start: torch.Tensor, B: torch.Tensor,  # noqa: N803
                                 Lh: torch.Tensor, Rh: torch.Tensor, end: torch.Tensor,  # noqa: N803
                                 H: torch.Tensor, eigvals: torch.Tensor, gain: torch.Tensor,  # noqa: N803
                                 *, check_finite: bool = True) -> torch.Tensor:
    """TN(x) of the identity-plus chain (module docstring), one independent chain per block, summed.

    Args:
        h: per-step features (complex), in block form.
        start: b₀, the start vector of every block.
        B: start head, β̃ = b₀ + g·hB.
        Lh, Rh: transfer heads, W̃(x) = I + g·Lhᵀ diag(h) Rh.
        end: e₀, the end vector of every block.
        H: end head, η̃ = e₀ + g·hH.
        eigvals: the diagonal of Λ per block.
        gain: g per block (real, > 0).
        check_finite: also reject NaN/inf inputs (a device sync; off in training loops).

    Shape:
        h: (batch, N, L, k) with N ≥ 1. start, end, eigvals: (L, r). B, Lh, Rh, H: (L, k, r).
        gain: (L,). returns: (batch,) in the common (complex) dtype.

    Raises:
        ShapeError: a tensor has the wrong shape (the message names it), N = 0, or NaN/inf.
    """
    check_chain_tensor(h, "h", ("batch", "N", "L", "k"), (None, None, None, None), finite=check_finite)
    _, steps, nblocks, k = h.shape
    check_chain_tensor(B, "B", ("L", "k", "r"), (nblocks, k, None), finite=check_finite)
    r = B.shape[-1]
    for name, head in (("Lh", Lh), ("Rh", Rh), ("H", H)):
        check_chain_tensor(head, name, ("L", "k", "r"), (nblocks, k, r), finite=check_finite)
    for name, vec in (("start", start), ("end", end), ("eigvals", eigvals)):
        check_chain_tensor(vec, name, ("L", "r"), (nblocks, r), finite=check_finite)
    check_chain_tensor(gain, "gain", ("L",), (nblocks,), finite=check_finite)
    cdt = h.dtype
    # blocks lead and the batch is the rows of one (batch × k) @ (k × r) product per block
    per_step = h.permute(1, 2, 0, 3).unbind(0)  # N × (L, batch, k)
    g = gain.to(cdt)[:, None, None]
    lam = eigvals.to(cdt).unsqueeze(1)  # (L, 1, r)
    l_head_t = Lh.to(cdt).transpose(-1, -2)  # (L, r, k)
    r_head = Rh.to(cdt)
    v = start.to(cdt).unsqueeze(1) + g * torch.bmm(per_step[0], B.to(cdt))  # β̃: (L, batch, r)
    for hn in per_step[1:-1]:
        u = v * lam
        v = u + g * torch.bmm(torch.bmm(u, l_head_t) * hn, r_head)
    eta = end.to(cdt).unsqueeze(1) + g * torch.bmm(per_step[-1], H.to(cdt))
    return (v * lam * eta).sum(dim=(0, 2))
