"""Fixtures of the bad-input catalogue: a small series file and a finished tiny run."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from robust_helpers import TINY


@pytest.fixture(scope="session")
def series_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small two-channel series (60 steps), windowed with --window 8."""
    path = tmp_path_factory.mktemp("data") / "series.npy"
    np.save(path, np.random.default_rng(0).random((60, 2)))
    return path


@pytest.fixture(scope="session")
def tiny_run_template(tmp_path_factory: pytest.TempPathFactory, series_file: Path) -> Path:
    """A finished 3-step run folder (config.json, checkpoint.pt, loss.csv, samples.png); copy before changing it."""
    from kernelops.cli.main import main

    run = tmp_path_factory.mktemp("runs") / "tiny"
    rc = main(["fit", "--data", str(series_file), "--window", "8", "--steps", "3", "--out", str(run), *TINY])
    assert rc == 0 and (run / "checkpoint.pt").exists()
    return run


@pytest.fixture
def tiny_run(tiny_run_template: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny run."""
    return Path(shutil.copytree(tiny_run_template, tmp_path / "run"))
