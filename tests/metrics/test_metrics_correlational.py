"""correlational_score: zero, hand-computed values, a dense numpy reference, sensitivity."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kernelops.metrics import correlational_score, lag0_cross_correlation


def _numpy_reference(real: np.ndarray, fake: np.ndarray) -> float:
    """Pearson correlations of the pooled (windows x steps) values, scaled by (M − 1)/M (the
    effect of standardising with the unbiased std but averaging with 1/M), lower triangle."""

    def tri(x):
        flat = x.reshape(-1, x.shape[-1])
        m = flat.shape[0]
        c = np.corrcoef(flat, rowvar=False) * (m - 1) / m
        return c[np.tril_indices(x.shape[-1])]

    return float(np.abs(tri(fake) - tri(real)).sum() / 10.0)


def test_identical_sets_score_zero(sines):
    x = sines(50, seed=0)
    assert correlational_score(x, x.copy()) == 0.0


def test_hand_computed_example():
    # Pooled over windows and steps, real has a = b = (1, 2, 3, 4): ρ = 1, C = (M − 1)/M ρ = 3/4
    # with M = 4 values. Fake's b = (4, 3, 2, 1) (ρ = −1) and b = (1, 3, 2, 4) (ρ = 4/5).
    # The diagonal entries are 3/4 in both; only the (b, a) entry differs:
    # |−3/4 − 3/4| / 10 = 0.15 and |3/5 − 3/4| / 10 = 0.015.
    real = np.array([[[1.0, 1.0], [2.0, 2.0]], [[3.0, 3.0], [4.0, 4.0]]])
    anti = np.array([[[1.0, 4.0], [2.0, 3.0]], [[3.0, 2.0], [4.0, 1.0]]])
    swap = np.array([[[1.0, 1.0], [2.0, 3.0]], [[3.0, 2.0], [4.0, 4.0]]])
    assert correlational_score(real, anti) == pytest.approx(0.15, rel=1e-12)
    assert correlational_score(real, swap) == pytest.approx(0.015, rel=1e-12)
    c = lag0_cross_correlation(torch.from_numpy(anti))
    np.testing.assert_allclose(c.numpy(), [0.75, -0.75, 0.75], rtol=1e-12)  # (0,0), (1,0), (1,1)


def test_matches_a_dense_numpy_reference(sines):
    rng = np.random.default_rng(1)
    real = sines(40, features=4, seed=1)
    fake = np.clip(sines(40, features=4, seed=2) + 0.05 * rng.standard_normal((40, 24, 4)), 0, 1)
    got = correlational_score(real, fake)
    assert got == pytest.approx(_numpy_reference(real, fake), rel=1e-10)
    assert got > 0


def test_correlated_versus_independent_channels_scores_high(sines):
    # Real: three channels that are one shared sine plus small noise (ρ ≈ 1); fake: independent
    # channels (ρ ≈ 0.4 only from the shared rising shape). Independent Sines draws stay far lower.
    rng = np.random.default_rng(2)
    shared = sines(400, features=1, seed=3)
    real = np.clip(np.repeat(shared, 3, axis=2) + 0.01 * rng.standard_normal((400, 24, 3)), 0, 1)
    fake = sines(400, features=3, seed=4)
    high = correlational_score(real, fake)
    floor = correlational_score(sines(400, features=3, seed=5), fake)
    assert high > 0.1
    assert floor < high / 5


def test_sample_size_resamples_with_replacement_by_seed(sines):
    real, fake = sines(200, seed=6), sines(200, seed=7)
    a = correlational_score(real, fake, sample_size=50, seed=0)
    assert a == correlational_score(real, fake, sample_size=50, seed=0)
    assert a != correlational_score(real, fake, sample_size=50, seed=1)
    # Drawing with replacement: a 1-window "set" of one window with itself still works.
    assert correlational_score(real[:1], real[:1], sample_size=3) == 0.0


def test_dtype_is_respected_and_tensors_work(sines):
    real, fake = sines(30, seed=8), sines(30, seed=9)
    value64 = correlational_score(torch.from_numpy(real), torch.from_numpy(fake))
    value32 = correlational_score(torch.from_numpy(real).float(), torch.from_numpy(fake).float())
    assert value64 == pytest.approx(_numpy_reference(real, fake), rel=1e-12)
    assert value32 == pytest.approx(value64, rel=1e-4)


def test_constant_channel_gives_zero_entries_not_nan():
    x = np.random.default_rng(3).uniform(size=(10, 6, 2))
    x[..., 1] = 0.7
    c = lag0_cross_correlation(torch.from_numpy(x))
    assert torch.isfinite(c).all()
    assert c[1] == 0 and c[2] == 0
