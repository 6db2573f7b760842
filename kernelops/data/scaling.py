"""Per-feature min-max scaling to [0, 1], the protocol's only preprocessing (docs/datasets.md).

The statistics are kept as float64 NumPy arrays; :meth:`MinMaxScaler.state_dict` turns them
into plain lists and floats so that a checkpoint loaded with ``torch.load(weights_only=True)``
or a ``config.json`` can carry the scaler without pickling objects.

torch is not imported here: a tensor can only exist once torch is imported, so the tensor
branch looks torch up in ``sys.modules`` (keeps ``kernelops datasets`` and data-only scripts
free of torch's import time).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from kernelops.errors import DataError, ShapeError

if TYPE_CHECKING:
    import torch

ArrayT = TypeVar("ArrayT")  # np.ndarray or torch.Tensor: results have the input's type


def _torch_if_tensor(x: Any) -> Any:
    """The torch module when ``x`` is a tensor, else None (never imports torch)."""
    torch = sys.modules.get("torch")
    return torch if torch is not None and isinstance(x, torch.Tensor) else None


def _shape(x: np.ndarray | torch.Tensor) -> str:
    return "(" + ", ".join(str(s) for s in x.shape) + ")"


class MinMaxScaler:
    """Scale every feature (last axis) to [0, 1]: ``(x - min) / (max - min + eps)``.

    ``fit`` takes the minimum and maximum over all leading axes, so a series (T, d) and a stack
    of windows (n, N, d) are both accepted. ``transform`` and ``inverse_transform`` return the
    type they are given (NumPy array or tensor, on the tensor's device, in its floating dtype).

    Args:
        eps: added to the range so that a constant feature maps to 0 instead of dividing by 0.

    Shape:
        x: (..., d) with at least 2 dimensions for ``fit``; (..., d) for the transforms.
    """

    def __init__(self, eps: float = 1e-7):
        if not eps >= 0:
            raise ValueError(f"eps: expected a non-negative number, got {eps!r}")
        self.eps = float(eps)
        self.min_: np.ndarray | None = None
        self.max_: np.ndarray | None = None
        self.scale_: np.ndarray | None = None  # max - min + eps, or 1 for identity

    # -- fitting -------------------------------------------------------------------------
    def fit(self, x: np.ndarray | torch.Tensor) -> MinMaxScaler:
        """Record per-feature minimum and maximum over all leading axes of ``x`` (NaN, a missing
        value, is skipped); returns self."""
        arr = _as_float64(x, "x")
        if arr.ndim < 2:
            raise ShapeError(f"x: expected shape (T, d) or (n, N, d), got {_shape(arr)}")
        if arr.size == 0:
            raise DataError(f"x: cannot fit a scaler on an empty array of shape {_shape(arr)}")
        if np.isinf(arr).any():
            bad = np.argwhere(np.isinf(arr))[0]
            raise DataError(f"x: contains infinite values (first at index {tuple(int(i) for i in bad)})")
        flat = arr.reshape(-1, arr.shape[-1])
        empty = np.isnan(flat).all(axis=0)
        if empty.any():
            raise DataError(f"x: feature {int(np.argmax(empty))} has no values (all NaN)")
        # NaN marks a missing value: the range is that of the observed values
        self.min_ = np.nanmin(flat, axis=0)
        self.max_ = np.nanmax(flat, axis=0)
        self.scale_ = self.max_ - self.min_ + self.eps
        return self

    def fit_transform(self, x: ArrayT) -> ArrayT:
        """``fit(x)`` then ``transform(x)``."""
        return self.fit(x).transform(x)  # type: ignore[arg-type]  # ArrayT is an array or a tensor

    @classmethod
    def identity(cls, num_features: int) -> MinMaxScaler:
        """A fitted scaler that changes nothing (min 0, scale exactly 1).

        Sines uses it: its raw values already are the scale the protocol evaluates on.
        """
        if int(num_features) != num_features or num_features < 1:
            raise ValueError(f"num_features: expected a positive integer, got {num_features!r}")
        scaler = cls(eps=0.0)
        scaler.min_ = np.zeros(int(num_features))
        scaler.max_ = np.ones(int(num_features))
        scaler.scale_ = np.ones(int(num_features))
        return scaler

    # -- state -----------------------------------------------------------------------------
    @property
    def fitted(self) -> bool:
        """Whether the statistics are set (by ``fit``, ``identity`` or ``from_state_dict``)."""
        return self.min_ is not None

    @property
    def num_features(self) -> int:
        return len(self._check_fitted()[0])

    def _check_fitted(self) -> tuple[np.ndarray, np.ndarray]:
        if self.min_ is None or self.scale_ is None:
            raise DataError("MinMaxScaler is not fitted: call .fit(x) first (or build it with "
                            "MinMaxScaler.identity / MinMaxScaler.from_state_dict)")
        return self.min_, self.scale_

    def state_dict(self) -> dict[str, Any]:
        """Plain lists and floats (JSON and ``torch.load(weights_only=True)`` safe)."""
        mn, scale = self._check_fitted()
        assert self.max_ is not None
        return {"eps": self.eps, "min": [float(v) for v in mn], "max": [float(v) for v in self.max_],
                "scale": [float(v) for v in scale]}

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> MinMaxScaler:
        """Rebuild a fitted scaler from :meth:`state_dict` output."""
        try:
            scaler = cls(eps=float(state.get("eps", 1e-7)))
            scaler.min_ = np.asarray(state["min"], dtype=np.float64).reshape(-1)
            scaler.max_ = np.asarray(state["max"], dtype=np.float64).reshape(-1)
        except (KeyError, TypeError, AttributeError) as exc:
            raise DataError(f"scaler state: expected a dict with 'min' and 'max' lists, got {state!r}") from exc
        if "scale" in state:
            scaler.scale_ = np.asarray(state["scale"], dtype=np.float64).reshape(-1)
        else:
            scaler.scale_ = scaler.max_ - scaler.min_ + scaler.eps
        if not (len(scaler.min_) == len(scaler.max_) == len(scaler.scale_)):
            raise DataError("scaler state: 'min', 'max' and 'scale' have different lengths")
        return scaler

    # -- transforms ------------------------------------------------------------------------
    def transform(self, x: ArrayT) -> ArrayT:
        """Map raw values to the [0, 1] scale (exactly [0, 1 - eps/(range+eps)] on the fit data)."""
        mn, scale = self._params_like(x, "x")
        return (x - mn) / scale

    def inverse_transform(self, x: ArrayT) -> ArrayT:
        """Map scaled values back to the raw scale: ``x * (max - min + eps) + min``."""
        mn, scale = self._params_like(x, "x")
        return x * scale + mn

    def _params_like(self, x: Any, name: str) -> tuple[Any, Any]:
        mn, scale = self._check_fitted()
        torch = _torch_if_tensor(x)
        if torch is not None:
            if x.dim() < 1 or x.shape[-1] != len(mn):
                raise ShapeError(f"{name}: expected shape (..., {len(mn)}), got {_shape(x)}")
            dtype = x.dtype if x.is_floating_point() else torch.get_default_dtype()
            return (torch.as_tensor(mn, dtype=dtype, device=x.device),
                    torch.as_tensor(scale, dtype=dtype, device=x.device))
        if isinstance(x, np.ndarray):
            if x.ndim < 1 or x.shape[-1] != len(mn):
                raise ShapeError(f"{name}: expected shape (..., {len(mn)}), got {_shape(x)}")
            # keep float32 data float32 (windows are stored as float32)
            dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float64
            return mn.astype(dtype), scale.astype(dtype)
        raise ShapeError(f"{name}: expected a numpy array or torch.Tensor, got {type(x).__name__}")

    def __repr__(self) -> str:
        if not self.fitted:
            return f"MinMaxScaler(eps={self.eps}, unfitted)"
        return f"MinMaxScaler(eps={self.eps}, num_features={self.num_features})"


def _as_float64(x: Any, name: str) -> np.ndarray:
    torch = _torch_if_tensor(x)
    if torch is not None:
        # statistics are tiny host-side state; moving them off the device is intended
        return x.detach().to("cpu", torch.float64).numpy()
    if isinstance(x, np.ndarray):
        if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
            raise DataError(f"{name}: expected a numeric array, got dtype {x.dtype}")
        return x.astype(np.float64, copy=False)
    raise ShapeError(f"{name}: expected a numpy array or torch.Tensor, got {type(x).__name__}")
