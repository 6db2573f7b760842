"""Plots written as PNG files (matplotlib, off-screen Agg canvas, imported only when plotting).

Every function takes arrays or tensors (on any device), writes the PNG atomically and returns
its path: :func:`plot_samples` (generated vs real, per channel), :func:`plot_eigenvalues`
(complex plane with the unit circle), :func:`plot_curve` (loss, MMD vs time) and
:func:`plot_loss_csv`; the ``*_figure`` functions return the figure instead, to adjust before
saving. PCA/t-SNE and value histograms live in ``kernelops.viz.embedding`` and
``kernelops.viz.distributions`` and are re-exported here lazily.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

from kernelops.viz.curves import curve_figure, loss_csv_figure, plot_curve, plot_loss_csv
from kernelops.viz.eigenvalues import eigenvalues_figure, plot_eigenvalues
from kernelops.viz.samples import plot_samples, samples_figure

_LAZY = {
    "pca_2d": "embedding", "tsne_2d": "embedding", "plot_embedding": "embedding",
    "plot_histogram": "distributions", "plot_channel_overlays": "distributions",
}

# list lazy names only when their module is installed, so ``from kernelops.viz import *`` works
__all__ = ["curve_figure", "eigenvalues_figure", "loss_csv_figure", "plot_curve", "plot_eigenvalues",
           "plot_loss_csv", "plot_samples", "samples_figure",
           *(n for n, m in _LAZY.items() if importlib.util.find_spec(f"kernelops.viz.{m}") is not None)]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"kernelops.viz.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'kernelops.viz' has no attribute {name!r}")
