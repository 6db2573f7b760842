"""Cached opt_einsum contraction expressions.

Searching a contraction path is far slower than executing a small contraction, and chain code
issues the same few contractions (same equation, same shapes) over and over, e.g. once per step
of a sequential pass or once per training batch. :func:`cached_contract` builds one
``opt_einsum.contract_expression`` per key ``(equation, shapes, dtype, device type)`` and reuses
it. The cache is a bounded LRU (least-recently-used entries are dropped past
:data:`MAX_CACHED_EXPRESSIONS`) and guarded by a lock, so it is safe to share between threads.

Expressions run on the torch backend, so they keep autograd (first and higher order), the
device and the dtype of their operands.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable

import opt_einsum
import torch

from kernelops.errors import ShapeError

__all__ = [
    "MAX_CACHED_EXPRESSIONS",
    "cached_contract",
    "clear_contract_cache",
    "contract_cache_info",
    "get_contract_expression",
]

MAX_CACHED_EXPRESSIONS = 512

_CACHE: OrderedDict[Hashable, opt_einsum.contract.ContractExpression] = OrderedDict()
_LOCK = threading.Lock()
_STATS = {"hits": 0, "misses": 0}


def _common_dtype(operands: tuple[torch.Tensor, ...]) -> torch.dtype:
    dtype = operands[0].dtype
    for op in operands[1:]:
        dtype = torch.promote_types(dtype, op.dtype)
    return dtype


def _check_operands(equation: str, operands: tuple[object, ...]) -> None:
    if not isinstance(equation, str):
        raise TypeError(f"equation: expected an einsum string, got {type(equation).__name__}")
    if not operands:
        raise ValueError(f"cached_contract({equation!r}): expected at least one operand, got none")
    for i, op in enumerate(operands):
        if not isinstance(op, torch.Tensor):
            raise ShapeError(f"operand {i}: expected a torch.Tensor, got {type(op).__name__}")
    devices = {op.device for op in operands if isinstance(op, torch.Tensor)}  # all are, checked above
    if len(devices) > 1:
        raise ShapeError(f"cached_contract({equation!r}): operands are on different devices {sorted(map(str, devices))}")


def get_contract_expression(equation: str, *operands: torch.Tensor) -> opt_einsum.contract.ContractExpression:
    """Return the cached contraction expression for ``equation`` and the operands' shapes.

    The key is ``(equation, shapes, common dtype, device type)``; the first call for a key
    searches the contraction path (opt_einsum's ``"auto"`` strategy) and later calls get the
    same object back.

    Args:
        equation: an einsum string, e.g. ``"bk,kij->bij"``.
        *operands: the tensors the expression will be applied to (only their shapes, dtypes
            and device are read).

    Raises:
        ShapeError: an operand is not a tensor, or operands live on different devices.
    """
    _check_operands(equation, operands)
    key = (
        equation.replace(" ", ""),
        tuple(tuple(op.shape) for op in operands),
        _common_dtype(operands),
        operands[0].device.type,
    )
    with _LOCK:
        expr = _CACHE.get(key)
        if expr is not None:
            _CACHE.move_to_end(key)
            _STATS["hits"] += 1
            return expr
        _STATS["misses"] += 1
    # Build outside the lock: path search may take a while and must not block other threads.
    try:
        expr = opt_einsum.contract_expression(key[0], *key[1], optimize="auto")
    except ValueError as err:
        shapes = ", ".join(str(s) for s in key[1])
        raise ShapeError(f"cached_contract({equation!r}): operands of shapes {shapes} do not fit: {err}") from err
    with _LOCK:
        expr = _CACHE.setdefault(key, expr)  # another thread may have raced us; keep one object
        _CACHE.move_to_end(key)
        while len(_CACHE) > MAX_CACHED_EXPRESSIONS:
            _CACHE.popitem(last=False)
    return expr


def cached_contract(equation: str, *operands: torch.Tensor) -> torch.Tensor:
    """Evaluate ``torch.einsum(equation, *operands)`` with a cached optimal contraction path.

    Operands of different dtypes (e.g. real features with a complex chain) are promoted to
    their common dtype first, as torch's own type promotion would.

    Args:
        equation: an einsum string with explicit output (``"...->..."``) or implicit output.
        *operands: tensors on one device.

    Returns:
        The contracted tensor, on the operands' device, in their common dtype.

    Raises:
        ShapeError: bad operands (not tensors, mixed devices, shapes that do not fit).
    """
    expr = get_contract_expression(equation, *operands)
    dtype = _common_dtype(operands)
    ops = tuple(op if op.dtype == dtype else op.to(dtype) for op in operands)
    return expr(*ops, backend="torch")


def clear_contract_cache() -> None:
    """Drop every cached expression and reset the hit/miss counters."""
    with _LOCK:
        _CACHE.clear()
        _STATS["hits"] = _STATS["misses"] = 0


def contract_cache_info() -> dict[str, int]:
    """Cache statistics: ``{"hits": ..., "misses": ..., "size": ..., "maxsize": ...}``."""
    with _LOCK:
        return {**_STATS, "size": len(_CACHE), "maxsize": MAX_CACHED_EXPRESSIONS}
