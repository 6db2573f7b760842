"""The dataset object every loader returns: scaled windows plus what is needed to undo the scaling."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from kernelops.data.scaling import MinMaxScaler
from kernelops.errors import DataError, ShapeError


@dataclass(eq=False)  # numpy fields make field-wise == ambiguous
class WindowDataset:
    """Windows of a multivariate time series, scaled per feature to [0, 1].

    Attributes:
        name: dataset name (the registered name, or the user file's stem).
        windows: float32 array of scaled windows.
        scaler: maps raw values to ``windows`` and back (``raw_windows()``).
        feature_names: one name per feature (channel).
        source: where the data came from, in words (file path, generator call, dropped columns).
        series: the full raw series before windowing, when there is one.

    Shape:
        windows: (num_windows, seq_len, num_features). series: (T, num_features) or None.
    """

    name: str
    windows: np.ndarray
    scaler: MinMaxScaler
    feature_names: list[str] = field(default_factory=list)
    source: str = ""
    series: np.ndarray | None = None

    def __post_init__(self) -> None:
        windows = np.asarray(self.windows)
        if windows.ndim != 3:
            raise ShapeError(f"windows: expected shape (num_windows, seq_len, features), got {windows.shape}")
        if not np.issubdtype(windows.dtype, np.number):
            raise DataError(f"windows: expected numbers, got dtype {windows.dtype}")
        self.windows = np.ascontiguousarray(windows, dtype=np.float32)
        d = self.windows.shape[-1]
        if not self.feature_names:
            self.feature_names = [f"x{k}" for k in range(d)]
        self.feature_names = [str(n) for n in self.feature_names]
        if len(self.feature_names) != d:
            raise ShapeError(f"feature_names: expected {d} names (one per feature), got {len(self.feature_names)}")
        if self.scaler.fitted and self.scaler.num_features != d:
            raise ShapeError(f"scaler: fitted on {self.scaler.num_features} features, windows have {d}")
        if self.series is not None and (self.series.ndim != 2 or self.series.shape[1] != d):
            raise ShapeError(f"series: expected shape (T, {d}), got {self.series.shape}")

    # -- sizes -------------------------------------------------------------------------------
    @property
    def num_windows(self) -> int:
        return int(self.windows.shape[0])

    @property
    def seq_len(self) -> int:
        return int(self.windows.shape[1])

    @property
    def num_features(self) -> int:
        return int(self.windows.shape[2])

    def __len__(self) -> int:
        return self.num_windows

    # -- views -------------------------------------------------------------------------------
    def raw_windows(self) -> np.ndarray:
        """The windows in the data's original units (float64).

        Shape:
            returns: (num_windows, seq_len, num_features).
        """
        return self.scaler.inverse_transform(self.windows.astype(np.float64))

    def split(self, fraction: float = 0.2, seed: int = 0, *, contiguous: bool = False) -> tuple[WindowDataset, WindowDataset]:
        """Split the windows into (train, test); ``fraction`` is the share held out as test.

        Beware: stride-1 windows overlap (window i and i + 1 share seq_len − 1 steps), so the
        default random split puts near-copies of every test window in the training set. That
        is what the TimeGAN-style metrics do, but it is leakage for anything that measures
        generalisation; use ``contiguous=True`` there. It takes the last ``fraction`` of the
        windows in the order the loader made them as test and drops the ``seq_len − 1`` windows
        before them (:meth:`split_gap`), so no training window shares a time step with a test
        window. Every loader of kernelops makes windows in time order (docs/held_out.md), so
        this is a chronological split; for datasets of independent draws (Sines, pendulum,
        MuJoCo trajectories) the test part is simply the last draws. The scaler is shared (it
        was fit on the whole series, as the protocol does).

        Args:
            fraction: share of windows in the test set, in (0, 1).
            seed: seed of the random permutation (ignored when contiguous).
            contiguous: split in time order with a gap instead of at random.
        """
        if not 0.0 < float(fraction) < 1.0:
            raise ValueError(f"fraction: expected a number in (0, 1), got {fraction!r}")
        n = self.num_windows
        n_test = max(1, math.ceil(n * float(fraction)))
        if contiguous:
            start = n - n_test
            train_idx = np.arange(0, max(0, start - self.split_gap))
            test_idx = np.arange(start, n)
        else:
            perm = np.random.default_rng(seed).permutation(n)
            test_idx, train_idx = np.sort(perm[:n_test]), np.sort(perm[n_test:])
        if len(train_idx) == 0 or len(test_idx) == 0:
            gap = f" and a gap of {self.split_gap} windows" if contiguous else ""
            raise DataError(f"split: {n} windows are too few for a test fraction of {fraction}{gap}")
        return self._subset(train_idx, "train"), self._subset(test_idx, "test")

    @property
    def split_gap(self) -> int:
        """Windows a contiguous :meth:`split` drops between the train and the test part: seq_len − 1.

        Window i covers steps [i·s, i·s + N − 1] at stride s. With g windows dropped, the last
        training window ends at step (k − g − 1)·s + N − 1 for a test part starting at window k,
        before the test part's first step k·s whenever (g + 1)·s ≥ N; g = N − 1 satisfies that at
        every stride, and at stride 1 it is the fewest that do (the split then equals windowing
        the series before and after the first test step separately).
        """
        return self.seq_len - 1

    def _subset(self, idx: np.ndarray, part: str) -> WindowDataset:
        return replace(self, windows=self.windows[idx], source=f"{self.source} [{part} split]".strip())

    def describe(self) -> dict[str, Any]:
        """Summary for ``kernelops datasets``: name, shape, source and feature names."""
        return {
            "name": self.name,
            "shape": [self.num_windows, self.seq_len, self.num_features],
            "num_windows": self.num_windows,
            "seq_len": self.seq_len,
            "num_features": self.num_features,
            "feature_names": list(self.feature_names),
            "source": self.source,
        }

    def __repr__(self) -> str:
        return (f"WindowDataset(name={self.name!r}, windows={self.num_windows}x{self.seq_len}x"
                f"{self.num_features}, source={self.source!r})")
