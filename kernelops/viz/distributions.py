"""Distribution plots of real vs generated windows: value densities and per-channel overlays.

``plot_histogram`` is the density figure of Diffusion-TS (all values pooled); ``plot_channel_overlays``
shows, channel by channel, the median and 5–95 % band over time of each set with a few
individual windows drawn thinly, which makes drift, clipping or collapsed variance visible.
Both draw on an Agg canvas of their own (``kernelops.viz._render``: pyplot's global state is
never touched) and write the PNG atomically. Colours match ``plot_samples``: real blue,
generated red. ``plot_samples`` draws individual windows only; the overlays here add the
per-step distribution of each set.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from kernelops.errors import ShapeError
from kernelops.viz._render import new_figure, save_png
from kernelops.viz.embedding import _as_array
from kernelops.viz.samples import FAKE_COLOR, REAL_COLOR


def _windows_pair(real: Any, fake: Any) -> tuple[np.ndarray, np.ndarray]:
    r, f = _as_array(real, "real"), _as_array(fake, "fake")
    if r.ndim != 3 or f.ndim != 3:
        raise ShapeError(f"real and fake: expected shape (n, seq_len, features); got real {tuple(r.shape)} "
                         f"and fake {tuple(f.shape)}")
    if r.shape[1:] != f.shape[1:]:
        raise ShapeError(f"real and fake must have the same (seq_len, features); got real "
                         f"{tuple(r.shape)} and fake {tuple(f.shape)}")
    return r, f


def value_densities(real: Any, fake: Any, bins: int = 50) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Histogram densities of all values of each set on shared bins.

    Shape:
        real: (n, N, d). fake: (m, N, d).
        returns: (edges (bins + 1,), real_density (bins,), fake_density (bins,)); each
        density integrates to 1 over the edges.
    """
    r, f = _windows_pair(real, fake)
    lo, hi = min(r.min(), f.min()), max(r.max(), f.max())
    if hi <= lo:  # constant data: a unit-width bin around the value
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, int(bins) + 1)
    dr, _ = np.histogram(r, bins=edges, density=True)
    df, _ = np.histogram(f, bins=edges, density=True)
    return edges, dr, df


def plot_histogram(real: Any, fake: Any, path: str | os.PathLike[str], *, bins: int = 50,
                   title: str | None = None) -> Path:
    """Density of all values, real vs generated, as a PNG.

    Args:
        real: real windows (typically scaled to [0, 1]).
        fake: generated windows, same (seq_len, features).
        path: output PNG.
        bins: histogram bins over the joint range.
        title: figure title.

    Shape:
        real: (n, N, d). fake: (m, N, d).

    Returns:
        The path written.
    """
    edges, dr, df = value_densities(real, fake, bins)
    fig = new_figure(6.5, 4.0)
    ax = fig.add_subplot(1, 1, 1)
    ax.stairs(dr, edges, fill=True, alpha=0.35, color=REAL_COLOR, label="real")
    ax.stairs(df, edges, fill=False, linewidth=1.8, color=FAKE_COLOR, label="generated")
    ax.set_xlabel("value")
    ax.set_ylabel("density")
    ax.set_title(title or "Value density: real vs generated")
    ax.legend(frameon=False)
    return save_png(fig, path)


def plot_channel_overlays(real: Any, fake: Any, path: str | os.PathLike[str], *, channels: list[int] | None = None,
                          max_channels: int = 12, max_series: int = 5, feature_names: list[str] | None = None,
                          seed: int = 0, title: str | None = None) -> Path:
    """Per-channel overlays over time: median and 5–95 % band of each set, plus a few windows.

    Args:
        real: real windows.
        fake: generated windows, same (seq_len, features).
        path: output PNG.
        channels: which channels to draw (default: the first ``max_channels``).
        max_channels: cap on the number of panels when ``channels`` is None.
        max_series: individual windows drawn per set and channel (seeded choice).
        feature_names: panel titles (default ``channel k``).
        seed: which windows are drawn individually.
        title: figure title.

    Shape:
        real: (n, N, d). fake: (m, N, d).

    Returns:
        The path written.
    """
    r, f = _windows_pair(real, fake)
    d = r.shape[2]
    chosen = list(range(min(d, max_channels))) if channels is None else [int(c) for c in channels]
    if not chosen or any(c < 0 or c >= d for c in chosen):
        raise ValueError(f"channels: expected indices in [0, {d}), got {channels!r}")
    if feature_names is not None and len(feature_names) != d:
        raise ValueError(f"feature_names: expected {d} names, got {len(feature_names)}")
    cols = min(4, len(chosen))
    rows = math.ceil(len(chosen) / cols)
    fig = new_figure(3.6 * cols, 2.6 * rows + 0.6)
    rng = np.random.default_rng(seed)
    picks = [rng.choice(len(x), size=min(max_series, len(x)), replace=False) for x in (r, f)]
    steps = np.arange(r.shape[1])
    for k, c in enumerate(chosen):
        ax = fig.add_subplot(rows, cols, k + 1)
        for x, pick, colour, label in ((r, picks[0], REAL_COLOR, "real"), (f, picks[1], FAKE_COLOR, "generated")):
            lo, mid, hi = np.quantile(x[:, :, c], [0.05, 0.5, 0.95], axis=0)
            ax.fill_between(steps, lo, hi, color=colour, alpha=0.18, linewidth=0)
            ax.plot(steps, mid, color=colour, linewidth=1.8, label=f"{label} median, 5–95 %")
            for i in pick:
                ax.plot(steps, x[i, :, c], color=colour, linewidth=0.6, alpha=0.5)
        ax.set_title(feature_names[c] if feature_names else f"channel {c}", fontsize=9)
        ax.tick_params(labelsize=7)
        if k == 0:
            ax.legend(fontsize=7, frameon=False, loc="best")
    fig.suptitle(title or f"Real vs generated per channel ({len(r)} real, {len(f)} generated windows)")
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    return save_png(fig, path)


__all__ = ["plot_channel_overlays", "plot_histogram", "value_densities"]
