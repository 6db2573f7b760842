"""The MMD witness function of one sample against another, from a kernel or explicit features.

f(z) = ⟨φ(z), μ_x − μ_y⟩ = (1/n) Σ_i k(z, x_i) − (1/m) Σ_j k(z, y_j): positive where x has more
mass than y. Its negative gradient is the velocity of an MMD gradient flow (docs/theory.md).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from kernelops.embeddings._common import (
    as_samples,
    check_block_size,
    check_pair,
    feature_sums,
    gram_row_means,
    resolve_kernel,
)
from kernelops.errors import ShapeError
from kernelops.features.base import FeatureMap


def witness(
    x: torch.Tensor,
    y: torch.Tensor,
    points: torch.Tensor,
    kernel: str | FeatureMap | object = "rbf",
    *,
    bandwidth: float | torch.Tensor | None = None,
    block_size: int = 2048,
    t: torch.Tensor | float | None = None,
) -> torch.Tensor:
    """Witness function of the sample ``x`` against ``y``, evaluated at ``points``.

    Args:
        x: sample of P (the positive side).
        y: sample of Q, same trailing shape.
        points: where to evaluate f, same trailing shape.
        kernel: as in :func:`~kernelops.embeddings.mmd2`: ``"rbf"``, ``"laplace"``, a FeatureMap
            (f(z) = Re⟨φ(z), mean φ(x) − mean φ(y)⟩) or a callable Gram function.
        bandwidth: for exact kernels; ``None`` is the median heuristic on x and y pooled (the
            same bandwidth :func:`mmd2` picks for these samples).
        block_size: rows/columns of each Gram block.
        t: flow time for a time-dependent feature map.

    Shape:
        x: (n, *trailing), y: (m, *trailing), points: (p, *trailing). returns: (p,).
    """
    xf, yf = check_pair(x, y)
    zf = as_samples(points, "points")
    if points.shape[1:] != x.shape[1:]:
        raise ShapeError(
            f"points must have the trailing shape of x; got points {tuple(points.shape)} and x {tuple(x.shape)}"
        )
    if points.device != x.device:
        raise ShapeError(f"points and x must be on one device; got {points.device} and {x.device}")
    zf = zf.to(torch.promote_types(zf.dtype, xf.dtype))
    block_size = check_block_size(block_size)
    k = resolve_kernel(kernel, bandwidth, (xf, yf), t=t)
    if k.features is not None:
        sx, _ = feature_sums(k.features, xf, block_size)
        sy, _ = feature_sums(k.features, yf, block_size)
        return feature_witness(k.features, zf, sx / xf.shape[0] - sy / yf.shape[0], block_size)
    assert k.gram is not None
    return gram_row_means(k.gram, zf, xf, block_size) - gram_row_means(k.gram, zf, yf, block_size)


def feature_witness(phi: Callable[[torch.Tensor], torch.Tensor], points: torch.Tensor, direction: torch.Tensor,
                    block_size: int) -> torch.Tensor:
    """Re⟨φ(z), v⟩ = Re Σ conj(φ(z)) v for every point z, computing φ in blocks.

    Shape:
        points: (p, q), direction: (D,). returns: (p,), real.
    """
    out = []
    for i in range(0, points.shape[0], block_size):
        f = phi(points[i:i + block_size])
        dtype = torch.promote_types(f.dtype, direction.dtype)
        val = f.to(dtype).conj() @ direction.to(dtype)
        out.append(val.real if val.is_complex() else val)
    return torch.cat(out)
