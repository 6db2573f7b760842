"""The paper's real datasets, read from the files shipped in ``kernelops/data/files``.

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
package's own ``files`` folder; in each place both ``<place>/<file>`` and
``<place>/<dataset folder>/<file>`` are tried. A missing file raises
:class:`~kernelops.errors.DataError` saying which file, where it looked and how to get it.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from kernelops.data.base import WindowDataset
from kernelops.data.scaling import MinMaxScaler
from kernelops.data.windows import sliding_windows
from kernelops.errors import DataError

#: environment variable naming a folder to read data files from instead of the package's own
DATA_DIR_ENV = "KERNELOPS_DATA_DIR"
#: the folder holding the files shipped with kernelops
PACKAGE_DATA_DIR = Path(__file__).resolve().parent / "files"


@dataclass(frozen=True)
class _FileSpec:
    folder: str
    filename: str
    origin: str  # where the file comes from, in words, for the "how to get it" message


_FILES: dict[str, _FileSpec] = {
    "stocks": _FileSpec("stocks", "stock_data.csv",
                        "data/stock_data.csv of the GitHub repository jsyoon0823/TimeGAN"),
    "etth": _FileSpec("etth", "ETTh1.csv",
                      "ETT-small/ETTh1.csv of the GitHub repository zhouhaoyi/ETDataset (CC BY-ND 4.0)"),
    "energy": _FileSpec("energy", "energydata_complete.csv.gz",
                        "the UCI 'Appliances energy prediction' data set: gzip its "
                        "energydata_complete.csv"),
    "fmri": _FileSpec("fmri", "sim4.mat", "FMRIB NetSim simulation 4 (sim4.mat)"),
    "mujoco": _FileSpec("mujoco", "hopper.npz",
                        "regenerate it with kernelops/data/files/mujoco/generate_hopper.py "
                        "(needs dm-control and mujoco)"),
    "fred_md": _FileSpec("fred_md", "fred_md_dataset.tsf",
                         "fred_md_dataset.zip of the Monash forecasting archive (Zenodo record 4654833)"),
    "nn5_daily": _FileSpec("nn5_daily", "nn5_daily_dataset_without_missing_values.tsf",
                           "nn5_daily_dataset_without_missing_values.zip of the Monash forecasting "
                           "archive (Zenodo record 4656117)"),
}


# -- locating files ------------------------------------------------------------------------------
def data_file(dataset: str, root: str | os.PathLike[str] | None = None) -> Path:
    """Path of ``dataset``'s raw file (see the module docstring for the search order).

    Args:
        dataset: one of ``stocks, etth, energy, fmri, mujoco, fred_md, nn5_daily``.
        root: a folder to read from instead of ``$KERNELOPS_DATA_DIR`` and the package.

    Raises:
        DataError: the file is in none of the places, naming them and how to get the file.
    """
    if dataset not in _FILES:
        raise ValueError(f"dataset: expected one of {sorted(_FILES)}, got {dataset!r}")
    spec = _FILES[dataset]
    if root is not None:
        places = [Path(root).expanduser()]
    else:
        places = [Path(p).expanduser() for p in [os.environ.get(DATA_DIR_ENV)] if p] + [PACKAGE_DATA_DIR]
    tried: list[Path] = []
    for place in places:
        for candidate in (place / spec.filename, place / spec.folder / spec.filename):
            if candidate.is_file():
                return candidate
            tried.append(candidate)
    raise DataError(
        f"{dataset}: data file {spec.filename} not found; looked in {', '.join(str(t) for t in tried)}. "
        f"It ships with kernelops (kernelops/data/files/{spec.folder}/): reinstall kernelops, or get "
        f"{spec.origin}, put it in <DIR>/{spec.folder}/ and pass root=<DIR> or set {DATA_DIR_ENV}=<DIR>"
    )


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
                bad = next(i for i in keep if not _is_float(row[i]))
                raise DataError(f"{path}: line {line_no}, column {header[bad]!r}: "
                                f"{row[bad]!r} is not a number") from None
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), len(keep)), [header[i] for i in keep]


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


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
    windows = sliding_windows(scaler.transform(series).astype(np.float32), seq_len, stride)
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


# -- Monash .tsf files (long series) -------------------------------------------------------------
@dataclass
class TSFData:
    """The content of a Monash ``.tsf`` file.

    Attributes:
        series: one float64 array per series (missing values ``?`` become NaN).
        attributes: per attribute name, one value per series (str, float or datetime).
        metadata: the header's ``@relation``, ``@frequency``, ``@horizon``, ``@missing``,
            ``@equallength`` values as strings (keys without the ``@``).
    """

    series: list[np.ndarray]
    attributes: dict[str, list[Any]] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)

    def as_array(self) -> np.ndarray:
        """All series stacked, shape (num_series, length); they must have equal lengths."""
        lengths = {len(s) for s in self.series}
        if len(lengths) != 1:
            raise DataError(f"series have different lengths ({min(lengths)}..{max(lengths)}); "
                            "cannot stack them into one array")
        return np.stack(self.series)


def parse_tsf(lines: Iterable[str], source: str = "<tsf>") -> TSFData:
    """Parse the Monash time-series format (``.tsf``).

    Header lines start with ``@`` (``@attribute NAME TYPE`` in column order, then ``@data``);
    ``#`` lines are comments. Each data line is ``attr1:attr2:...:v1,v2,...``: the attribute
    values in declared order, then the comma-separated series. Types: ``numeric``, ``date``
    (``%Y-%m-%d %H-%M-%S``) and ``string``. Trailing ``\\r`` (CRLF files) is ignored.

    Args:
        lines: the file's lines, already decoded (Monash files are cp1252).
        source: name used in error messages.

    Raises:
        DataError: naming the source and line of anything malformed.
    """
    attr_names: list[str] = []
    attr_types: list[str] = []
    metadata: dict[str, str] = {}
    attributes: dict[str, list[Any]] = {}
    series: list[np.ndarray] = []
    in_data = False
    for line_no, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r\n").strip()
        if not line or line.startswith("#"):
            continue
        if not in_data:
            if not line.startswith("@"):
                raise DataError(f"{source}: line {line_no}: expected a header line starting with '@' "
                                f"before @data, got {line[:40]!r}")
            key, _, value = line[1:].partition(" ")
            key = key.lower()
            if key == "attribute":
                parts = value.split()
                if len(parts) != 2 or parts[1] not in ("numeric", "date", "string"):
                    raise DataError(f"{source}: line {line_no}: expected '@attribute NAME "
                                    f"numeric|date|string', got {line!r}")
                attr_names.append(parts[0])
                attr_types.append(parts[1])
                attributes[parts[0]] = []
            elif key == "data":
                in_data = True
            else:
                metadata[key] = value.strip()
            continue
        fields = line.split(":", len(attr_names))
        if len(fields) != len(attr_names) + 1:
            raise DataError(f"{source}: line {line_no}: expected {len(attr_names)} attribute(s) "
                            f"{attr_names} and the values, separated by ':'")
        for name, kind, text in zip(attr_names, attr_types, fields[:-1]):
            attributes[name].append(_tsf_attribute(text, kind, source, line_no, name))
        try:
            values = [np.nan if v.strip() == "?" else float(v) for v in fields[-1].split(",")]
        except ValueError:
            bad = next(v for v in fields[-1].split(",") if v.strip() != "?" and not _is_float(v))
            raise DataError(f"{source}: line {line_no}: value {bad!r} is not a number or '?'") from None
        series.append(np.asarray(values, dtype=np.float64))
    if not in_data:
        raise DataError(f"{source}: no @data line found; is this a .tsf file?")
    if not series:
        raise DataError(f"{source}: the @data section holds no series")
    return TSFData(series, attributes, metadata)


def _tsf_attribute(text: str, kind: str, source: str, line_no: int, name: str) -> Any:
    try:
        if kind == "numeric":
            return float(text)
        if kind == "date":
            return datetime.strptime(text.strip(), "%Y-%m-%d %H-%M-%S")
    except ValueError:
        raise DataError(f"{source}: line {line_no}: attribute {name!r} ({kind}): cannot read {text!r}") from None
    return text


def read_tsf(path: str | os.PathLike[str]) -> TSFData:
    """Read a ``.tsf`` file (cp1252, as Monash's own reader assumes; CRLF or LF)."""
    path = Path(path)
    with io.open(path, "r", encoding="cp1252", newline="") as handle:
        return parse_tsf(handle, source=str(path))


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


__all__ = [
    "DATA_DIR_ENV", "PACKAGE_DATA_DIR", "ETTh", "Energy", "FMRI", "FredMD", "MuJoCo", "NN5Daily",
    "Stocks", "TSFData", "data_file", "load_raw", "parse_tsf", "read_tsf",
]
