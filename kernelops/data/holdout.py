"""A chronological held-out part: train on the first windows, score against the last ones.

``kernelops fit --hold-out F`` and research code share these helpers. The split is
:meth:`WindowDataset.split` with ``contiguous=True``: the last ``F`` of the windows (in the order
the loader made them, which is time order for every kernelops loader) are held out, and the
``seq_len − 1`` windows before them are dropped so that no training window shares a time step
with a held-out one. The scaler stays the one fit on the whole series (the protocol's scale), so
held-out windows lie in [0, 1] and scores on them are on the same scale as the in-sample ones;
what the model learns of the held-out part is only each feature's minimum and maximum.

A run records the split as ``{"fraction", "windows", "train_windows", "gap"}``; rebuilding the
training part from the same data and fraction must give the same counts (:func:`training_part`).
"""

from __future__ import annotations

import math
from typing import Any

from kernelops.data.base import WindowDataset
from kernelops.errors import DataError


def check_fraction(fraction: Any, name: str = "--hold-out") -> float:
    """``fraction`` as a float in (0, 1); a ValueError naming ``name`` otherwise."""
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not math.isfinite(fraction) \
            or not 0.0 < float(fraction) < 1.0:
        raise ValueError(f"{name}: expected the share of windows to hold out, a number strictly between 0 and 1 "
                         f"(e.g. 0.2), got {fraction!r}")
    return float(fraction)


def hold_out(dataset: WindowDataset, fraction: float) -> tuple[WindowDataset, WindowDataset, dict[str, Any]]:
    """Split ``dataset`` into its training part and its held-out last ``fraction``.

    Args:
        dataset: windows in time order (any kernelops loader).
        fraction: share of the windows held out, in (0, 1).

    Returns:
        ``(train, held, record)``; ``record`` is ``{"fraction", "windows", "train_windows", "gap"}``
        (held-out windows, training windows, windows dropped between them).

    Raises:
        ValueError: ``fraction`` not in (0, 1).
        DataError: too few windows to leave at least 2 for training after the gap.

    Shape:
        train.windows: (train_windows, seq_len, d); held.windows: (windows, seq_len, d).
    """
    fraction = check_fraction(fraction)
    try:
        train, held = dataset.split(fraction, contiguous=True)
    except DataError:
        train = None
    if train is None or train.num_windows < 2:
        raise DataError(f"--hold-out {fraction:g}: {dataset.num_windows} windows of {dataset.seq_len} steps leave "
                        f"fewer than 2 for training once the last {fraction:g} are held out and the "
                        f"{dataset.split_gap} before them dropped; use a smaller --hold-out or more data")
    record = {"fraction": fraction, "windows": held.num_windows, "train_windows": train.num_windows,
              "gap": dataset.num_windows - held.num_windows - train.num_windows}
    return train, held, record


def training_part(dataset: WindowDataset, record: dict[str, Any], where: str = "the run") -> WindowDataset:
    """The training part of ``dataset`` under a recorded split (``record`` as :func:`hold_out` returns).

    Raises:
        DataError: the record is malformed, or the split of these data does not give its counts
            (the data changed since the record was written).
    """
    try:
        fraction = check_fraction(record["fraction"], "held_out.fraction")
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{where}: its held_out record {record!r} is malformed ({exc}); expected "
                        "{'fraction': F, 'windows': n, 'train_windows': n, 'gap': g}") from None
    train, _held, now = hold_out(dataset, fraction)
    if (now["windows"], now["train_windows"]) != (record.get("windows"), record.get("train_windows")):
        raise DataError(f"{where}: its held-out split of {fraction:g} gave {record.get('train_windows')} training and "
                        f"{record.get('windows')} held-out windows; the data now give {now['train_windows']} and "
                        f"{now['windows']} (the data changed)")
    return train


__all__ = ["check_fraction", "hold_out", "training_part"]
