"""Factored spectral chains: the read-out-head form used by the neural spectral mean flow.

With complex per-step features h ∈ C^K and heads B, Lh, Rh, H ∈ C^{K×r} (docs/theory.md)

    β(x) = hB,   W(x) = Lhᵀ diag(h) Rh,   η(x) = hH,
    TN(x) = β(x¹)ᵀ Λ W(x²) Λ ⋯ Λ W(x^{N−1}) Λ η(x^N)   (features NOT conjugated).

A chain of one step (N = 1) has a start and an end head but no transfer: TN(x) = β(x¹)ᵀ Λ η(x¹),
the N = 2 chain read on the diagonal x² = x¹. It is a bilinear form in the features, so
Re TN is still a witness of a (product-feature) kernel; it is what a spectral mean flow on
points rather than sequences uses (docs/theory.md, "One step").

This is :meth:`SpectralChain.evaluate` with start = Bᵀ, end = Hᵀ and the rank-one-per-feature
transfer tensor transfer[k, i, j] = Lh[k, i]·Rh[k, j], but W(x) is never formed: the running row
vector is updated as v ← Rhᵀ((Lh(Λv)) ⊙ h), which costs O(K·r) per step instead of O(K·r²).

Block-diagonal heads (one block per network layer) are given per block: h (batch, N, L, k), heads
(L, k, r_b), eigenvalues (L, r_b) or flat (L·r_b,). Block-diagonal heads make every W(x)
block-diagonal, so TN is the sum over blocks of L independent chains; the log-scale variant
renormalises all blocks jointly, which is exactly the log-scale pass of the assembled chain.

Everything is plain differentiable torch (matmul, mul, norm), so it can be differentiated
twice, as flow-matching training does (the velocity is a gradient of TN).

**Two contractions.** ``contraction="sequential"`` runs the left-to-right vector
pass above: N steps in sequence, O(K·r) work each. ``contraction="scan"`` forms every step's
(r, r) matrix M(xⁿ) = Λ Lhᵀ diag(hⁿ) Rh and multiplies them pairwise in ⌈log₂ N⌉ rounds
(:func:`kernelops.chains.scan.tree_matmul_logscale`): O(log N) sequential depth, but O(K·r²)
work and memory per step, r times the sequential pass's. The normalised value does not depend
on how the product is grouped: the running norms telescope, Z(x) is the joint norm of the final
state β(x¹)ᵀ Λ W(x²) ⋯ W(x^{N−1}), so TN/Z is the final state's direction against Λη, which the
scan gets from its unit-norm product and the blocks' log scales. Both agree to rounding, values
and derivatives (tests/chains/test_chains_factored_scan.py). On the CPU the sequential
pass is the faster at every N benchmarked (benchmarks/results/long_sequences.md), so ``"auto"``
(:func:`choose_contraction`) picks it there; the scan is for devices where the N sequential
small kernels, not arithmetic, bound the time.
"""

from __future__ import annotations

import torch

from kernelops.chains._checks import check_chain_tensor, common_dtype, fmt_shape
from kernelops.errors import ShapeError

__all__ = ["CONTRACTIONS", "choose_contraction", "factored_chain_evaluate"]

#: the ways to contract the chain (module docstring)
CONTRACTIONS = ("sequential", "scan", "auto")


def choose_contraction(steps: int, device: torch.device) -> str:
    """The contraction ``"auto"`` uses for chains of ``steps`` steps on ``device``.

    The sequential pass, the faster of the two on the CPU at every length benchmarked
    (benchmarks/results/long_sequences.md); the scan has not been timed on a GPU.
    """
    del steps, device  # one answer until a measurement says otherwise
    return "sequential"

_HEADS = ("B", "Lh", "Rh", "H")


def _validate(
    h: torch.Tensor, heads: tuple[torch.Tensor, ...], eigvals: torch.Tensor, finite: bool
) -> tuple[torch.Tensor, tuple[torch.Tensor, ...], torch.Tensor]:
    """Check shapes; return everything in block form: h (b, N, L, k), heads (L, k, r), λ (L, r)."""
    if not isinstance(h, torch.Tensor) or h.dim() not in (3, 4):
        got = fmt_shape(h.shape) if isinstance(h, torch.Tensor) else type(h).__name__
        raise ShapeError(f"h: expected shape (batch, N, K) or, for block heads, (batch, N, L, k), got {got}")
    if h.shape[1] < 1:
        raise ShapeError(f"h: expected N >= 1 steps, got shape {fmt_shape(h.shape)}")
    block = h.dim() == 4
    if block:
        check_chain_tensor(h, "h", ("batch", "N", "L", "k"), (None, None, None, None), finite=finite)
        _, _, nblocks, k = h.shape
        check_chain_tensor(heads[0], "B", ("L", "k", "r"), (nblocks, k, None), finite=finite)
        r = heads[0].shape[-1]
        for name, head in zip(_HEADS[1:], heads[1:]):
            check_chain_tensor(head, name, ("L", "k", "r"), (nblocks, k, r), finite=finite)
        if isinstance(eigvals, torch.Tensor) and eigvals.dim() == 1:
            check_chain_tensor(eigvals, "eigvals", ("L*r",), (nblocks * r,), finite=finite)
            eigvals = eigvals.reshape(nblocks, r)
        else:
            check_chain_tensor(eigvals, "eigvals", ("L", "r"), (nblocks, r), finite=finite)
    else:
        check_chain_tensor(h, "h", ("batch", "N", "K"), (None, None, None), finite=finite)
        k = h.shape[-1]
        check_chain_tensor(heads[0], "B", ("K", "r"), (k, None), finite=finite)
        r = heads[0].shape[-1]
        for name, head in zip(_HEADS[1:], heads[1:]):
            check_chain_tensor(head, name, ("K", "r"), (k, r), finite=finite)
        check_chain_tensor(eigvals, "eigvals", ("r",), (r,), finite=finite)
        h, heads, eigvals = h.unsqueeze(2), tuple(x.unsqueeze(0) for x in heads), eigvals.unsqueeze(0)
    devices = {t.device for t in (h, eigvals, *heads)}
    if len(devices) > 1:
        raise ShapeError(f"h, B, Lh, Rh, H, eigvals: expected tensors on one device, got {sorted(map(str, devices))}")
    return h, heads, eigvals


def factored_chain_evaluate(
    h: torch.Tensor,
    B: torch.Tensor,  # noqa: N803 - the paper's names
    Lh: torch.Tensor,  # noqa: N803
    Rh: torch.Tensor,  # noqa: N803
    H: torch.Tensor,  # noqa: N803
    eigvals: torch.Tensor,
    *,
    log_scale: bool = False,
    normalise: bool = False,
    check_finite: bool = True,
    contraction: str = "auto",
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """TN(x) = β(x¹)ᵀ Λ W(x²) Λ ⋯ Λ W(x^{N−1}) Λ η(x^N) with factored heads (no conjugation; N = 1: β(x¹)ᵀ Λ η(x¹)).

    Args:
        h: per-step features (usually complex).
        B: start head, β(x) = hB.
        Lh: left transfer head.
        Rh: right transfer head, W(x) = Lhᵀ diag(h) Rh.
        H: end head, η(x) = hH.
        eigvals: the diagonal of Λ.
        log_scale: return ``(log_abs, phase)`` with TN = phase · exp(log_abs), finite for any N.
        normalise: return TN(x)/Z(x), where Z(x) > 0 is the product of the running state's
            norms (all blocks of a sequence jointly) taken after β and after every transfer
            step. Z is a smooth function of the sequence and is differentiated (not detached),
            so a potential built on TN/Z is still an exact gradient potential; it is bounded
            for any N, where TN itself under- or overflows.
        check_finite: also reject NaN/inf inputs (a device sync; turn off in hot training loops
            once inputs are known to be sane).
        contraction: "sequential", "scan" or "auto" (the default: :func:`choose_contraction`);
            the same value to rounding (module docstring).

    Returns:
        TN per sequence, TN/Z with ``normalise``, or the ``(log_abs, phase)`` pair with ``log_scale``.

    Shape:
        dense heads: h (batch, N, K); B, Lh, Rh, H (K, r); eigvals (r,).
        block heads: h (batch, N, L, k); B, Lh, Rh, H (L, k, r_b); eigvals (L, r_b) or (L·r_b,).
        returns: (batch,); with ``log_scale`` log_abs (batch,) real and phase (batch,).

    Raises:
        ShapeError: a tensor has the wrong shape (the message names it), N = 0, NaN/inf, mixed devices.
    """
    if log_scale and normalise:
        raise ValueError("log_scale and normalise: choose one (both rescale the running state)")
    if contraction not in CONTRACTIONS:
        raise ValueError(f"contraction: expected one of {CONTRACTIONS}, got {contraction!r}")
    h, heads, lam = _validate(h, (B, Lh, Rh, H), eigvals, check_finite)
    dtype = common_dtype(h, lam, *heads)
    b_head, l_head, r_head, h_head = (x.to(dtype) for x in heads)
    if contraction == "auto":
        contraction = choose_contraction(h.shape[1], h.device)
    if contraction == "scan":
        return _scan(h.to(dtype), b_head, l_head, r_head, h_head, lam.to(dtype), log_scale=log_scale,
                     normalise=normalise)
    # Blocks lead and the batch is the rows of one (batch × k) @ (k × r) product per block, so
    # every step is a batched GEMM. The steps are split with unbind: indexing h[:, n] in the
    # loop would make the backward allocate and fill a full-size zero tensor per step.
    steps = h.to(dtype).permute(1, 2, 0, 3).contiguous().unbind(0)  # N × (L, batch, k)
    lam = lam.to(dtype).unsqueeze(1)  # (L, 1, r)
    l_head_t = l_head.transpose(-1, -2)  # (L, r, k)
    batch = h.shape[0]
    tiny = torch.finfo(h.real.dtype if h.is_complex() else h.dtype).tiny
    log_acc = torch.zeros(batch, dtype=steps[0].real.dtype, device=h.device) if log_scale else None

    def rescale(v: torch.Tensor) -> torch.Tensor:
        nonlocal log_acc
        sq = (v.real.square() + v.imag.square()) if v.is_complex() else v.square()
        norm = sq.sum(dim=(0, 2)).clamp_min(tiny).sqrt()  # (batch,): all blocks jointly
        if log_acc is not None:
            log_acc = log_acc + norm.log()
        return v / norm.unsqueeze(-1)

    v = torch.bmm(steps[0], b_head)  # β: (L, batch, r)
    if normalise or log_scale:
        v = rescale(v)
    for hn in steps[1:-1]:
        # v ← Rhᵀ((Lh (Λ v)) ⊙ h): two thin GEMMs, W(xⁿ) is never formed
        v = torch.bmm(torch.bmm(v * lam, l_head_t) * hn, r_head)
        if normalise or log_scale:
            v = rescale(v)
    val = (v * lam * torch.bmm(steps[-1], h_head)).sum(dim=(0, 2))
    if not log_scale:
        return val
    assert log_acc is not None
    mag = val.abs()
    safe = torch.where(mag > 0, mag, torch.ones_like(mag))
    phase = torch.where(mag > 0, val / safe.to(val.dtype), torch.ones_like(val))
    return torch.log(mag) + log_acc, phase


def _scan(h: torch.Tensor, b_head: torch.Tensor, l_head: torch.Tensor, r_head: torch.Tensor, h_head: torch.Tensor,
          lam: torch.Tensor, *, log_scale: bool, normalise: bool) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """The tree-scan contraction (module docstring), in block form.

    Shape:
        h: (batch, N, L, k). heads: (L, k, r). lam: (L, r). returns: as factored_chain_evaluate.
    """
    from kernelops.chains.scan import tree_matmul_logscale

    hb = h.permute(2, 0, 1, 3)  # (L, batch, N, k)
    beta = torch.einsum("lbk,lkr->lbr", hb[:, :, 0], b_head)
    end = lam.unsqueeze(1) * torch.einsum("lbk,lkr->lbr", hb[:, :, -1], h_head)  # Λη: (L, batch, r)
    real = beta.real.dtype if beta.is_complex() else beta.dtype
    if h.shape[1] > 2:
        # M(xⁿ) = Λ Lhᵀ diag(hⁿ) Rh for the N − 2 transfer steps: (L, batch, N − 2, r, r)
        mats = torch.einsum("lr,lkr,lbnk,lks->lbnrs", lam, l_head, hb[:, :, 1:-1], r_head)
        unit, logs = tree_matmul_logscale(mats)  # product = exp(logs)·unit, per block and sequence
        state = torch.einsum("lbr,lbrs->lbs", beta, unit)
    else:
        state, logs = beta, torch.zeros(beta.shape[:2], dtype=real, device=h.device)
    # the blocks' states share one scale: the largest block's, so none overflows
    top = logs.max(dim=0).values  # (batch,)
    state = state * torch.exp(logs - top).unsqueeze(-1).to(state.dtype)
    val = (state * end).sum(dim=(0, 2))
    if normalise:
        sq = (state.real.square() + state.imag.square()) if state.is_complex() else state.square()
        tiny = torch.finfo(real).tiny
        return val / sq.sum(dim=(0, 2)).clamp_min(tiny).sqrt().to(val.dtype)
    if not log_scale:
        return val * torch.exp(top).to(val.dtype)
    mag = val.abs()
    safe = torch.where(mag > 0, mag, torch.ones_like(mag))
    phase = torch.where(mag > 0, val / safe.to(val.dtype), torch.ones_like(val))
    return torch.log(mag) + top, phase
