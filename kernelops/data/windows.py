"""Cut a long series into overlapping windows (the protocol uses length 24, stride 1)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import numpy as np

from kernelops.errors import DataError, ShapeError
from kernelops.utils.memory import check_allocation

if TYPE_CHECKING:
    import torch


def num_windows(length: int, window: int, stride: int = 1) -> int:
    """How many windows ``sliding_windows`` returns for a series of ``length`` steps."""
    return (length - window) // stride + 1


def sliding_windows(series: np.ndarray | torch.Tensor, window: int = 24, stride: int = 1) -> np.ndarray | torch.Tensor:
    """All windows ``series[i*stride : i*stride + window]`` for i = 0 … num − 1.

    Windows are built as a zero-copy strided view and then copied once, so the result owns
    its memory (writing to one window never changes its overlapping neighbours).
    A tensor input gives a tensor on the same device and dtype.

    Args:
        series: the series, time along the first axis.
        window: window length, at least 2 and at most T.
        stride: step between window starts, at least 1.

    Shape:
        series: (T, d). returns: (num, window, d) with num = (T − window) // stride + 1.

    Raises:
        DataError: window < 2, window > T or stride < 1.
        ShapeError: series is not 2-d.
    """
    if isinstance(window, bool) or int(window) != window:
        raise DataError(f"window: expected an integer, got {window!r}")
    if isinstance(stride, bool) or int(stride) != stride:
        raise DataError(f"stride: expected an integer, got {stride!r}")
    window, stride = int(window), int(stride)
    torch_mod = sys.modules.get("torch")  # a tensor implies torch is imported; never import it here
    is_tensor = torch_mod is not None and isinstance(series, torch_mod.Tensor)
    if not is_tensor and not isinstance(series, np.ndarray):
        series = np.asarray(series)
    if series.ndim != 2:
        raise ShapeError(f"series: expected shape (T, d), got {tuple(series.shape)}")
    length = series.shape[0]
    if window < 2:
        raise DataError(f"window: expected at least 2 steps, got {window}")
    if stride < 1:
        raise DataError(f"stride: expected at least 1, got {stride}")
    if window > length:
        raise DataError(f"window: {window} steps is longer than the series ({length} steps)")
    if not is_tensor or str(series.device).startswith("cpu"):
        _check_memory(length, window, stride, series.shape[1], series.dtype.itemsize)
    if is_tensor:
        # unfold gives (num, d, window) as a view; contiguous() makes the single copy
        return series.unfold(0, window, stride).transpose(1, 2).contiguous()  # type: ignore[union-attr]
    view = np.lib.stride_tricks.sliding_window_view(series, window, axis=0)[::stride]
    return np.ascontiguousarray(view.transpose(0, 2, 1))


def _check_memory(length: int, window: int, stride: int, features: int, itemsize: int) -> None:
    """Refuse, before allocating, a windows array that cannot fit; suggest a stride that fits."""
    num = num_windows(length, window, stride)
    per_window = window * features * itemsize

    def remedy(budget: int) -> str:
        fits = budget // per_window
        if fits < 1:
            return f"a single window is too large: use a smaller --window (at most {max(budget // (features * itemsize), 2)})"
        need = length - window + 1 if fits == 1 else -(-(length - window) // (fits - 1))
        return f"use a larger --stride (at least {need}) or a smaller --window"

    check_allocation(num * per_window, f"window {window} with stride {stride} over {length} steps: {num} windows "
                     f"x {window} steps x {features} features ({itemsize * 8}-bit)", remedy)
