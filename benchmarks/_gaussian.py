"""The Gaussian reference row of the pendulum and long-series benchmarks.

Scripts import it as ``from _gaussian import gaussian_windows``.
"""

from __future__ import annotations

import numpy as np


def gaussian_windows(real: np.ndarray, num: int, seed: int) -> np.ndarray:
    """Windows drawn from N(m, Σ), m and Σ the real windows' mean and (unbiased) covariance.

    Drawn as m + Cᵀz / √(n − 1) with C the n centred real windows and z ~ N(0, I_n): exactly that
    Gaussian, also when Σ is singular (fewer windows than values per window, as for the long
    series), with no N·d × N·d factorisation.

    Shape:
        real: (n, N, d) with n ≥ 2. returns: (num, N, d) float64.
    """
    flat = real.reshape(len(real), -1).astype(np.float64)
    centred = flat - flat.mean(0)
    z = np.random.default_rng(seed).standard_normal((num, len(flat)))
    return (flat.mean(0) + z @ centred / np.sqrt(len(flat) - 1)).reshape(num, *real.shape[1:])
