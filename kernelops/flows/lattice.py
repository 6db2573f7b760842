"""Channels that take a few evenly spaced values (counts, ratings, levels): found in the training
data, and generated values rounded back onto them.

A continuous flow puts every generated value somewhere on the real line, so a channel of counts comes
back as 2.37 and 3.81 however well the model has learned it: no field makes values land exactly on a
grid. A channel whose training values are few (at most ``LATTICE_MAX_LEVELS`` distinct ones) and all
of the form offset + k·step is a *lattice channel*; :func:`snap_to_lattice` rounds a generated value
to the nearest level k, clamped to the levels seen in training. The flow's density then plays the
part of a dequantised one: the probability of level k is the mass it puts within half a step of it
(docs/spectral_mean_flow.md, "Discrete channels").

A lattice is stored per channel as ``{"offset", "step", "levels"}`` (levels k = 0 … levels − 1) or
None for a continuous channel, on the [0, 1] scale of :meth:`SpectralMeanFlow.fit`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from kernelops.flows.config import LATTICE_MAX_LEVELS

#: a value lies on the lattice when it is within this share of a step of a level
_ON_LEVEL = 1e-3


def channel_lattice(values: np.ndarray, max_levels: int = LATTICE_MAX_LEVELS) -> dict[str, Any] | None:
    """The lattice of one channel's values, or None when they are not on one.

    A lattice needs 2 … ``max_levels`` distinct finite values, every one within 1e-3 steps of
    offset + k·step, where offset is the smallest value and step the smallest gap between two
    distinct values.

    Shape:
        values: any shape (NaN entries are ignored).
    """
    distinct = np.unique(values[np.isfinite(values)].astype(np.float64))
    if not 2 <= distinct.size <= max_levels:
        return None
    offset, step = float(distinct[0]), float(np.diff(distinct).min())
    if step <= 0:
        return None
    k = (distinct - offset) / step
    if np.abs(k - np.round(k)).max() > _ON_LEVEL:
        return None
    return {"offset": offset, "step": step, "levels": int(round(k[-1])) + 1}


def detect_lattices(data: torch.Tensor | np.ndarray, max_levels: int = LATTICE_MAX_LEVELS) -> list[dict[str, Any] | None]:
    """:func:`channel_lattice` of every channel.

    Shape:
        data: (num, N, d). returns: d entries.
    """
    arr = data.detach().cpu().numpy() if isinstance(data, torch.Tensor) else np.asarray(data)
    return [channel_lattice(arr[..., c], max_levels) for c in range(arr.shape[-1])]


def snap_to_lattice(x: torch.Tensor, lattices: list[dict[str, Any] | None] | None) -> torch.Tensor:
    """``x`` with each lattice channel rounded to its nearest level (clamped to the levels seen).

    Continuous channels (None) are returned as they are; so is ``x`` when no channel has a lattice.

    Shape:
        x: (..., d) with d = len(lattices). returns: the same.
    """
    if not lattices or all(lat is None for lat in lattices):
        return x
    if x.shape[-1] != len(lattices):
        raise ValueError(f"x: expected {len(lattices)} channels (one lattice entry each), got shape {tuple(x.shape)}")
    out = x.clone()
    for c, lat in enumerate(lattices):
        if lat is None:
            continue
        k = torch.round((x[..., c] - lat["offset"]) / lat["step"]).clamp(0, lat["levels"] - 1)
        out[..., c] = lat["offset"] + k * lat["step"]
    return out


__all__ = ["channel_lattice", "detect_lattices", "snap_to_lattice"]
