"""Flow-time arguments: validation and broadcasting against a state tensor.

Every path method takes ``t`` as a Python number, a 0-d tensor, a per-sample tensor of shape
(batch,), or any tensor broadcastable against ``x``. :func:`broadcast_time` is the one place
that turns those into a tensor that broadcasts against ``x``, so all methods agree on the rule.
"""

from __future__ import annotations

import numbers

import torch

from kernelops.errors import ShapeError


def check_time_range(t: torch.Tensor, name: str = "t") -> torch.Tensor:
    """Raise ``ValueError`` naming ``name`` unless every entry of ``t`` is finite and in [0, 1].

    Shape:
        t: any. returns: ``t`` unchanged.
    """
    if t.numel() == 0:
        return t
    lo, hi = float(t.detach().min()), float(t.detach().max())
    if not (0.0 <= lo and hi <= 1.0):  # NaN fails both comparisons as well
        raise ValueError(f"{name}: expected times in [0, 1] (0 = source noise, 1 = data), "
                         f"got values in [{lo:g}, {hi:g}]")
    return t


def as_time_tensor(
    t: float | torch.Tensor,
    *,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
    name: str = "t",
    check_range: bool = True,
) -> torch.Tensor:
    """Convert a time argument to a real floating tensor in [0, 1] without changing its shape.

    Args:
        t: a real number or a real tensor.
        dtype: the floating dtype to cast to (``None``: keep a floating tensor's dtype, use the
            default dtype for numbers and integer tensors).
        device: where to put it (``None``: keep a tensor's device, CPU for numbers).
        name: the argument's name for error messages.
        check_range: check that times lie in [0, 1] (costs one device sync on GPU; skip only
            for times already checked).

    Raises:
        ValueError: ``t`` is not a real number/tensor or lies outside [0, 1].

    Shape:
        t: any. returns: the same shape.
    """
    if isinstance(t, torch.Tensor):
        if t.is_complex() or t.dtype == torch.bool:
            raise ValueError(f"{name}: expected a real time tensor, got dtype {t.dtype}")
        target = dtype if dtype is not None else (t.dtype if t.is_floating_point() else torch.get_default_dtype())
        out = t.to(device=device if device is not None else t.device, dtype=target)
    elif isinstance(t, numbers.Real) and not isinstance(t, bool):
        out = torch.tensor(float(t), dtype=dtype or torch.get_default_dtype(), device=device)
    else:
        raise ValueError(f"{name}: expected a float or a tensor of times in [0, 1], got {type(t).__name__}")
    return check_time_range(out, name) if check_range else out


def _broadcasts_into(small: torch.Size, big: torch.Size) -> bool:
    """Whether a tensor of shape ``small`` broadcasts against ``big`` without enlarging it.

    (Written out: torch.broadcast_shapes imports torch._refs on first use, about a second.)
    """
    if len(small) > len(big):
        return False
    return all(s in (1, b) for s, b in zip(reversed(small), reversed(big)))


def broadcast_time(
    t: float | torch.Tensor, x: torch.Tensor, name: str = "t", *, check_range: bool = True
) -> torch.Tensor:
    """Return ``t`` as a tensor on ``x``'s device and dtype that broadcasts against ``x``.

    The rule: a number or 0-d tensor is one time for everything; a 1-d tensor of length
    ``x.shape[0]`` (with ``x`` at least 2-d) is one time per sample and is reshaped to
    (batch, 1, ..., 1); anything else must broadcast against ``x`` without enlarging it.

    Args:
        t: the times, in [0, 1].
        x: the state it will multiply, e.g. (batch, N, d).
        name: the argument's name for error messages.
        check_range: see :func:`as_time_tensor`.

    Raises:
        ValueError: ``t`` outside [0, 1] or not real.
        ShapeError: ``t`` does not broadcast against ``x``.

    Shape:
        t: (), (batch,) or broadcastable to x.shape. x: (batch, ...).
        returns: (), (batch, 1, ..., 1) or t's own shape.
    """
    dtype = x.dtype if x.is_floating_point() else None
    t = as_time_tensor(t, dtype=dtype, device=x.device, name=name, check_range=check_range)
    if t.dim() == 1 and x.dim() >= 2 and t.shape[0] == x.shape[0]:
        return t.reshape(t.shape[0], *([1] * (x.dim() - 1)))
    if not _broadcasts_into(t.shape, x.shape):
        raise ShapeError(
            f"{name}: expected a number, a 0-d tensor, a tensor of shape ({x.shape[0] if x.dim() else 1},) "
            f"(one time per sample) or a shape broadcastable to {tuple(x.shape)}; got shape {tuple(t.shape)}"
        )
    return t
