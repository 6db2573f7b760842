"""benchmarks/other_lengths.py: the Gaussian baselines it scores against, and its shape scores."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def ol(load_script):
    return load_script("other_lengths")


def test_the_baselines_are_draws_of_the_two_skips_at_the_new_length(ol):
    rng = np.random.default_rng(0)
    x = np.empty((800, 8, 2))  # AR(1) windows with φ = 0.9 around 0.5, in [0, 1]
    x[:, 0] = rng.normal(size=(800, 2)) / np.sqrt(1 - 0.81)
    for n in range(1, 8):
        x[:, n] = 0.9 * x[:, n - 1] + rng.normal(size=(800, 2))
    train = 0.5 + 0.03 * x
    sets = ol.gaussian_baselines(train, 30, 4000, seed=1)
    for name in ("channel Gaussian", "stationary Gaussian"):
        draws = sets[name]
        assert draws.shape == (4000, 30, 2) and draws.dtype == np.float32
        np.testing.assert_allclose(draws.mean(axis=(0, 1)), train.mean(axis=(0, 1)), atol=0.01)
        np.testing.assert_allclose(draws[:, -1].std(0), train.reshape(-1, 2).std(0), rtol=0.1)

    def lag1(a):  # correlation of neighbouring steps at the far end of the window
        c = a - a.mean(0)
        return float((c[:, 25] * c[:, 26]).mean() / np.sqrt((c[:, 25] ** 2).mean() * (c[:, 26] ** 2).mean()))
    assert abs(lag1(sets["channel Gaussian"])) < 0.06  # independent steps
    assert lag1(sets["stationary Gaussian"]) == pytest.approx(0.9, abs=0.03)  # the training windows' own


def test_shape_scores(ol):
    real = np.tile(np.linspace(0.2, 0.8, 10)[None, :, None], (3, 1, 2))  # straight lines: no curvature
    curved = real + 0.1 * (np.arange(10)[None, :, None] % 2)
    scores = ol.shape_scores(real + 0.01 * np.arange(10)[None, :, None] ** 2, curved)
    assert scores["roughness_ratio"] == pytest.approx(0.2 / 0.02)
    assert scores["outside"] == 0.0 and scores["largest_excursion"] == pytest.approx(0.4)
    assert ol.shape_scores(real, real * 3)["outside"] == pytest.approx(np.mean(real * 3 > 1))
