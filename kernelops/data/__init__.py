"""Data: the Sines and pendulum generators, user files, registered datasets, windows and min-max scaling.

Every loader returns a :class:`WindowDataset`: float32 windows (num, seq_len, features)
scaled per feature to [0, 1], the :class:`MinMaxScaler` that undoes it, feature names and a
``source`` string. :func:`resolve_dataset` is what the command line calls: a registered
name (``"sines"``, ``"stocks"``...) or a file path. :func:`hold_out` splits off the last windows
in time order, with no time step shared with the training part.
"""

from __future__ import annotations

from kernelops.data.base import WindowDataset
from kernelops.data.holdout import hold_out
from kernelops.data.pendulum import Pendulum, make_pendulum, pendulum_energy
from kernelops.data.resolve import list_datasets, resolve_dataset
from kernelops.data.scaling import MinMaxScaler
from kernelops.data.sines import Sines, make_sines, sines_parameters
from kernelops.data.user import load_series, load_user_windows
from kernelops.data.windows import sliding_windows

#: what a registered dataset factory returns (the name the plugin hookspec uses)
Dataset = WindowDataset

__all__ = [
    "Dataset", "MinMaxScaler", "Pendulum", "Sines", "WindowDataset", "hold_out", "list_datasets", "load_series",
    "load_user_windows", "make_pendulum", "make_sines", "pendulum_energy", "resolve_dataset", "sines_parameters",
    "sliding_windows",
]
