"""Exact kernels as plain functions: squared distances, RBF, Laplace, and the median heuristic.

These are the closed forms that random Fourier features approximate and that
:func:`kernelops.embeddings.mmd2` uses for ``kernel="rbf"`` / ``"laplace"``. All of them run on
the device and in the dtype of their inputs and are differentiable (twice, for MMD flows).
"""

from __future__ import annotations

import torch

from kernelops.errors import ShapeError
from kernelops.utils.validation import check_positive, check_same_last_dim, check_tensor

#: Elements of the (rows, m, d) difference tensor the L1 distance may hold at once.
_L1_CHUNK_ELEMENTS = 1 << 22
#: Entries recomputed from differences at once by ``squared_distances(..., bandwidth=...)``.
_EXACT_CHUNK_ENTRIES = 1 << 16


def _check_pair(x: torch.Tensor, y: torch.Tensor) -> None:
    check_tensor(x, "x", ndim=2, allow_complex=False)
    check_tensor(y, "y", ndim=2, allow_complex=False)
    check_same_last_dim(x, y, "x", "y")
    if x.device != y.device:
        raise ShapeError(f"x and y must be on one device; got x on {x.device} and y on {y.device}")


def _common_float(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Cast both to their promoted floating dtype (integers go to the default float dtype)."""
    dtype = torch.promote_types(x.dtype, y.dtype)
    if not dtype.is_floating_point:
        dtype = torch.get_default_dtype()
    return x.to(dtype), y.to(dtype)


def _bandwidth(bandwidth: float | torch.Tensor) -> float | torch.Tensor:
    if isinstance(bandwidth, torch.Tensor):
        if bandwidth.numel() != 1:
            raise ShapeError(f"bandwidth: expected a scalar, got shape {tuple(bandwidth.shape)}")
        if not bool((bandwidth > 0).all()):  # tensor bandwidths may be learnable, keep the graph
            raise ValueError(f"bandwidth: expected a positive number, got {bandwidth.item()!r}")
        return bandwidth.reshape(())
    check_positive(bandwidth, "bandwidth")
    return float(bandwidth)


def squared_distances(x: torch.Tensor, y: torch.Tensor, bandwidth: float | torch.Tensor | None = None) -> torch.Tensor:
    """Pairwise squared Euclidean distances ‖x_i − y_j‖², clamped at 0.

    Uses ‖x‖² + ‖y‖² − 2 x·y (one matrix product, no (n, m, d) tensor). Both inputs are first
    shifted by the mean of ``x``: distances do not change, but the cancellation error of the
    expansion, which grows with ‖x‖², does.

    Args:
        x: first sample.
        y: second sample.
        bandwidth: the RBF length scale the distances are for, if any. The expansion errs by
            about eps·(‖x‖² + ‖y‖²), which moves an exponent −d²/(2·bw²) by that over 2·bw².
            Where this exceeds √eps — a bandwidth far below the data's scale, e.g. the median
            heuristic on near-duplicates — the entries that matter at that scale (d² < 80·bw²,
            kernel above e⁻⁴⁰) are recomputed from the differences x_i − y_j, in chunks;
            otherwise nothing extra is computed.

    Shape:
        x: (n, d), y: (m, d). returns: (n, m), in the promoted floating dtype.
    """
    _check_pair(x, y)
    x, y = _common_float(x, y)
    shift = x.mean(dim=0, keepdim=True) if x.shape[0] > 0 else 0.0
    x, y = x - shift, y - shift
    xx, yy = (x * x).sum(-1), (y * y).sum(-1)
    d2 = (xx.unsqueeze(1) + yy.unsqueeze(0) - 2.0 * (x @ y.T)).clamp_min(0.0)
    if bandwidth is None or x.numel() == 0 or y.numel() == 0:
        return d2
    bw2 = float(bandwidth.detach() if isinstance(bandwidth, torch.Tensor) else bandwidth) ** 2
    eps = torch.finfo(d2.dtype).eps
    if 4.0 * eps * float(xx.detach().max() + yy.detach().max()) / (2.0 * bw2) <= eps ** 0.5:
        return d2
    near = (d2 < 80.0 * bw2).nonzero()
    for chunk in near.split(_EXACT_CHUNK_ENTRIES):
        rows, cols = chunk.unbind(1)
        d2 = d2.index_put((rows, cols), (x[rows] - y[cols]).square().sum(-1))
    return d2


def l1_distances(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Pairwise L1 distances ‖x_i − y_j‖₁, computed in row chunks to bound memory.

    The L1 distance has no matrix-product form, so each chunk holds a (rows, m, d) difference
    tensor; rows are chosen so that it stays below about 4·10⁶ elements.

    Shape:
        x: (n, d), y: (m, d). returns: (n, m), in the promoted floating dtype.
    """
    _check_pair(x, y)
    x, y = _common_float(x, y)
    n, m, d = x.shape[0], y.shape[0], x.shape[1]
    rows = max(1, _L1_CHUNK_ELEMENTS // max(1, m * d))
    chunks = [(x[i:i + rows, None, :] - y[None, :, :]).abs().sum(-1) for i in range(0, n, rows)]
    return torch.cat(chunks, dim=0) if chunks else x.new_zeros((0, m))


def rbf_kernel(x: torch.Tensor, y: torch.Tensor, bandwidth: float | torch.Tensor = 1.0) -> torch.Tensor:
    """Gaussian (RBF) kernel k(x, y) = exp(−‖x − y‖² / (2·bandwidth²)).

    Args:
        x: first sample.
        y: second sample.
        bandwidth: ℓ > 0, a float or a scalar tensor (which may require grad).

    Shape:
        x: (n, d), y: (m, d). returns: (n, m).
    """
    bw = _bandwidth(bandwidth)
    return torch.exp(squared_distances(x, y, bandwidth=bw) / (-2.0 * bw * bw))


def laplace_kernel(x: torch.Tensor, y: torch.Tensor, bandwidth: float | torch.Tensor = 1.0) -> torch.Tensor:
    """Laplace kernel k(x, y) = exp(−‖x − y‖₁ / bandwidth) (a product of 1-d Laplace kernels).

    Args:
        x: first sample.
        y: second sample.
        bandwidth: ℓ > 0, a float or a scalar tensor (which may require grad).

    Shape:
        x: (n, d), y: (m, d). returns: (n, m).
    """
    bw = _bandwidth(bandwidth)
    return torch.exp(l1_distances(x, y) / (-bw))


def _median(values: torch.Tensor) -> torch.Tensor:
    """Median that averages the two middle values of an even count (as numpy does)."""
    k = values.numel()
    lo = torch.kthvalue(values, (k + 1) // 2).values
    if k % 2:
        return lo
    hi = torch.kthvalue(values, k // 2 + 1).values
    return (lo + hi) / 2


def median_bandwidth(
    x: torch.Tensor,
    y: torch.Tensor | None = None,
    max_points: int = 2000,
    generator: torch.Generator | None = None,
) -> float:
    """Median heuristic: the median Euclidean distance between distinct points of a subsample.

    The pooled sample (``x`` and, if given, ``y``) is subsampled without replacement to at most
    ``max_points`` rows, then the median of ‖z_i − z_j‖ over pairs i < j is returned. With
    :func:`rbf_kernel` this puts the kernel's length scale at the typical distance in the data.

    Points that coincide make distances zero; if the median is zero the median of the positive
    distances is used instead, and if every distance is zero (all points equal, where every
    bandwidth gives the same kernel matrix) the result is 1.0.

    Args:
        x: first sample.
        y: optional second sample, pooled with ``x``.
        max_points: subsample size (cost is O(max_points²)).
        generator: random generator for the subsample; ``None`` uses torch's global one.

    Shape:
        x: (n, d), y: (m, d).

    Returns:
        The bandwidth as a Python float.
    """
    check_tensor(x, "x", ndim=2, allow_complex=False)
    pooled = x
    if y is not None:
        check_tensor(y, "y", ndim=2, allow_complex=False)
        check_same_last_dim(x, y, "x", "y")
        pooled = torch.cat([x, y.to(x.device)], dim=0)
    if isinstance(max_points, bool) or not isinstance(max_points, int) or max_points < 2:
        raise ValueError(f"max_points: expected an integer >= 2, got {max_points!r}")
    n = pooled.shape[0]
    if n < 2:
        raise ShapeError(f"x: the median heuristic needs at least 2 points in total, got {n}")
    pooled = pooled.detach()
    if not pooled.is_floating_point():
        pooled = pooled.to(torch.get_default_dtype())
    if n > max_points:
        gen_device = generator.device if generator is not None else "cpu"
        idx = torch.randperm(n, generator=generator, device=gen_device)[:max_points]
        pooled = pooled[idx.to(pooled.device)]
        n = max_points
    dist = torch.pdist(pooled)  # the n(n-1)/2 distances of pairs i < j
    med = _median(dist)
    if med <= 0:
        positive = dist[dist > 0]
        if positive.numel() == 0:
            return 1.0
        med = _median(positive)
    return float(med)
