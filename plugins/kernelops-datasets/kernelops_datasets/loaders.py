"""The paper's real datasets, read from the files shipped in ``kernelops_datasets/files``.

Short-window benchmark (Table 1; TimeGAN / Diffusion-TS protocol, docs/datasets.md): every file is
read as Diffusion-TS reads it — rows in file order (no reversal), date columns dropped — then
each feature is min-max scaled to [0, 1] over the whole series (unconditional generation
trains on every window) and cut into windows of ``seq_len`` steps at ``stride`` 1:

==========  ================================  =========================  ===================
dataset     file                              raw series                 windows (24, 1)
==========  ================================  =========================  ===================
stocks      stocks/stock_data.csv             3685 × 6                   3662 × 24 × 6
etth        etth/ETTh1.csv                    17420 × 7 (date dropped)   17397 × 24 × 7
energy      energy/energydata_complete.csv.gz 19735 × 28 (date dropped)  19712 × 24 × 28
fmri        fmri/sim4.mat (``ts``)            10000 × 50                 9977 × 24 × 50
mujoco      mujoco/hopper.npz                 10000 trajectories × 24    10000 × 24 × 14
==========  ================================  =========================  ===================

fMRI windows run over the concatenation of 50 subjects and so cross subject boundaries, as in
the reference. MuJoCo is already a set of 24-step trajectories (generated once by
``files/mujoco/generate_hopper.py``); its windows are cut inside each trajectory.

Long series (Table 3; LS4 / ImagenTime protocol): FRED-MD and NN5 Daily come from Monash
``.tsf`` files. Each series is one univariate sequence over its full length, z-scored with its
own mean and standard deviation; ``seq_len`` optionally cuts shorter windows from each.

Where files are read from: ``root=`` if given, else ``$KERNELOPS_DATA_DIR`` and then the
package's own ``files`` folder (:func:`kernelops_datasets.locate.data_file`).
"""

from __future__ import annotations

import csv
import gzip
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from kernelops.data.base import WindowDataset
from kernelops.data.scaling import MinMaxScaler
from kernelops.data.windows import sliding_windows
from kernelops.errors import DataError
from kernelops_datasets.locate import data_file
from kernelops_datasets.tsf import is_float, read_tsf


# -- raw readers ---------------------------------------------------------------------------------
def _read_numeric_csv(path: Path, drop: Iterable[str] = ("date",)) -> tuple[np.ndarray, list[str]]:
    """Read a headed csv (optionally .gz) into a float64 array, dropping the named columns."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            raise DataError(f"{path}: the file is empty; expected a header row") from None
        dropped = {d.lower() for d in drop}
        keep = [i for i, h in enumerate(header) if h.lower() not in dropped]
        rows: list[list[float]] = []
        for line_no, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != len(header):
                raise DataError(f"{path}: line {line_no} has {len(row)} fields, the header has {len(header)}")
            try:
                rows.append([float(row[i]) for i in keep])
            except ValueError:
                bad = next(i for i in keep if not is_float(row[i]))
                raise DataError(f"{path}: line {line_no}, column {header[bad]!r}: "
                                f"{row[bad]!r} is not a number") from None
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), len(keep)), [header[i] for i in keep]



def load_raw(dataset: str, root: str | os.PathLike[str] | None = None) -> tuple[np.ndarray, list[str], Path]:
    """The raw, unscaled series of a short-window dataset, read as Diffusion-TS reads it.

    Args:
        dataset: ``stocks``, ``etth``, ``energy``, ``fmri`` or ``mujoco``.
        root: folder to read from (see :func:`data_file`).

    Returns:
        ``(values, feature_names, path)``; values is float64.

    Shape:
        values: (T, d) for stocks, etth, energy and fmri; (10000, 24, 14) for mujoco.
    """
    path = data_file(dataset, root)
    if dataset in ("stocks", "etth", "energy"):
        values, names = _read_numeric_csv(path)
    elif dataset == "fmri":
        from scipy.io import loadmat

        mat = loadmat(path, variable_names=["ts"])
        if "ts" not in mat:
            raise DataError(f"{path}: expected a MATLAB variable 'ts' (time × nodes), found none")
        values = np.asarray(mat["ts"], dtype=np.float64)
        names = [f"node{k}" for k in range(values.shape[1])]
    elif dataset == "mujoco":
        with np.load(path) as archive:
            values = np.asarray(archive["trajectories"], dtype=np.float64)
            names = [str(n) for n in archive["feature_names"]]
    else:
        raise ValueError(f"dataset: expected stocks, etth, energy, fmri or mujoco, got {dataset!r}")
    if not np.isfinite(values).all():
        raise DataError(f"{path}: contains NaN or infinite values")
    return values, names, path


def _from_series(name: str, series: np.ndarray, names: list[str], seq_len: int, stride: int,
                 source: str) -> WindowDataset:
    # scale the series once (cheaper than scaling every overlapping window), then window it
    scaler = MinMaxScaler().fit(series)
    windows = np.asarray(sliding_windows(scaler.transform(series).astype(np.float32), seq_len, stride))
    return WindowDataset(name, windows, scaler, names, source, series=series)


# -- short-window datasets (Table 1) -------------------------------------------------------------
def Stocks(seq_len: int = 24, stride: int = 1, root: str | os.PathLike[str] | None = None) -> WindowDataset:
    """Google daily stock prices (TimeGAN's stock_data.csv): 6 features, 3662 windows of 24.

    Columns Open, High, Low, Close, Adj_Close, Volume; rows kept in file order (oldest first).
    """
    series, names, path = load_raw("stocks", root)
    return _from_series("stocks", series, names, seq_len, stride, f"{path}")


def ETTh(seq_len: int = 24, stride: int = 1, root: str | os.PathLike[str] | None = None) -> WindowDataset:
    """Electricity transformer temperature, hourly (ETTh1): 7 features, 17397 windows of 24.

    The date column is dropped. The file is CC BY-ND 4.0: it is read as is, and the windows
    are made at run time only.
    """
    series, names, path = load_raw("etth", root)
    return _from_series("etth", series, names, seq_len, stride, f"{path} (date column dropped)")


def Energy(seq_len: int = 24, stride: int = 1, root: str | os.PathLike[str] | None = None) -> WindowDataset:
    """UCI appliances energy use at 10-minute steps: 28 features, 19712 windows of 24.

    The date column is dropped, leaving the benchmark's ``energy_data.csv`` columns in order.
    """
    series, names, path = load_raw("energy", root)
    return _from_series("energy", series, names, seq_len, stride, f"{path} (date column dropped)")


def FMRI(seq_len: int = 24, stride: int = 1, root: str | os.PathLike[str] | None = None) -> WindowDataset:
    """NetSim simulation 4 BOLD signals (``ts``, 50 subjects × 200 steps, 50 nodes): 9977 windows.

    The subjects are concatenated along time as in the reference, so some windows cross a
    subject boundary.
    """
    series, names, path = load_raw("fmri", root)
    return _from_series("fmri", series, names, seq_len, stride, f"{path} (variable ts)")


def MuJoCo(seq_len: int = 24, stride: int = 1, root: str | os.PathLike[str] | None = None) -> WindowDataset:
    """Passive MuJoCo hopper trajectories (7 joint positions + 7 velocities): 10000 × 24 × 14.

    The scaler is fitted over all trajectories and steps; with ``seq_len < 24`` windows are
    cut inside each trajectory at ``stride``.
    """
    trajectories, names, path = load_raw("mujoco", root)
    scaler = MinMaxScaler().fit(trajectories)
    scaled = scaler.transform(trajectories).astype(np.float32)
    if seq_len == trajectories.shape[1] and stride == 1:
        windows = scaled
    else:
        windows = np.concatenate([sliding_windows(traj, seq_len, stride) for traj in scaled])
    return WindowDataset("mujoco", windows, scaler, names, f"{path} (dm_control hopper, seed 123)")



def _long_series(name: str, seq_len: int | None, stride: int, root: Any, normalize: bool) -> WindowDataset:
    path = data_file(name, root)
    tsf = read_tsf(path)
    values = tsf.as_array()  # (num_series, length)
    if np.isnan(values).any():
        raise DataError(f"{path}: contains missing values ('?'); expected none")
    note = "raw values"
    if normalize:
        # LS4 / ImagenTime: every sequence z-scored with its own mean and (population) std
        std = values.std(axis=1, keepdims=True)
        values = (values - values.mean(axis=1, keepdims=True)) / np.where(std > 0, std, 1.0)
        note = "each series z-scored"
    sequences = values[:, :, None]  # (num_series, length, 1)
    scaler = MinMaxScaler().fit(sequences)
    scaled = scaler.transform(sequences).astype(np.float32)
    if seq_len is None:
        windows = scaled
    else:
        windows = np.concatenate([sliding_windows(s, seq_len, stride) for s in scaled])
    names = ["value"]
    source = f"{path} ({len(values)} series of {values.shape[1]} steps, {note})"
    return WindowDataset(name, windows, scaler, names, source)


def FredMD(seq_len: int | None = None, stride: int = 1, root: str | os.PathLike[str] | None = None,
           normalize: bool = True) -> WindowDataset:
    """FRED-MD monthly macro-economic series (Monash): 107 univariate sequences of 728 steps.

    With ``seq_len=None`` each series is one sample (107 × 728 × 1, the long-series protocol);
    otherwise windows of ``seq_len`` are cut from each series at ``stride``. ``normalize``
    z-scores each series first (LS4); the windows are then min-max scaled to [0, 1] with one
    global scaler, so ``raw_windows()`` returns the z-scored values.
    """
    return _long_series("fred_md", seq_len, stride, root, normalize)


def NN5Daily(seq_len: int | None = None, stride: int = 1, root: str | os.PathLike[str] | None = None,
             normalize: bool = True) -> WindowDataset:
    """NN5 daily ATM cash withdrawals (Monash, missing values filled): 111 sequences of 791 days.

    Same conventions as :func:`FredMD`.
    """
    return _long_series("nn5_daily", seq_len, stride, root, normalize)



__all__ = ["ETTh", "Energy", "FMRI", "FredMD", "MuJoCo", "NN5Daily", "Stocks", "load_raw"]
