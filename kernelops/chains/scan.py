"""Associative (tree) reduction of an ordered product of matrices, plain and log-scaled.

A chain contraction is an ordered product M₁M₂⋯M_m of small (r, r) matrices. Matrix
multiplication is associative, so the product can be formed by multiplying adjacent pairs
level by level: ⌈log₂ m⌉ rounds, each one batched matmul over all pairs at once. That is the
parallel-prefix (scan) form of the contraction: O(log m) sequential depth instead of O(m), at
O(m·r³) total work instead of the O(m·r²) of a left-to-right vector pass.

The log-scaled variant keeps every partial product at unit Frobenius norm and carries the
logarithm of the removed scale, so products of thousands of contracting (or expanding)
matrices neither underflow nor overflow. Combining (A, a) and (B, b) gives
(AB/‖AB‖, a + b + log‖AB‖), which is again associative.
"""

from __future__ import annotations

import torch

__all__ = ["tree_matmul", "tree_matmul_logscale"]


def _pairwise(mats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Multiply adjacent pairs (0·1, 2·3, …); an odd last matrix is returned separately."""
    m = mats.shape[-3]
    tail = mats[..., m - 1 :, :, :] if m % 2 else None
    even = mats[..., 0 : m - 1 : 2, :, :] if m % 2 else mats[..., 0::2, :, :]
    odd = mats[..., 1::2, :, :]
    return even @ odd, tail


def tree_matmul(mats: torch.Tensor) -> torch.Tensor:
    """Ordered product ``mats[..., 0, :, :] @ mats[..., 1, :, :] @ … @ mats[..., m-1, :, :]``.

    Args:
        mats: the factors, in order along axis -3 (m ≥ 1).

    Returns:
        Their product, formed by ⌈log₂ m⌉ rounds of pairwise products.

    Shape:
        mats: (..., m, r, r). returns: (..., r, r).
    """
    if mats.dim() < 3 or mats.shape[-3] < 1 or mats.shape[-1] != mats.shape[-2]:
        raise ValueError(f"mats: expected shape (..., m, r, r) with m >= 1, got {tuple(mats.shape)}")
    while mats.shape[-3] > 1:
        prod, tail = _pairwise(mats)
        # The odd one out is the last factor, so appending it keeps the order of the product.
        mats = prod if tail is None else torch.cat([prod, tail], dim=-3)
    return mats[..., 0, :, :]


def _normalise(mats: torch.Tensor, logs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    norm = torch.linalg.matrix_norm(mats)  # Frobenius norm of each matrix, real
    # A zero matrix keeps scale 1 so that it stays 0 instead of becoming NaN; its log is -inf.
    safe = torch.where(norm > 0, norm, torch.ones_like(norm))
    return mats / safe[..., None, None].to(mats.dtype), logs + torch.log(norm)


def tree_matmul_logscale(mats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Ordered product of ``mats`` as (unit-norm matrix, log of its scale).

    The product equals ``exp(log_scale)[..., None, None] * unit`` up to rounding, and both parts
    stay finite for any number of factors (unless a factor is exactly zero: then the log is -inf).

    Shape:
        mats: (..., m, r, r). returns: unit (..., r, r) with Frobenius norm 1, log_scale (...,) real.
    """
    if mats.dim() < 3 or mats.shape[-3] < 1 or mats.shape[-1] != mats.shape[-2]:
        raise ValueError(f"mats: expected shape (..., m, r, r) with m >= 1, got {tuple(mats.shape)}")
    real = mats.real.dtype if mats.is_complex() else mats.dtype
    logs = torch.zeros(mats.shape[:-2], dtype=real, device=mats.device)
    mats, logs = _normalise(mats, logs)
    while mats.shape[-3] > 1:
        m = mats.shape[-3]
        prod, tail = _pairwise(mats)
        plog = logs[..., 0 : m - (m % 2) : 2] + logs[..., 1::2]
        prod, plog = _normalise(prod, plog)
        if tail is not None:
            prod = torch.cat([prod, tail], dim=-3)
            plog = torch.cat([plog, logs[..., m - 1 :]], dim=-1)
        mats, logs = prod, plog
    return mats[..., 0, :, :], logs[..., 0]
