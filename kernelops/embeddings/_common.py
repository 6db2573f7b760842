"""Shared plumbing of the embeddings package: input checks, kernel resolution, blocked sums.

Nothing here is public; :mod:`kernelops.embeddings.mmd`, :mod:`~kernelops.embeddings.witness`
and :mod:`~kernelops.embeddings.mean_embedding` build on it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import torch

from kernelops.errors import ShapeError
from kernelops.features.base import FeatureMap
from kernelops.features.kernels import laplace_kernel, median_bandwidth, rbf_kernel
from kernelops.utils.validation import check_tensor

GramFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
EXACT_KERNELS: dict[str, Callable[..., torch.Tensor]] = {"rbf": rbf_kernel, "laplace": laplace_kernel}
#: seed of the subsample behind the median heuristic: results must not depend on global RNG state
MEDIAN_SEED = 0


def as_samples(x: torch.Tensor, name: str) -> torch.Tensor:
    """Check a sample of shape (n, ...) and flatten its trailing dimensions.

    Shape:
        x: (n, *trailing) with at least one trailing dimension. returns: (n, prod(trailing)).
    """
    check_tensor(x, name, min_ndim=2, allow_complex=False)
    if x.shape[0] == 0:
        raise ShapeError(f"{name}: expected at least one sample, got shape {tuple(x.shape)}")
    return x.reshape(x.shape[0], -1)


def check_pair(x: torch.Tensor, y: torch.Tensor, name_x: str = "x", name_y: str = "y") -> tuple[torch.Tensor, torch.Tensor]:
    """Validate two samples with the same trailing shape; flatten and cast to one float dtype.

    Shape:
        x: (n, *trailing), y: (m, *trailing). returns: (n, p), (m, p) with p = prod(trailing).
    """
    xf, yf = as_samples(x, name_x), as_samples(y, name_y)
    if x.shape[1:] != y.shape[1:]:
        raise ShapeError(
            f"{name_x} and {name_y} must have the same trailing shape (all but the sample dimension); "
            f"got {name_x} {tuple(x.shape)} and {name_y} {tuple(y.shape)}"
        )
    if x.device != y.device:
        raise ShapeError(f"{name_x} and {name_y} must be on one device; got {x.device} and {y.device}")
    dtype = torch.promote_types(x.dtype, y.dtype)
    if not dtype.is_floating_point:
        dtype = torch.get_default_dtype()
    return xf.to(dtype), yf.to(dtype)


def check_block_size(block_size: int) -> int:
    if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size <= 0:
        raise ValueError(f"block_size: expected a positive integer, got {block_size!r}")
    return block_size


@dataclass(frozen=True)
class Kernel:
    """A resolved kernel: either explicit features (``features``) or a Gram function (``gram``)."""

    features: FeatureMap | None = None
    gram: GramFn | None = None


def resolve_kernel(
    kernel: object,
    bandwidth: float | torch.Tensor | None,
    pooled: tuple[torch.Tensor, ...],
    *,
    t: torch.Tensor | float | None = None,
) -> Kernel:
    """Turn the ``kernel`` argument into a :class:`Kernel`.

    ``"rbf"``/``"laplace"`` use the exact kernel; with ``bandwidth=None`` the bandwidth is the
    median heuristic on the pooled samples (with a fixed subsample seed, so repeated calls agree).
    A :class:`FeatureMap` is used through its explicit features (at time ``t``); any other
    callable k(a, b) is taken as a Gram-matrix function.

    Shape:
        pooled: samples of shape (n_i, p), flattened, used only by the median heuristic.
    """
    if isinstance(kernel, str):
        if kernel not in EXACT_KERNELS:
            raise ValueError(
                f"kernel: expected one of {', '.join(map(repr, EXACT_KERNELS))}, a FeatureMap or a "
                f"callable k(a, b) -> Gram matrix; got {kernel!r}"
            )
        if bandwidth is None:
            gen = torch.Generator().manual_seed(MEDIAN_SEED)
            bandwidth = median_bandwidth(torch.cat([p.detach() for p in pooled], dim=0), generator=gen)
        elif not isinstance(bandwidth, torch.Tensor):
            if isinstance(bandwidth, bool) or not isinstance(bandwidth, (int, float)) or not bandwidth > 0:
                raise ValueError(f"bandwidth: expected a positive number or None, got {bandwidth!r}")
        fn, bw = EXACT_KERNELS[kernel], bandwidth
        return Kernel(gram=lambda a, b: fn(a, b, bw))
    if bandwidth is not None:
        raise ValueError(
            f"bandwidth: only used with kernel='rbf' or 'laplace'; got bandwidth={bandwidth!r} "
            f"with kernel={type(kernel).__name__}"
        )
    if isinstance(kernel, FeatureMap):
        width = pooled[0].shape[1]
        if kernel.in_dim != width:
            raise ShapeError(
                f"kernel: the feature map's in_dim is {kernel.in_dim}, but the samples have "
                f"{width} values each after flattening the trailing dimensions"
            )
        if t is None:
            return Kernel(features=kernel)
        return Kernel(features=cast(FeatureMap, _AtTime(kernel, t)))  # duck-typed: called with x only
    if callable(kernel):
        return Kernel(gram=kernel)
    raise ValueError(
        f"kernel: expected 'rbf', 'laplace', a FeatureMap or a callable k(a, b) -> Gram matrix; "
        f"got {type(kernel).__name__}"
    )


class _AtTime:
    """A feature map frozen at flow time t (so helpers can call it with one argument)."""

    def __init__(self, fmap: FeatureMap, t: torch.Tensor | float) -> None:
        self.fmap, self.t = fmap, t
        self.in_dim, self.out_dim = fmap.in_dim, fmap.out_dim

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.fmap(x, self.t)


def gram_block(k: GramFn, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """k(a, b), checked to be a real (len(a), len(b)) matrix (user callables may be wrong)."""
    g = k(a, b)
    if not isinstance(g, torch.Tensor) or g.shape != (a.shape[0], b.shape[0]):
        got = tuple(g.shape) if isinstance(g, torch.Tensor) else type(g).__name__
        raise ShapeError(f"kernel: expected a Gram matrix of shape {(a.shape[0], b.shape[0])}, got {got}")
    return g.real if g.is_complex() else g


def gram_sum(k: GramFn, a: torch.Tensor, b: torch.Tensor | None, block_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Σ_ij k(a_i, b_j) and Σ_i k(a_i, a_i), one (block_size × block_size) block at a time.

    With ``b=None`` the Gram matrix is k(a, a); it is symmetric, so only blocks on or above the
    diagonal are computed and the others counted twice. The diagonal sum is returned for the
    unbiased estimators (zero when ``b`` is given).

    Shape:
        a: (n, p), b: (m, p) or None. returns: two 0-d tensors.
    """
    total = a.new_zeros(())
    diag = a.new_zeros(())
    n = a.shape[0]
    if b is None:
        for i in range(0, n, block_size):
            ai = a[i:i + block_size]
            for j in range(i, n, block_size):
                g = gram_block(k, ai, a[j:j + block_size])
                if i == j:
                    total = total + g.sum()
                    diag = diag + g.diagonal().sum()
                else:
                    total = total + 2.0 * g.sum()
        return total, diag
    for i in range(0, n, block_size):
        ai = a[i:i + block_size]
        for j in range(0, b.shape[0], block_size):
            total = total + gram_block(k, ai, b[j:j + block_size]).sum()
    return total, diag


def gram_row_means(k: GramFn, points: torch.Tensor, sample: torch.Tensor, block_size: int) -> torch.Tensor:
    """(1/n) Σ_i k(z, s_i) for every point z, in blocks.

    Shape:
        points: (p, q), sample: (n, q). returns: (p,).
    """
    rows = []
    n = sample.shape[0]
    for i in range(0, points.shape[0], block_size):
        zi = points[i:i + block_size]
        acc = zi.new_zeros(zi.shape[0])
        for j in range(0, n, block_size):
            acc = acc + gram_block(k, zi, sample[j:j + block_size]).sum(dim=1)
        rows.append(acc / n)
    return torch.cat(rows)


def feature_sums(phi: Callable[[torch.Tensor], torch.Tensor], a: torch.Tensor, block_size: int,
                 weights: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Σ_i w_i φ(a_i) and Σ_i w_i² ‖φ(a_i)‖², computing φ on ``block_size`` rows at a time.

    ``weights=None`` means all ones. The second sum is the diagonal of the feature Gram matrix,
    needed by the unbiased MMD.

    Shape:
        a: (n, p), weights: (n,) or None. returns: (D,) (real or complex) and a 0-d real tensor.
    """
    total = None
    sq = a.new_zeros(())
    for i in range(0, a.shape[0], block_size):
        f = phi(a[i:i + block_size])
        if f.dim() != 2 or f.shape[0] != a[i:i + block_size].shape[0]:
            raise ShapeError(f"kernel: the feature map returned shape {tuple(f.shape)}, expected (rows, out_dim)")
        norms = (f.abs() ** 2).sum(dim=1) if f.is_complex() else (f * f).sum(dim=1)
        if weights is not None:
            w = weights[i:i + block_size].to(f.real.dtype)
            f = f * w[:, None]
            norms = norms * w * w
        s = f.sum(dim=0)
        total = s if total is None else total + s
        sq = sq + norms.sum()
    assert total is not None  # a has at least one row (checked by the callers)
    return total, sq
