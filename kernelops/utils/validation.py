"""Input checks that raise :class:`~kernelops.errors.ShapeError` naming the argument.

Every public entry point validates its tensors with these helpers so that a user sees
"x: expected shape (batch, N, d), got (3, 4)" instead of a broadcasting error deep inside.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch

from kernelops.errors import ShapeError


def _fmt(shape: Iterable[object]) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ")"


def check_tensor(
    x: object,
    name: str,
    *,
    ndim: int | Sequence[int] | None = None,
    shape: Sequence[int | str | None] | None = None,
    min_ndim: int | None = None,
    finite: bool = True,
    allow_complex: bool = True,
) -> torch.Tensor:
    """Validate a tensor argument and return it unchanged.

    Args:
        x: the value to check; must be a ``torch.Tensor``.
        name: the argument's name, used in the error message.
        ndim: required rank (or ranks).
        shape: expected shape; entries that are ints must match exactly, strings and ``None``
            are labels that accept any size (they appear in the message, e.g. ``("batch", "N", 3)``).
        min_ndim: minimum rank.
        finite: reject NaN and infinite entries.
        allow_complex: accept complex dtypes.

    Raises:
        ShapeError: naming ``name``, what was expected and what was given.
    """
    if not isinstance(x, torch.Tensor):
        raise ShapeError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
    if shape is not None:
        expected = _fmt(s if s is not None else "*" for s in shape)
        if x.dim() != len(shape):
            raise ShapeError(f"{name}: expected shape {expected}, got {_fmt(x.shape)}")
        for got, want in zip(x.shape, shape):
            if isinstance(want, int) and got != want:
                raise ShapeError(f"{name}: expected shape {expected}, got {_fmt(x.shape)}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if x.dim() not in allowed:
            want = " or ".join(str(a) for a in allowed)
            raise ShapeError(f"{name}: expected a {want}-d tensor, got shape {_fmt(x.shape)}")
    if min_ndim is not None and x.dim() < min_ndim:
        raise ShapeError(f"{name}: expected at least {min_ndim} dimensions, got shape {_fmt(x.shape)}")
    if not allow_complex and x.is_complex():
        raise ShapeError(f"{name}: expected a real tensor, got dtype {x.dtype}")
    if finite and (x.is_floating_point() or x.is_complex()) and x.numel() > 0:
        # Any NaN/inf makes the sum non-finite, so a finite sum proves the tensor finite without
        # allocating a boolean copy; only a non-finite sum (NaN/inf, or a finite overflow) pays for
        # the exact element-wise check.
        if not bool(torch.isfinite(x.sum())) and not bool(torch.isfinite(x).all()):
            bad = int((~torch.isfinite(x)).sum())
            raise ShapeError(f"{name}: contains {bad} NaN or infinite value(s); expected finite values")
    return x


def check_same_last_dim(a: torch.Tensor, b: torch.Tensor, name_a: str, name_b: str) -> None:
    """Raise if ``a`` and ``b`` disagree in their last (feature) dimension."""
    if a.shape[-1] != b.shape[-1]:
        raise ShapeError(
            f"{name_a} and {name_b} must have the same last dimension; "
            f"got {name_a} {_fmt(a.shape)} and {name_b} {_fmt(b.shape)}"
        )


def check_positive(value: float | int, name: str, *, allow_zero: bool = False) -> None:
    """Raise ``ValueError`` unless ``value`` is positive (or non-negative with ``allow_zero``)."""
    ok = value >= 0 if allow_zero else value > 0
    if not ok:
        bound = "non-negative" if allow_zero else "positive"
        raise ValueError(f"{name}: expected a {bound} number, got {value!r}")
