"""The LS4 long-series scores: marginal histograms in closed form, the classifier and the forecaster."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kernelops.errors import ShapeError
from kernelops.metrics.long_series import classification_score, marginal_score, prediction_score


def _even(n: int, bins: int, steps: int = 1) -> np.ndarray:
    """n values per step spread so each of ``bins`` bins on [0, 1] holds n / bins of them."""
    centres = (np.arange(n) + 0.5) / n
    values = np.concatenate([[0.0], centres[1:-1], [1.0]])  # the range is exactly [0, 1]
    return np.repeat(values[:, None, None], steps, axis=1)


@pytest.mark.parametrize("per_step", [False, True])
def test_marginal_of_identical_sets_is_zero(per_step):
    x = np.random.default_rng(0).normal(size=(50, 7, 3))
    assert marginal_score(x, x.copy(), per_step=per_step) == 0.0


def test_marginal_closed_form_when_every_fake_value_falls_in_one_bin():
    bins, n = 10, 100
    real = _even(n, bins)
    fake = np.full((37, 1, 1), 0.05)  # inside bin 0 of width Δ = 0.1
    delta = 0.1
    # p_real = 1/(BΔ) in every bin, p_fake = 1/Δ in bin 0: (1/B)(|1/Δ − 1/(BΔ)| + (B − 1)/(BΔ))
    assert marginal_score(real, fake, bins=bins) == pytest.approx(2 * (bins - 1) / (bins**2 * delta), rel=1e-12)


def test_marginal_counts_nothing_outside_the_real_range():
    bins = 5
    real = _even(50, bins)
    assert marginal_score(real, real + 2.0, bins=bins) == pytest.approx(1.0, rel=1e-12)  # mean p_real = 1/(BΔ) = 1


def test_pooled_and_per_step_histograms_differ_as_defined():
    rng = np.random.default_rng(1)
    real = np.stack([rng.normal(0, 1, 400), rng.normal(5, 1, 400)], axis=1)[:, :, None]  # step 1 shifted
    fake = real[:, ::-1].copy()  # the steps swapped: the same pooled values, different per-step laws
    assert marginal_score(real, fake) == 0.0
    assert marginal_score(real, fake, per_step=True) > 0.1


def test_marginal_of_a_constant_channel_uses_one_unit_bin():
    real = np.full((4, 3, 1), 2.0)
    assert marginal_score(real, real.copy()) == 0.0
    # half the fake values hit the constant: densities 1 vs 0.5 in bin 0, 0 elsewhere, over 50 bins
    fake = np.concatenate([np.full((2, 3, 1), 2.0), np.full((2, 3, 1), 3.0)])
    assert marginal_score(real, fake) == pytest.approx(0.5 / 50)


@pytest.mark.slow
def test_classification_of_separable_sets_is_confident_and_right():
    rng = np.random.default_rng(2)
    real = 1.0 + 0.1 * rng.normal(size=(60, 20, 1))
    fake = -1.0 + 0.1 * rng.normal(size=(60, 20, 1))
    ce, accuracy = classification_score(real, fake, iterations=60, batch_size=8, lr=3e-2, seed=0, return_accuracy=True)
    assert accuracy == 1.0 and ce < 0.1 < math.log(2)
    assert classification_score(real, fake, iterations=60, batch_size=8, lr=3e-2, seed=0) == ce  # seeded


def test_classification_of_one_law_stays_near_chance():
    rng = np.random.default_rng(3)
    real, fake = rng.normal(size=(100, 10, 1)), rng.normal(size=(100, 10, 1))
    ce, accuracy = classification_score(real, fake, iterations=100, seed=0, return_accuracy=True)
    assert ce > 0.6 and 0.25 <= accuracy <= 0.75


def test_prediction_of_a_forecaster_trained_on_zero_continuations_is_the_real_second_moment():
    rng = np.random.default_rng(4)
    fake = np.concatenate([rng.normal(size=(200, 6, 1)), np.zeros((200, 6, 1))], axis=1)  # best forecast: 0
    real = rng.normal(size=(300, 12, 1))  # same history law, continuations of second moment ≈ 1
    score = prediction_score(real, fake, iterations=200, lr=3e-2, seed=0)
    assert score == pytest.approx(np.mean(real[:, 6:] ** 2), abs=0.02)


def test_prediction_learns_a_deterministic_continuation():
    t = np.arange(16)
    phase = np.random.default_rng(5).uniform(0, 2 * np.pi, 200)
    seqs = np.sin(0.4 * t[None, :] + phase[:, None])[:, :, None]
    trained = prediction_score(seqs, seqs, iterations=300, lr=1e-2, seed=0)
    untrained = prediction_score(seqs, seqs, iterations=1, lr=1e-2, seed=0)
    assert trained < 0.05 < untrained


def test_inputs_are_checked():
    x = np.zeros((5, 8, 1))
    with pytest.raises(ValueError, match="history: expected fewer steps"):
        prediction_score(x, x, history=8)
    with pytest.raises(ShapeError, match="fake"):
        marginal_score(x, np.zeros((5, 7, 1)))
    with pytest.raises(ValueError, match="bins"):
        marginal_score(x, x, bins=0)
