"""Checks of a user's series before it is scaled: features that cannot be learned from.

Each check names the file, the column and what was expected, in one line. Without them a column
with no observed value surfaced as the scaler's "x: feature 1" (no file), and a constant column,
or one whose whole range is below the scaler's resolution, was scaled to a constant and the fit
later failed with advice to lower the learning rate.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kernelops.errors import DataError

#: a feature must span at least this many times the scaler's eps (``MinMaxScaler.eps``, 1e-7), or
#: scaling squeezes it into less than 99 % of [0, 1]
RESOLUTION_FACTOR = 100.0


def check_features(values: np.ndarray, names: Sequence[str], source: str | Path, eps: float = 1e-7) -> None:
    """Refuse a feature with fewer than 2 observed values, a constant one, or one too narrow to scale.

    Args:
        values: the raw series or windows, NaN where missing.
        names: one name per feature (the last axis).
        source: the file, for the message.
        eps: the scaler's eps.

    Shape:
        values: (T, d) or (n, N, d).

    Raises:
        DataError: naming the file, the column and what is expected.
    """
    flat = values.reshape(-1, values.shape[-1])
    for k, name in enumerate(names):
        column = flat[:, k]
        seen = column[~np.isnan(column)]
        fix = "drop it with --columns (columns= in Python)"
        if seen.size == 0:
            raise DataError(f"{source}: column {name!r} has no values (every entry is NaN); {fix}")
        if seen.size < 2:
            raise DataError(f"{source}: column {name!r} has 1 observed value ({seen[0]:g}); at least 2 are needed "
                            f"to learn anything about it; {fix}")
        lo, hi = float(seen.min()), float(seen.max())
        if hi == lo:
            raise DataError(f"{source}: column {name!r} is constant ({lo:g} in all {seen.size} observed values); "
                            f"it carries nothing to learn; {fix}")
        if hi - lo < RESOLUTION_FACTOR * eps:
            raise DataError(f"{source}: column {name!r} spans only {hi - lo:.3g} (from {lo:.6g} to {hi:.6g}), below "
                            f"the scaler's resolution ({RESOLUTION_FACTOR * eps:g}); multiply it by a constant "
                            f"(e.g. {10 ** -np.floor(np.log10(hi - lo)):.0g}) or {fix}")


def check_window_count(dataset: Any, source: dict[str, Any]) -> None:
    """Refuse data that give fewer than 2 windows (training needs at least 2), naming window and stride.

    Args:
        dataset: a :class:`kernelops.data.WindowDataset`.
        source: how it was built (``kernelops fit``'s record: data or dataset, window, stride).

    Raises:
        DataError: naming the file, the window, the stride and what to change.
    """
    if dataset.num_windows >= 2:
        return
    where = source.get("data") or f"dataset {source.get('dataset')!r}"
    series = getattr(dataset, "series", None)
    if series is None:
        raise DataError(f"{where}: holds {dataset.num_windows} window; at least 2 are needed to train")
    steps, window, stride = series.shape[0], dataset.seq_len, source.get("stride") or 1
    raise DataError(f"{where}: the series has {steps} steps, which with window {window} and stride {stride} gives "
                    f"{dataset.num_windows} window; at least 2 are needed to train: use a smaller --window "
                    f"(at most {steps - 1}) or --stride")


__all__ = ["RESOLUTION_FACTOR", "check_features", "check_window_count"]
