"""Windows as the model takes them: checks of user data and observations, and the model coordinates.

Data are windows in [0, 1] (min-max scaled, :class:`kernelops.data.MinMaxScaler`), NaN where an
entry is missing; the field works on x = 2·data − 1, centred like the N(0, I) source.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch

from kernelops.errors import KernelopsWarning, ShapeError
from kernelops.utils.fingerprint import array_fingerprint
from kernelops.utils.validation import check_tensor


def to_model(data: torch.Tensor) -> torch.Tensor:
    """Data in [0, 1] → model coordinates 2·data − 1."""
    return data * 2.0 - 1.0


def from_model(x: torch.Tensor) -> torch.Tensor:
    """Model coordinates → data scale, (x + 1)/2."""
    return (x + 1.0) * 0.5


def as_windows(data: Any, name: str, *, in_dim: int | None, dtype: torch.dtype) -> torch.Tensor:
    """Training windows as a tensor of ``dtype``, checked (NaN marks a missing entry).

    Raises:
        ShapeError: not numeric, not (num ≥ 2, N ≥ 2, d ≥ 1), another d than ``in_dim``, an
            infinite entry, or every entry missing. Values far outside [0, 1] only warn.

    Shape:
        data: (num, N, d). returns: (num, N, d).
    """
    if isinstance(data, np.ndarray):
        if not np.issubdtype(data.dtype, np.number):
            raise ShapeError(f"{name}: expected a numeric array, got dtype {data.dtype}")
        data = torch.from_numpy(np.asarray(data))
    if not isinstance(data, torch.Tensor):
        raise ShapeError(f"{name}: expected an array or tensor of shape (num, N, d), got {type(data).__name__}")
    check_tensor(data, name, ndim=3, allow_complex=False, finite=False)
    if bool(torch.isinf(data).any()):
        raise ShapeError(f"{name}: contains infinite values (NaN marks a missing entry, infinity is not allowed)")
    if data.shape[0] < 2 or data.shape[1] < 2 or data.shape[2] < 1:
        raise ShapeError(f"{name}: expected shape (num ≥ 2, N ≥ 2, d ≥ 1), got {tuple(data.shape)}")
    if in_dim is not None and data.shape[2] != in_dim:
        raise ShapeError(f"{name}: expected {in_dim} features (the model's d), got shape {tuple(data.shape)}")
    data = data.to(dtype)
    observed = data[~torch.isnan(data)]
    if observed.numel() == 0:
        raise ShapeError(f"{name}: every entry is missing (NaN)")
    lo, hi = float(observed.min()), float(observed.max())
    if lo < -0.5 or hi > 1.5:
        warnings.warn(f"{name}: values span [{lo:.3g}, {hi:.3g}]; the model expects data min-max scaled to "
                      "[0, 1] (kernelops.data.MinMaxScaler)", KernelopsWarning, stacklevel=3)
    return data


def as_observations(observed: Any, mask: Any, shape: tuple[int, int]) -> tuple[torch.Tensor, Any]:
    """Observed windows and their mask as tensors (default mask: where ``observed`` is not NaN).

    The mask's values are checked later, with the observations (:func:`~kernelops.flows.sample.conditional.check_observations`).

    Raises:
        ValueError: a mask without observations. ShapeError: not float windows of shape (B, *shape).

    Shape:
        observed, mask: (B, N, d) with (N, d) = ``shape``. returns: the same.
    """
    if observed is None:
        raise ValueError("mask: given without observed; pass observed=windows (NaN where missing)")
    y = torch.from_numpy(np.asarray(observed)) if isinstance(observed, np.ndarray) else observed
    if not isinstance(y, torch.Tensor) or y.dim() != 3 or not y.is_floating_point():
        got = tuple(y.shape) if isinstance(y, torch.Tensor) else type(observed).__name__
        raise ShapeError(f"observed: expected float windows of shape (B, N, d) in [0, 1], got {got}")
    if tuple(y.shape[1:]) != tuple(shape):
        raise ShapeError(f"observed: expected windows of shape (N, d) = {tuple(shape)} (the model's), "
                         f"got {tuple(y.shape[1:])}")
    if mask is None:
        return y, ~torch.isnan(y)
    return y, torch.from_numpy(np.asarray(mask)) if isinstance(mask, np.ndarray) else mask


def training_fingerprint(x: torch.Tensor, previous: str | list[float] | None, step: int) -> str:
    """A hash of the training windows' values (:func:`kernelops.utils.fingerprint.array_fingerprint`);
    warns when a model already trained (``step`` > 0) on data with another hash (``previous``)
    gets these, as a resumed run would then not reproduce the uninterrupted one.

    A hash, not sums of the values: sums miss a reordering (time reversal). Checkpoints of older
    versions hold a list of sums, which is not compared.

    Shape:
        x: (num, N, d), NaN where missing.
    """
    fingerprint = array_fingerprint(x)
    if isinstance(previous, str) and step > 0 and fingerprint != previous:
        warnings.warn("fit: the data differ from those this model was trained on so far; a resumed run "
                      "will not reproduce the uninterrupted one", KernelopsWarning, stacklevel=3)
    return fingerprint


__all__ = ["as_observations", "as_windows", "from_model", "to_model", "training_fingerprint"]
