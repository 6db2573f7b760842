"""Where the data files are: ``root=``, then ``$KERNELOPS_DATA_DIR``, then this package's ``files``.

In each place both ``<place>/<file>`` and ``<place>/<dataset folder>/<file>`` are tried. A
missing file raises :class:`~kernelops.errors.DataError` saying which file, where it looked and
how to get it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from kernelops.errors import DataError

#: environment variable naming a folder to read data files from instead of the package's own
DATA_DIR_ENV = "KERNELOPS_DATA_DIR"
#: the folder holding the files shipped with kernelops-datasets
PACKAGE_DATA_DIR = Path(__file__).resolve().parent / "files"


@dataclass(frozen=True)
class FileSpec:
    """One dataset's file: its folder under ``files``, its name, and where it comes from."""

    folder: str
    filename: str
    origin: str  # where the file comes from, in words, for the "how to get it" message


FILES: dict[str, FileSpec] = {
    "stocks": FileSpec("stocks", "stock_data.csv",
                       "data/stock_data.csv of the GitHub repository jsyoon0823/TimeGAN"),
    "etth": FileSpec("etth", "ETTh1.csv",
                     "ETT-small/ETTh1.csv of the GitHub repository zhouhaoyi/ETDataset (CC BY-ND 4.0)"),
    "energy": FileSpec("energy", "energydata_complete.csv.gz",
                       "the UCI 'Appliances energy prediction' data set: gzip its "
                       "energydata_complete.csv"),
    "fmri": FileSpec("fmri", "sim4.mat", "FMRIB NetSim simulation 4 (sim4.mat)"),
    "mujoco": FileSpec("mujoco", "hopper.npz",
                       "regenerate it with kernelops_datasets/files/mujoco/generate_hopper.py "
                       "(needs dm-control and mujoco)"),
    "fred_md": FileSpec("fred_md", "fred_md_dataset.tsf",
                        "fred_md_dataset.zip of the Monash forecasting archive (Zenodo record 4654833)"),
    "nn5_daily": FileSpec("nn5_daily", "nn5_daily_dataset_without_missing_values.tsf",
                          "nn5_daily_dataset_without_missing_values.zip of the Monash forecasting "
                          "archive (Zenodo record 4656117)"),
}


def data_file(dataset: str, root: str | os.PathLike[str] | None = None) -> Path:
    """Path of ``dataset``'s raw file (see the module docstring for the search order).

    Args:
        dataset: one of ``stocks, etth, energy, fmri, mujoco, fred_md, nn5_daily``.
        root: a folder to read from instead of ``$KERNELOPS_DATA_DIR`` and the package.

    Raises:
        DataError: the file is in none of the places, naming them and how to get the file.
    """
    if dataset not in FILES:
        raise ValueError(f"dataset: expected one of {sorted(FILES)}, got {dataset!r}")
    spec = FILES[dataset]
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
        f"It ships with kernelops-datasets (kernelops_datasets/files/{spec.folder}/): reinstall that "
        f"package, or get "
        f"{spec.origin}, put it in <DIR>/{spec.folder}/ and pass root=<DIR> or set {DATA_DIR_ENV}=<DIR>"
    )


__all__ = ["DATA_DIR_ENV", "FILES", "PACKAGE_DATA_DIR", "FileSpec", "data_file"]
