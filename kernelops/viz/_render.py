"""Shared plotting plumbing: an Agg figure that never touches pyplot, and an atomic PNG save.

Figures are built as ``matplotlib.figure.Figure`` with an explicit Agg canvas instead of
``pyplot``: that renders off-screen without selecting a global backend, so calling a plot
function from a notebook or a GUI session changes nothing there, and no figure is leaked
into pyplot's registry. matplotlib is imported inside the functions, never at
``import kernelops``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from kernelops.errors import ShapeError
from kernelops.utils.atomic import atomic_open

DPI = 110


def new_figure(width: float, height: float) -> Any:
    """A ``Figure`` of ``width`` × ``height`` inches attached to an Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def save_png(fig: Any, path: str | os.PathLike[str]) -> Path:
    """Write ``fig`` as PNG to ``path`` via a temporary file and a rename; returns the path."""
    target = Path(path)
    with atomic_open(target, "wb") as handle:
        fig.savefig(handle, format="png", dpi=DPI)
    # the temporary file was created 0600; give the PNG the usual permissions for new files
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(target, 0o666 & ~umask)
    return target


def to_numpy(x: Any, name: str, ndim: int | None = None) -> np.ndarray:
    """Host copy of an array-like (tensors are detached and copied off their device to plot)."""
    torch = sys.modules.get("torch")  # a tensor implies torch is imported; never import it here
    if torch is not None and isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    arr = np.asarray(x)
    if ndim is not None and arr.ndim != ndim:
        raise ShapeError(f"{name}: expected a {ndim}-d array, got shape {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ShapeError(f"{name}: expected numbers, got dtype {arr.dtype}")
    return arr
