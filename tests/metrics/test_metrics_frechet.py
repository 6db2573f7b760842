"""frechet_distance and gaussian_fit against closed forms and the reference's sqrtm formula."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from kernelops.errors import ShapeError
from kernelops.metrics import frechet_distance, gaussian_fit


def _random_cov(d: int, rng: np.random.Generator, rank: int | None = None) -> np.ndarray:
    a = rng.standard_normal((d, rank or d))
    return a @ a.T / (rank or d) + (0.0 if rank else 0.1) * np.eye(d)


def _fid_reference_formula(mu1, c1, mu2, c2) -> float:
    """The Diffusion-TS formula: sqrtm of the product, imaginary part dropped."""
    covmean = scipy.linalg.sqrtm(c1 @ c2)
    covmean = covmean.real if np.iscomplexobj(covmean) else covmean
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(c1 + c2 - 2.0 * covmean))


def test_identical_gaussians_have_distance_zero():
    rng = np.random.default_rng(0)
    mu, cov = rng.standard_normal(7), _random_cov(7, rng)
    assert frechet_distance(mu, cov, mu, cov) == pytest.approx(0.0, abs=1e-10)


def test_mean_shift_only_gives_squared_distance_of_means():
    rng = np.random.default_rng(1)
    mu1, mu2, cov = rng.standard_normal(6), rng.standard_normal(6), _random_cov(6, rng)
    assert frechet_distance(mu1, cov, mu2, cov) == pytest.approx(float(np.sum((mu1 - mu2) ** 2)), rel=1e-10)


def test_one_dimensional_gaussians():
    # W2² between N(m1, s1²) and N(m2, s2²) is (m1 − m2)² + (s1 − s2)².
    for m1, s1, m2, s2 in [(0.0, 1.0, 0.0, 3.0), (0.5, 0.2, -1.0, 2.5), (2.0, 1.5, 2.0, 1.5)]:
        got = frechet_distance([m1], [[s1**2]], [m2], [[s2**2]])
        assert got == pytest.approx((m1 - m2) ** 2 + (s1 - s2) ** 2, rel=1e-12, abs=1e-14)


def test_commuting_covariances_give_sum_of_squared_root_differences():
    # Diagonal in the same rotated basis: Σ (√a_i − √b_i)².
    rng = np.random.default_rng(2)
    q, _ = np.linalg.qr(rng.standard_normal((5, 5)))
    a, b = rng.uniform(0.1, 3.0, 5), rng.uniform(0.1, 3.0, 5)
    c1, c2 = q @ np.diag(a) @ q.T, q @ np.diag(b) @ q.T
    zero = np.zeros(5)
    assert frechet_distance(zero, c1, zero, c2) == pytest.approx(float(np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)), rel=1e-9)


def test_agrees_with_the_reference_sqrtm_formula_for_full_rank_covariances():
    rng = np.random.default_rng(3)
    for d in (3, 20):
        mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
        c1, c2 = _random_cov(d, rng), _random_cov(d, rng)
        assert frechet_distance(mu1, c1, mu2, c2) == pytest.approx(_fid_reference_formula(mu1, c1, mu2, c2), rel=1e-8)


def test_singular_covariances_give_a_finite_symmetric_nonnegative_distance():
    rng = np.random.default_rng(4)
    c1, c2 = _random_cov(30, rng, rank=5), _random_cov(30, rng, rank=8)
    mu = np.zeros(30)
    d12, d21 = frechet_distance(mu, c1, mu, c2), frechet_distance(mu, c2, mu, c1)
    assert np.isfinite(d12) and d12 > 0
    assert d12 == pytest.approx(d21, rel=1e-8)
    assert frechet_distance(mu, c1, mu, c1) == pytest.approx(0.0, abs=1e-9)


def test_accepts_tensors_and_returns_a_float():
    mu = torch.zeros(3, dtype=torch.float64)
    cov = torch.eye(3, dtype=torch.float64)
    value = frechet_distance(mu, 4 * cov, mu + 1, cov)
    assert isinstance(value, float)
    assert value == pytest.approx(3.0 + 3.0, rel=1e-12)  # 3 from the means, 3·(2 − 1)² from the spreads


def test_gaussian_fit_matches_numpy_mean_and_unbiased_cov():
    x = np.random.default_rng(5).standard_normal((40, 4))
    mu, cov = gaussian_fit(torch.from_numpy(x).float())
    np.testing.assert_allclose(mu.numpy(), x.mean(axis=0), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(cov.numpy(), np.cov(x, rowvar=False), rtol=1e-5, atol=1e-6)
    assert cov.dtype == torch.float64


@pytest.mark.parametrize(
    "args, name",
    [
        ((np.zeros(3), np.eye(3), np.zeros(2), np.eye(3)), "mu2"),
        ((np.zeros(3), np.eye(2), np.zeros(3), np.eye(3)), "cov1"),
        ((np.zeros(3), np.eye(3), np.zeros(3), np.ones(3)), "cov2"),
        ((np.zeros((3, 1)), np.eye(3), np.zeros(3), np.eye(3)), "mu1"),
        ((np.zeros(3), np.full((3, 3), np.nan), np.zeros(3), np.eye(3)), "cov1"),
    ],
)
def test_bad_shapes_and_values_name_the_argument(args, name):
    with pytest.raises(ShapeError, match=name):
        frechet_distance(*args)
