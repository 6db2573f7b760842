"""benchmarks/gappy_training.py: its data and the "before" estimator it compares against."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def script(load_script):
    sys.path.insert(0, str(BENCHMARKS))  # it imports _results by plain name
    try:
        yield load_script("gappy_training")
    finally:
        sys.path.remove(str(BENCHMARKS))


def test_the_data_hide_the_fraction_and_only_in_the_gappy_copy(script):
    data = script.make_data(0.1)
    assert data["clean"].shape == (600, 3) and np.isfinite(data["clean"]).all()
    gone = np.isnan(data["gaps"])
    assert abs(gone.mean() - 0.1) < 0.02
    assert np.array_equal(data["gaps"][~gone], data["clean"][~gone])
    assert data["test"].shape == data["hidden"].shape == (10, 16, 3)
    assert abs(data["hidden"].mean() - 0.3) < 0.05


def test_the_before_estimate_is_the_pairwise_complete_covariance(script):
    flat = torch.from_numpy(script.make_data(0.1)["gaps"][:200].reshape(100, 6))
    moments = script.pairwise_moments(flat)
    x = flat.numpy()
    i, j = 1, 4
    both = ~np.isnan(x[:, i]) & ~np.isnan(x[:, j])
    mean = np.nanmean(x, 0)
    expected = ((x[both, i] - mean[i]) * (x[both, j] - mean[j])).sum() / (both.sum() - 1)
    assert float(moments.covariance[i, j]) == pytest.approx(expected, rel=1e-12)
