"""Squared maximum mean discrepancy between two samples, biased (V) or unbiased (U) estimate.

MMD²(P, Q) = ‖μ_P − μ_Q‖² = E k(X, X') + E k(Y, Y') − 2 E k(X, Y). With samples x (n) and y (m):

* biased (V-statistic): (1/n²) Σ_ij k(x_i, x_j) + (1/m²) Σ_ij k(y_i, y_j) − (2/nm) Σ_ij k(x_i, y_j),
  which is ‖μ̂_x − μ̂_y‖² ≥ 0 for a positive-definite kernel;
* unbiased (U-statistic): the same with the diagonal terms i = j left out of the first two sums and
  divided by n(n−1), m(m−1); it can be negative when P = Q.

Gram sums are accumulated block by block, so memory is O(block_size²) whatever n and m are.
"""

from __future__ import annotations

import torch

from kernelops.embeddings._common import (
    check_block_size,
    check_pair,
    feature_sums,
    gram_sum,
    resolve_kernel,
)
from kernelops.features.base import FeatureMap


def mmd2(
    x: torch.Tensor,
    y: torch.Tensor,
    kernel: str | FeatureMap | object = "rbf",
    *,
    bandwidth: float | torch.Tensor | None = None,
    unbiased: bool = False,
    block_size: int = 2048,
    t: torch.Tensor | float | None = None,
) -> torch.Tensor:
    """Squared MMD between the samples ``x`` and ``y``.

    Args:
        x: sample of P; trailing dimensions are flattened, so sequences (n, N, d) work.
        y: sample of Q with the same trailing shape as ``x``.
        kernel: ``"rbf"`` or ``"laplace"`` (exact kernels from :mod:`kernelops.features.kernels`),
            a :class:`~kernelops.features.FeatureMap` whose ``in_dim`` equals the flattened size
            (MMD from its explicit features, ‖mean φ(x) − mean φ(y)‖²), or a callable
            ``k(a (p, q), b (r, q)) -> (p, r)`` Gram function.
        bandwidth: for ``"rbf"``/``"laplace"``; ``None`` takes the median heuristic on the pooled
            sample (with a fixed subsample seed, so the result is deterministic).
        unbiased: U-statistic instead of the (non-negative) V-statistic.
        block_size: rows/columns of each Gram block (or rows per feature batch).
        t: flow time passed to a time-dependent feature map; ignored otherwise.

    Shape:
        x: (n, *trailing), y: (m, *trailing). returns: () in the promoted floating dtype.

    Raises:
        ShapeError: 1-d input, mismatched trailing shapes, NaN/inf, complex input, or a
            feature map whose in_dim does not match.
        ValueError: unknown kernel name, bad bandwidth or block_size, or fewer than 2 samples
            per side for the unbiased estimate.
    """
    xf, yf = check_pair(x, y)
    block_size = check_block_size(block_size)
    n, m = xf.shape[0], yf.shape[0]
    if unbiased and (n < 2 or m < 2):
        raise ValueError(f"unbiased: needs at least 2 samples in each of x and y; got n={n} and m={m}")
    k = resolve_kernel(kernel, bandwidth, (xf, yf), t=t)

    if k.features is not None:
        sx, qx = feature_sums(k.features, xf, block_size)
        sy, qy = feature_sums(k.features, yf, block_size)
        if not unbiased:
            diff = sx / n - sy / m
            return _sq_norm(diff)
        cross = (sx.conj() * sy).sum().real if sx.is_complex() else (sx * sy).sum()
        return ((_sq_norm(sx) - qx) / (n * (n - 1)) + (_sq_norm(sy) - qy) / (m * (m - 1))
                - 2.0 * cross / (n * m))

    assert k.gram is not None
    kxx, dxx = gram_sum(k.gram, xf, None, block_size)
    kyy, dyy = gram_sum(k.gram, yf, None, block_size)
    kxy, _ = gram_sum(k.gram, xf, yf, block_size)
    if unbiased:
        return (kxx - dxx) / (n * (n - 1)) + (kyy - dyy) / (m * (m - 1)) - 2.0 * kxy / (n * m)
    return kxx / (n * n) + kyy / (m * m) - 2.0 * kxy / (n * m)


def mmd(
    x: torch.Tensor,
    y: torch.Tensor,
    kernel: str | FeatureMap | object = "rbf",
    *,
    bandwidth: float | torch.Tensor | None = None,
    unbiased: bool = False,
    block_size: int = 2048,
    t: torch.Tensor | float | None = None,
) -> torch.Tensor:
    """MMD = sqrt(max(mmd2, 0)); same arguments as :func:`mmd2`.

    A negative unbiased estimate (possible when P = Q) maps to 0. The gradient of the square
    root is infinite at 0, so differentiate :func:`mmd2` instead when samples may coincide.

    Shape:
        x: (n, *trailing), y: (m, *trailing). returns: ().
    """
    value = mmd2(x, y, kernel, bandwidth=bandwidth, unbiased=unbiased, block_size=block_size, t=t)
    return value.clamp_min(0.0).sqrt()


def _sq_norm(v: torch.Tensor) -> torch.Tensor:
    """‖v‖² = Σ |v_i|² for real or complex v."""
    return (v.abs() ** 2).sum() if v.is_complex() else (v * v).sum()
