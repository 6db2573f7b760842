"""Line plots of training curves (loss, learning rate) and of MMD against flow time."""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kernelops.errors import DataError
from kernelops.viz._render import new_figure, save_png, to_numpy


def plot_curve(x: Sequence[float] | Any | None, ys: Mapping[str, Sequence[float] | Any], path: str | os.PathLike[str], *,
               xlabel: str = "step", ylabel: str = "value", title: str | None = None, logy: bool = False) -> Path:
    """Draw one or more named curves against a shared x axis as a PNG.

    Args:
        x: x values; None means 0, 1, 2, ...
        ys: curve name -> y values, each as long as ``x``.
        path: where to write the PNG.
        xlabel, ylabel, title: axis labels and title.
        logy: logarithmic y axis (non-positive values are left out of a log plot).

    Shape:
        x: (L,). each ys value: (L,).

    Returns:
        the path written.
    """
    return save_png(curve_figure(x, ys, xlabel=xlabel, ylabel=ylabel, title=title, logy=logy), path)


def curve_figure(x: Sequence[float] | Any | None, ys: Mapping[str, Sequence[float] | Any], *, xlabel: str = "step",
                 ylabel: str = "value", title: str | None = None, logy: bool = False) -> Any:
    """The figure :func:`plot_curve` saves (a ``matplotlib.figure.Figure``)."""
    if not ys:
        raise ValueError("ys: expected at least one curve, got none")
    curves = {str(k): to_numpy(v, f"ys[{k!r}]", ndim=1).astype(np.float64) for k, v in ys.items()}
    length = len(next(iter(curves.values())))
    xs = np.arange(length, dtype=np.float64) if x is None else to_numpy(x, "x", ndim=1).astype(np.float64)
    for k, v in curves.items():
        if len(v) != len(xs):
            raise ValueError(f"ys[{k!r}]: expected {len(xs)} values (the length of x), got {len(v)}")
    fig = new_figure(6.4, 4.0)
    ax = fig.subplots()
    for k, v in curves.items():
        keep = v > 0 if logy else np.ones_like(v, dtype=bool)
        ax.plot(xs[keep], v[keep], label=k, linewidth=1.4, marker="o" if len(xs) <= 30 else None, markersize=3)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3, which="both")
    if len(curves) > 1:
        ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def read_numeric_csv(csv_path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Columns of a CSV with a header row and numeric cells (e.g. ``loss.csv``: step, loss, lr)."""
    p = Path(csv_path)
    with open(p, newline="") as handle:
        reader = csv.reader(handle)
        rows = [(reader.line_num, r) for r in reader if r and any(c.strip() for c in r)]
    if len(rows) < 2:
        raise DataError(f"{p}: expected a header row and at least one data row")
    header = [h.strip() for h in rows[0][1]]
    columns: dict[str, list[float]] = {h: [] for h in header}
    for line, row in rows[1:]:
        if len(row) != len(header):
            raise DataError(f"{p}: line {line} has {len(row)} fields, the header has {len(header)}")
        for h, cell in zip(header, row):
            try:
                columns[h].append(float(cell) if cell.strip() else float("nan"))
            except ValueError:
                raise DataError(f"{p}: column {h!r} is not numeric: line {line} has {cell!r}") from None
    return {h: np.asarray(v) for h, v in columns.items()}


def plot_loss_csv(csv_path: str | os.PathLike[str], png_path: str | os.PathLike[str]) -> Path:
    """Plot a training log CSV: every column against ``step`` (or the first column).

    Losses go on a log axis when they are all positive; a learning-rate column ``lr`` gets
    its own panel below, since it lives on a different scale.

    Returns:
        the PNG path written.
    """
    return save_png(loss_csv_figure(csv_path), png_path)


def loss_csv_figure(csv_path: str | os.PathLike[str]) -> Any:
    """The figure :func:`plot_loss_csv` saves (a ``matplotlib.figure.Figure``)."""
    cols = read_numeric_csv(csv_path)
    names = list(cols)
    xname = "step" if "step" in cols else names[0]
    others = [n for n in names if n != xname]
    if not others:
        raise DataError(f"{csv_path}: needs a column to plot besides {xname!r}")
    lr = [n for n in others if n.lower() in {"lr", "learning_rate"}]
    main = [n for n in others if n not in lr] or lr
    lr = [n for n in lr if n not in main]
    fig = new_figure(6.4, 5.6 if lr else 4.0)
    axes = fig.subplots(2 if lr else 1, 1, sharex=True, squeeze=False, height_ratios=[3, 1] if lr else None)[:, 0]
    x = cols[xname]
    for n in main:
        axes[0].plot(x, cols[n], label=n, linewidth=1.2)
    values = np.concatenate([cols[n][np.isfinite(cols[n])] for n in main])
    if values.size and (values > 0).all():
        axes[0].set_yscale("log")
    axes[0].set_ylabel(", ".join(main))
    axes[0].grid(alpha=0.3, which="both")
    if len(main) > 1:
        axes[0].legend(fontsize=8)
    axes[0].set_title(f"training log: {Path(csv_path).name}")
    for n in lr:
        axes[1].plot(x, cols[n], color="0.3", linewidth=1.0)
        axes[1].set_ylabel(n)
        axes[1].grid(alpha=0.3)
    axes[-1].set_xlabel(xname)
    fig.tight_layout()
    return fig
