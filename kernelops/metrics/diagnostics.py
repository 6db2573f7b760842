"""Two cheap statistics that say *how* generated windows differ from real ones.

The four protocol metrics say *how much*; these say whether the difference is windows the flow
carried outside the data's range (an overshoot, or noise it never carried into the support) or
step-to-step jitter it did not remove. Nothing is trained; both take seconds on a CPU.

* :func:`out_of_range_fraction`: the fraction of windows with any value outside [low, high].
  :func:`sample_diagnostics` uses the real windows' own range widened by a margin, so real
  windows score 0 by construction.
* :func:`roughness`: mean |Δ²x|, the second difference along time. Its ratio generated / real
  is 1 for windows as smooth as the data; residual noise makes it large.

Inputs are windows (n, seq_len, features) as numpy arrays or tensors, on the scale the metrics
use ([0, 1]); the statistics are computed in float64.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from kernelops.metrics._common import as_windows, check_pair

#: margins outside the real range: a little (0.05) and grossly (0.5) outside, on the [0, 1] scale
DEFAULT_MARGINS = (0.05, 0.5)


def out_of_range_fraction(windows: Any, low: float = -0.05, high: float = 1.05) -> float:
    """Fraction of windows with any value outside [low, high] (the bounds themselves are inside).

    Shape:
        windows: (n, seq_len, features).
    """
    if not low <= high:
        raise ValueError(f"low, high: expected low <= high, got low={low}, high={high}")
    w = as_windows(windows, "windows")
    return float(((w < low) | (w > high)).flatten(1).any(dim=1).double().mean())


def roughness(windows: Any) -> float:
    """Mean absolute second difference along time, mean |x[t+1] − 2x[t] + x[t−1]|.

    Zero for windows that are straight lines in time; ``4a`` for a ±a alternation.

    Shape:
        windows: (n, seq_len, features) with seq_len ≥ 3.
    """
    w = as_windows(windows, "windows", min_len=3).double()
    return float(torch.diff(w, n=2, dim=1).abs().mean())


def sample_diagnostics(fake: Any, real: Any, margins: Sequence[float] = DEFAULT_MARGINS) -> dict[str, Any]:
    """Range and smoothness of generated windows against real ones.

    Args:
        fake: generated windows.
        real: real windows (same seq_len and features; the counts may differ).
        margins: how far outside the real windows' [min, max] a value must lie to count.

    Returns:
        ``{"windows": n_fake, "real_range": [min, max], "out_of_range": {margin: fraction},
        "roughness_fake", "roughness_real", "roughness_ratio"}`` (the ratio is inf when the real
        windows are perfectly straight and the generated ones are not, nan when both are).

    Shape:
        fake: (n_fake, seq_len, features), real: (n_real, seq_len, features), seq_len ≥ 3.
    """
    r, f = check_pair(real, fake, min_len=3)
    if any(not m >= 0 for m in margins):
        raise ValueError(f"margins: expected non-negative numbers, got {list(margins)}")
    low, high = float(r.min()), float(r.max())
    rough_fake, rough_real = roughness(f), roughness(r)
    if rough_real > 0:
        ratio = rough_fake / rough_real
    else:
        ratio = float("inf") if rough_fake > 0 else float("nan")
    return {
        "windows": int(f.shape[0]),
        "real_range": [low, high],
        "out_of_range": {float(m): out_of_range_fraction(f, low - m, high + m) for m in margins},
        "roughness_fake": rough_fake,
        "roughness_real": rough_real,
        "roughness_ratio": ratio,
    }


__all__ = ["DEFAULT_MARGINS", "out_of_range_fraction", "roughness", "sample_diagnostics"]
