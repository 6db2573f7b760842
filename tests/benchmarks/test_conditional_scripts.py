"""benchmarks/table4.py and imputation.py: the data preparation and references behind their tables."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def scripts(load_script):
    # the scripts import their sibling helpers (_results, imputation) by plain name
    sys.path.insert(0, str(BENCHMARKS))
    try:
        yield load_script("table4"), load_script("imputation")
    finally:
        sys.path.remove(str(BENCHMARKS))


def test_drop_steps_blanks_whole_time_steps_at_the_rate(scripts):
    table4, _ = scripts
    x = np.random.default_rng(0).random((50, 24, 3))
    out = table4.drop_steps(x, 0.3)
    step_missing = np.isnan(out).all(axis=2)
    assert (np.isnan(out).any(axis=2) == step_missing).all()  # all features of a step together
    assert (step_missing.sum(axis=1) == round(0.3 * 24)).all()
    assert np.array_equal(out[~np.isnan(out)], x[~np.isnan(out)])


def test_gaussian_of_observed_entries_recovers_mean_and_covariance(scripts):
    table4, _ = scripts
    rng = np.random.default_rng(1)
    a = rng.standard_normal((6, 6))
    cov = 0.1 * a @ a.T + 0.05 * np.eye(6)
    mean = np.linspace(1.0, 2.0, 6)
    x = (mean + rng.standard_normal((20000, 6)) @ np.linalg.cholesky(cov).T).reshape(-1, 3, 2)
    gappy = table4.drop_steps(x, 1 / 3, seed=2)  # a third of each window missing
    draws = table4.gaussian_from_observed(gappy, 20000, seed=3).reshape(-1, 6)
    # the missing entries must not pull the mean to 0 nor shrink the covariance
    assert np.allclose(draws.mean(0), mean, atol=0.02)
    assert np.allclose(np.cov(draws.T), cov, atol=0.03)


def test_loss_profile_means_consecutive_chunks(scripts):
    table4, _ = scripts
    assert table4.loss_profile([1.0, 3.0, 5.0, 7.0], parts=2) == [2.0, 6.0]


def test_linear_baseline_interpolates_between_observed_steps(scripts):
    _, imputation = scripts
    x = np.array([[[0.0], [np.nan], [4.0], [np.nan]]])
    assert np.array_equal(imputation.baseline(x, "linear", np.zeros(1))[0, :, 0], [0.0, 2.0, 4.0, 4.0])
    assert np.array_equal(imputation.baseline(x, "last", np.zeros(1))[0, :, 0], [0.0, 0.0, 4.0, 4.0])
    assert np.array_equal(imputation.baseline(np.full((1, 2, 1), np.nan), "mean", np.array([7.0]))[0, :, 0], [7.0, 7.0])
