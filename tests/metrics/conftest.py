"""Fixtures of the metric tests: a Sines generator written here (docs/datasets.md's definition)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest


def draw_sines(n: int, seq_len: int = 24, features: int = 5, seed: int = 0) -> np.ndarray:
    """(sin(f t + φ) + 1) / 2 with f, φ ~ U[0, 0.1] per sequence and channel, t = 0 … seq_len − 1.

    Shape:
        returns: (n, seq_len, features), float64, values in [0.5, 1].
    """
    rng = np.random.default_rng(seed)
    f = rng.uniform(0.0, 0.1, size=(n, 1, features))
    phi = rng.uniform(0.0, 0.1, size=(n, 1, features))
    t = np.arange(seq_len)[None, :, None]
    return (np.sin(f * t + phi) + 1.0) / 2.0


@pytest.fixture
def sines() -> Callable[..., np.ndarray]:
    """The Sines generator ``sines(n, seq_len=24, features=5, seed=0)``."""
    return draw_sines
