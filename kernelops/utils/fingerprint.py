"""Fingerprints of training data: has the data a run was trained on changed?

A run records, in its checkpoint and ``config.json``, the SHA-256 of the raw values it was trained
on (the series before windowing when there is one, else the windows) and the min-max scaler fit to
them. ``kernelops fit --resume`` recomputes both and refuses to continue on data that differ
(:func:`describe_change` says how). The hash sees any change of a value or of the order
(time reversal), the scaler any change of range (x·10 + 5, which leaves the scaled windows equal).
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

#: the fingerprint record's version (a different one is not compared)
FORMAT = 1


def array_fingerprint(values: Any) -> str:
    """``sha256:<hex>`` of an array's shape and float64 values (NaN normalised), C order.

    Shape:
        values: any; NumPy arrays and tensors (moved to the CPU) alike.
    """
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    arr = np.ascontiguousarray(np.asarray(values, dtype=np.float64))
    arr = np.where(np.isnan(arr), np.nan, arr)  # one NaN bit pattern, whatever the source wrote
    digest = hashlib.sha256(repr(arr.shape).encode())
    digest.update(arr.tobytes())
    return f"sha256:{digest.hexdigest()}"


def dataset_fingerprint(dataset: Any) -> dict[str, Any]:
    """The record stored in a run: hash of the raw values, their shape and the scaler's state.

    Args:
        dataset: a :class:`kernelops.data.WindowDataset`.
    """
    raw = dataset.series if getattr(dataset, "series", None) is not None else dataset.windows
    return {"format": FORMAT, "values": array_fingerprint(raw), "shape": [int(s) for s in np.shape(raw)],
            "of": "series" if getattr(dataset, "series", None) is not None else "windows",
            "scaler": dataset.scaler.state_dict()}


def describe_change(stored: dict[str, Any] | None, current: dict[str, Any], stored_scaler: dict[str, Any] | None
                    ) -> str | None:
    """What changed between the data a run recorded and the data now, in words; None if nothing did.

    Args:
        stored: the run's record (None for runs written before fingerprints: only the scaler is compared).
        current: :func:`dataset_fingerprint` of the data now.
        stored_scaler: the scaler state the run's model holds (what its samples are mapped back with).
    """
    scaler_now = current["scaler"]
    record = stored or {}
    known = record.get("format") == FORMAT
    if known and record.get("shape") != current["shape"]:
        return f"their shape changed from {tuple(record.get('shape') or ())} to {tuple(current['shape'])}"
    if stored_scaler is not None and not _same_scaler(stored_scaler, scaler_now):
        return (f"their range changed: per-feature min {_fmt(stored_scaler.get('min'))} max "
                f"{_fmt(stored_scaler.get('max'))} when the run started, now min {_fmt(scaler_now['min'])} "
                f"max {_fmt(scaler_now['max'])}")
    if not known:
        return None
    if record.get("values") != current["values"]:
        return "their values changed (same shape and range; the hash of the raw values differs)"
    return None


def _same_scaler(a: dict[str, Any], b: dict[str, Any]) -> bool:
    try:
        return all(np.allclose(np.asarray(a[k], dtype=np.float64), np.asarray(b[k], dtype=np.float64),
                               rtol=1e-12, atol=0.0) for k in ("min", "max"))
    except (KeyError, ValueError, TypeError):
        return False


def _fmt(values: Any) -> str:
    try:
        return "[" + ", ".join(f"{float(v):.4g}" for v in values) + "]"
    except (TypeError, ValueError):
        return repr(values)


__all__ = ["array_fingerprint", "dataset_fingerprint", "describe_change"]
