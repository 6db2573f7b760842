"""The Sines benchmark (TimeGAN / Diffusion-TS protocol; docs/datasets.md).

Each of ``features`` channels of each sequence is (sin(f·t + φ) + 1) / 2 for t = 0 … seq_len − 1,
with f and φ drawn independently from U[0, 0.1] per sequence and channel. With the default
length 24, f·t + φ ∈ [0, 2.4] ⊂ [0, π], so every value lies in [0.5, 1]. That raw scale is
also the scale the metrics see: the reference protocol applies no further min-max to Sines,
so the dataset carries an identity scaler.
"""

from __future__ import annotations

import numpy as np

from kernelops.data.base import WindowDataset
from kernelops.data.scaling import MinMaxScaler
from kernelops.utils.memory import check_allocation

FREQ_MAX = 0.1
PHASE_MAX = 0.1


def _check_count(value: int, name: str) -> int:
    if isinstance(value, bool) or int(value) != value or value < 1:
        raise ValueError(f"{name}: expected a positive integer, got {value!r}")
    return int(value)


def make_sines(num: int = 10000, seq_len: int = 24, features: int = 5, seed: int = 0) -> np.ndarray:
    """Draw ``num`` Sines sequences.

    Args:
        num: number of sequences.
        seq_len: steps per sequence.
        features: channels per sequence.
        seed: seed of the NumPy generator; the same seed gives the same array.

    Shape:
        returns: (num, seq_len, features), float32.
    """
    num = _check_count(num, "num")
    seq_len = _check_count(seq_len, "seq_len")
    features = _check_count(features, "features")
    # the float64 phases are the largest temporaries
    check_allocation(num * seq_len * features * 8, f"sines: {num} sequences x {seq_len} steps x {features} features "
                     "(64-bit)", "use a smaller --window (seq_len) or fewer sequences (num)")
    freq, phase = sines_parameters(num, features, seed)
    t = np.arange(seq_len, dtype=np.float64)[None, :, None]
    return ((np.sin(freq[:, None, :] * t + phase[:, None, :]) + 1.0) / 2.0).astype(np.float32)


def sines_parameters(num: int = 10000, features: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The frequencies f and phases φ that :func:`make_sines` draws with the same arguments.

    A channel advances its phase by f per step, so the data's own transition spectrum is
    e^{±if} (used by ``benchmarks/learned_spectrum.py``).

    Shape:
        returns: freq (num, features), phase (num, features), float64, both in [0, 0.1].
    """
    num = _check_count(num, "num")
    features = _check_count(features, "features")
    rng = np.random.default_rng(seed)
    freq = rng.uniform(0.0, FREQ_MAX, size=(num, features))
    phase = rng.uniform(0.0, PHASE_MAX, size=(num, features))
    return freq, phase


def Sines(num: int = 10000, seq_len: int = 24, features: int = 5, seed: int = 0) -> WindowDataset:  # noqa: N802
    """The Sines dataset as a :class:`WindowDataset` (registered as dataset ``"sines"``).

    Shape:
        windows: (num, seq_len, features), values in [0.5, 1], identity scaler.
    """
    windows = make_sines(num=num, seq_len=seq_len, features=features, seed=seed)
    return WindowDataset(
        name="sines",
        windows=windows,
        scaler=MinMaxScaler.identity(windows.shape[-1]),
        feature_names=[f"sine_{k}" for k in range(windows.shape[-1])],
        source=f"generated: make_sines(num={num}, seq_len={seq_len}, features={features}, seed={seed})",
    )
