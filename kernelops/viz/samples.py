"""Generated sequences next to real ones, one panel per channel."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kernelops.errors import ShapeError
from kernelops.viz._render import new_figure, save_png, to_numpy

REAL_COLOR, FAKE_COLOR = "#1f77b4", "#d62728"
MAX_CHANNELS = 8


def _pick(n: int, k: int) -> np.ndarray:
    """k evenly spaced indices out of n (deterministic, spread over the whole set)."""
    return np.unique(np.linspace(0, n - 1, num=min(k, n)).round().astype(int))


def plot_samples(real: Any, fake: Any, path: str | os.PathLike[str], *, title: str | None = None,
                 max_series: int = 8, channels: Sequence[int] | None = None,
                 feature_names: Sequence[str] | None = None) -> Path:
    """Overlay real (blue) and generated (red) sequences, one panel per channel, as a PNG.

    Args:
        real: real windows (arrays or tensors on any device).
        fake: generated windows; their length may differ from the real ones (longer samples).
        path: where to write the PNG.
        title: figure title.
        max_series: sequences drawn per set and panel (evenly spread over the set).
        channels: channel indices to draw; default the first 8.
        feature_names: panel titles instead of "channel k".

    Shape:
        real: (n, N, d). fake: (m, N', d).

    Returns:
        the path written.
    """
    return save_png(samples_figure(real, fake, title=title, max_series=max_series, channels=channels,
                                   feature_names=feature_names), path)


def samples_figure(real: Any, fake: Any, *, title: str | None = None, max_series: int = 8,
                   channels: Sequence[int] | None = None, feature_names: Sequence[str] | None = None) -> Any:
    """The figure :func:`plot_samples` saves (a ``matplotlib.figure.Figure``), to adjust or save elsewhere."""
    real_np, fake_np = to_numpy(real, "real", ndim=3), to_numpy(fake, "fake", ndim=3)
    d = real_np.shape[-1]
    if fake_np.shape[-1] != d:
        raise ShapeError(f"real and fake must have the same number of features; got real {real_np.shape} "
                         f"and fake {fake_np.shape}")
    if max_series < 1:
        raise ValueError(f"max_series: expected a positive integer, got {max_series!r}")
    chans = list(range(min(d, MAX_CHANNELS))) if channels is None else [int(c) for c in channels]
    if not chans or any(not 0 <= c < d for c in chans):
        raise ValueError(f"channels: expected indices in [0, {d}), got {channels!r}")
    if feature_names is not None and len(feature_names) != d:
        raise ValueError(f"feature_names: expected {d} names, got {len(feature_names)}")

    ncols = min(len(chans), 3)
    nrows = math.ceil(len(chans) / ncols)
    fig = new_figure(4.2 * ncols, 2.7 * nrows + (0.5 if title else 0.2))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    ri, fi = _pick(len(real_np), max_series), _pick(len(fake_np), max_series)
    for k, c in enumerate(chans):
        ax = axes[k // ncols][k % ncols]
        for i in ri:
            ax.plot(real_np[i, :, c], color=REAL_COLOR, alpha=0.55, linewidth=1.1)
        for i in fi:
            ax.plot(fake_np[i, :, c], color=FAKE_COLOR, alpha=0.55, linewidth=1.1, linestyle="--")
        ax.set_title(feature_names[c] if feature_names is not None else f"channel {c}", fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for k in range(len(chans), nrows * ncols):
        axes[k // ncols][k % ncols].set_visible(False)
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=REAL_COLOR, label=f"real ({len(real_np)})"),
               Line2D([], [], color=FAKE_COLOR, linestyle="--", label=f"generated ({len(fake_np)})")]
    axes[0][0].legend(handles=handles, fontsize=7, loc="best")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
