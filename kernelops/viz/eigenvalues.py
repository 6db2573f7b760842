"""Operator eigenvalues on the complex plane with the unit circle (|λ| < 1: decaying modes)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from kernelops.viz._render import new_figure, save_png, to_numpy


def plot_eigenvalues(eigvals: Any, path: str | os.PathLike[str], *, title: str | None = None) -> Path:
    """Scatter eigenvalues in the complex plane, coloured by modulus, with the unit circle.

    Args:
        eigvals: eigenvalues (complex; real input is drawn on the real axis).
        path: where to write the PNG.
        title: figure title (default: how many, and the largest modulus).

    Shape:
        eigvals: (r,).

    Returns:
        the path written.
    """
    return save_png(eigenvalues_figure(eigvals, title=title), path)


def eigenvalues_figure(eigvals: Any, *, title: str | None = None) -> Any:
    """The figure :func:`plot_eigenvalues` saves (a ``matplotlib.figure.Figure``)."""
    lam = to_numpy(eigvals, "eigvals", ndim=1).astype(np.complex128)
    if lam.size and not np.isfinite(lam).all():
        raise ValueError(f"eigvals: contains {int((~np.isfinite(lam)).sum())} NaN or infinite value(s)")
    fig = new_figure(5.0, 5.0)
    ax = fig.subplots()
    theta = np.linspace(0.0, 2.0 * np.pi, 400)
    ax.plot(np.cos(theta), np.sin(theta), color="0.4", linestyle="--", linewidth=1.0, label="unit circle")
    ax.axhline(0.0, color="0.75", linewidth=0.8)
    ax.axvline(0.0, color="0.75", linewidth=0.8)
    if lam.size:
        points = ax.scatter(lam.real, lam.imag, c=np.abs(lam), cmap="viridis", s=28, zorder=3,
                            vmin=0.0, vmax=max(1.0, float(np.abs(lam).max())),
                            edgecolors="k", linewidths=0.4)
        fig.colorbar(points, ax=ax, fraction=0.046, pad=0.04, label="|\u03bb|")
    radius = max(1.1, 1.1 * float(np.abs(lam).max()) if lam.size else 1.1)
    ax.set_xlim(-radius, radius)
    ax.set_ylim(-radius, radius)
    ax.set_aspect("equal")
    ax.set_xlabel("Re \u03bb")
    ax.set_ylabel("Im \u03bb")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize=8)
    default = f"{lam.size} eigenvalues, max |\u03bb| = {np.abs(lam).max():.3g}" if lam.size else "no eigenvalues"
    ax.set_title(title or default)
    fig.tight_layout()
    return fig
