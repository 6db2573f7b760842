"""Input checks shared by the chain modules (messages name the argument and the expected shape)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch

from kernelops.errors import ShapeError
from kernelops.utils.validation import check_tensor

__all__ = ["check_chain_tensor", "check_finite", "check_sequence_features", "common_dtype", "fmt_shape"]


def fmt_shape(shape: Iterable[object]) -> str:
    """``(2, 3)`` style text for a shape or a tuple of labels (``(2,)`` for one entry)."""
    items = [str(s) for s in shape]
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"


def check_chain_tensor(
    x: object, name: str, labels: Sequence[str], sizes: Sequence[int | None], *, finite: bool = True
) -> torch.Tensor:
    """Check that ``x`` is a finite float/complex tensor with ``len(labels)`` axes of the given sizes.

    ``sizes`` entries that are ``None`` accept any size. The message reads e.g.
    ``transfer: expected shape (D, r, r) = (3, 2, 2), got (3, 2)``.
    """
    check_tensor(x, name, finite=False)
    assert isinstance(x, torch.Tensor)
    if not (x.is_floating_point() or x.is_complex()):
        raise ShapeError(f"{name}: expected a floating-point or complex tensor, got dtype {x.dtype}")
    if finite:
        check_finite(x, name)
    want = fmt_shape(s if s is not None else "*" for s in sizes)
    if x.dim() != len(labels) or any(s is not None and g != s for g, s in zip(x.shape, sizes)):
        raise ShapeError(f"{name}: expected shape {fmt_shape(labels)} = {want}, got {fmt_shape(x.shape)}")
    return x


def check_finite(x: torch.Tensor, name: str) -> None:
    """Raise ShapeError if ``x`` has NaN/inf entries, in O(1) extra memory on the common path.

    ``torch.isfinite`` on a (batch, N, D) complex tensor allocates several tensors of that size
    (it was the largest allocation of a long chain contraction); a sum is finite whenever all
    entries are (NaN and inf propagate), so the elementwise check only runs when the sum is not
    finite: to count the bad entries, or to find that the sum merely overflowed.
    """
    if x.numel() == 0 or bool(torch.isfinite(x.sum())):
        return
    bad = int(x.numel() - torch.isfinite(x).sum())
    if bad:
        raise ShapeError(f"{name}: contains {bad} NaN or infinite value(s); expected finite values")


def check_sequence_features(
    x: object, name: str, dim: int, *, device: torch.device | None = None, finite: bool = True
) -> torch.Tensor:
    """Check per-step features of shape (batch, N, D) with N ≥ 2 (a chain needs a start and an end)."""
    check_chain_tensor(x, name, ("batch", "N", "D"), (None, None, dim), finite=finite)
    assert isinstance(x, torch.Tensor)
    if x.shape[1] < 2:
        raise ShapeError(
            f"{name}: expected shape (batch, N, D) with N >= 2 steps (a chain has a start and an end), "
            f"got {fmt_shape(x.shape)} (N = {x.shape[1]})"
        )
    if device is not None and x.device != device:
        raise ShapeError(f"{name}: expected a tensor on the chain's device {device}, got one on {x.device}")
    return x


def common_dtype(*tensors: torch.Tensor) -> torch.dtype:
    """The dtype torch's type promotion gives to an expression mixing ``tensors``."""
    dtype = tensors[0].dtype
    for t in tensors[1:]:
        dtype = torch.promote_types(dtype, t.dtype)
    return dtype
