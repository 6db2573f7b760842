"""StationaryGaussian: per-feature stationary Gaussian processes, fit once, evaluated at any length."""

from __future__ import annotations

import math

import pytest
import torch

from kernelops.errors import ShapeError
from kernelops.flows.stationary_gaussian import StationaryGaussian, burg

F64 = torch.float64


def _ar2_autocovariance(phi1: float, phi2: float, sigma2: float, lags: int) -> torch.Tensor:
    """γ(0 … lags − 1) of a causal AR(2), from its MA(∞) weights (an independent route to Yule–Walker)."""
    psi = torch.zeros(4000, dtype=F64)
    psi[0], psi[1] = 1.0, phi1
    for j in range(2, psi.numel()):
        psi[j] = phi1 * psi[j - 1] + phi2 * psi[j - 2]
    return torch.stack([sigma2 * (psi[: psi.numel() - k] * psi[k:]).sum() for k in range(lags)])


def _ar1_windows(num: int, steps: int, phi: float, noise: float, features: int = 1, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.empty(num, steps, features, dtype=F64)
    x[:, 0] = torch.randn(num, features, generator=g, dtype=F64) * noise / (1 - phi**2) ** 0.5  # stationary start
    for n in range(1, steps):
        x[:, n] = phi * x[:, n - 1] + noise * torch.randn(num, features, generator=g, dtype=F64)
    return x


def _ar2_windows(num: int, steps: int, phi1: float, phi2: float, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(num, steps + 200, dtype=F64)  # 200 burn-in steps: the windows start stationary
    for n in range(2, x.shape[1]):
        x[:, n] = phi1 * x[:, n - 1] + phi2 * x[:, n - 2] + torch.randn(num, generator=g, dtype=F64)
    return x[:, 200:]


def test_burg_recovers_an_ar2_from_short_windows_and_its_autocovariance_is_the_process_own():
    phi, gamma = burg(_ar2_windows(2000, 12, 1.2, -0.5), 11)
    assert torch.allclose(phi[:2], torch.tensor([1.2, -0.5], dtype=F64), atol=0.03)
    assert float(phi[2:].abs().max()) < 0.05
    # γ(0 … p) returned, and their continuation, are those of the fitted process itself: its MA(∞) form
    order = gamma.numel() - 1
    fitted = phi[:order]
    psi = torch.zeros(3000, dtype=F64)
    psi[0] = 1.0
    for j in range(1, psi.numel()):
        k = min(j, order)
        psi[j] = (fitted[:k] * psi[j - k:j].flip(0)).sum()
    innovation = gamma[0] / psi.square().sum()
    exact = torch.stack([innovation * (psi[: psi.numel() - k] * psi[k:]).sum() for k in range(40)])
    torch.testing.assert_close(gamma, exact[:order + 1], atol=1e-10, rtol=1e-9)
    extended = StationaryGaussian._extend(gamma[:, None], phi[:, None], 40)
    torch.testing.assert_close(extended[:, 0], exact, atol=1e-10, rtol=1e-9)
    assert float(exact[0]) == pytest.approx(_ar2_autocovariance(1.2, -0.5, 1.0, 1)[0].item(), rel=0.1)


def test_burg_stops_before_the_innovation_falls_below_the_floor():
    # exact sinusoids are AR(2) with zero innovation: the order stops at 1, whatever the window count
    g = torch.Generator().manual_seed(1)
    phase = 6.3 * torch.rand(500, 1, generator=g, dtype=F64)
    x = torch.sin(0.3 * torch.arange(16, dtype=F64) + phase)
    phi, gamma = burg(x, 15)
    assert gamma.numel() == 2 and torch.all(phi[1:] == 0)
    assert float(phi[0]) == pytest.approx(math.cos(0.3), abs=0.01)
    # white noise: every reflection coefficient near 0
    phi, _ = burg(torch.randn(2000, 10, generator=g, dtype=F64), 9)
    assert float(phi.abs().max()) < 0.03
    # a constant feature has no order at all
    phi, gamma = burg(torch.zeros(10, 5, dtype=F64), 4)
    assert torch.equal(phi, torch.zeros(4, dtype=F64)) and gamma.numel() == 1


def test_fit_to_ar1_windows_recovers_the_process_far_beyond_the_training_length():
    phi, noise = 0.8, 0.5
    windows = _ar1_windows(4000, 12, phi, noise, features=2) + torch.tensor([1.0, -2.0], dtype=F64)
    skip = StationaryGaussian(12, 2, F64).fit(windows)
    torch.testing.assert_close(skip.mean, torch.tensor([1.0, -2.0], dtype=F64), atol=0.05, rtol=0)
    assert torch.allclose(skip.ar[0], torch.full((2,), phi, dtype=F64), atol=0.03)
    exact = noise**2 / (1 - phi**2) * phi ** torch.arange(60, dtype=F64)
    gamma = skip.autocovariance_at(60)
    assert gamma.shape == (60, 2)
    assert float((gamma - exact[:, None]).abs().max()) < 0.06 * float(exact[0])
    # the Toeplitz covariance of any length is positive definite
    assert float(torch.linalg.eigvalsh(skip.covariance(60)).min()) > 0


def test_missing_entries_are_left_out_of_the_estimates():
    x = _ar1_windows(3000, 10, 0.7, 1.0)
    full = StationaryGaussian(10, 1, F64).fit(x)
    holes = x.clone()
    holes[torch.rand(x.shape, generator=torch.Generator().manual_seed(5), dtype=F64) < 0.3] = float("nan")
    gappy = StationaryGaussian(10, 1, F64).fit(holes)
    assert float((gappy.autocovariance - full.autocovariance).abs().max()) < 0.08 * float(full.autocovariance[0, 0])
    with pytest.raises(ShapeError, match="fewer than 2 observed"):
        StationaryGaussian(10, 1, F64).fit(torch.full_like(x, float("nan")))


def test_the_posterior_mean_is_the_dense_gaussian_formula_at_a_new_length_and_follows_a_refit():
    skip = StationaryGaussian(8, 2, F64).fit(_ar1_windows(500, 8, 0.9, 0.3, features=2))
    n, d = 20, 2
    cov = torch.zeros(n * d, n * d, dtype=F64)  # (N, d) flattened step-major: feature j sits at n·d + j
    for j in range(d):
        cov[j::d, j::d] = skip.covariance(n)[j]
    mean = skip.mean.repeat(n)
    x = torch.randn(3, n, d, dtype=F64)
    alpha, sigma = torch.tensor([0.2, 0.7, 0.99], dtype=F64), torch.tensor([0.9, 0.5, 0.01], dtype=F64)
    for i in range(3):
        a, s = alpha[i], sigma[i]
        dense = mean + a * cov @ torch.linalg.solve(a**2 * cov + s**2 * torch.eye(n * d, dtype=F64), x[i].reshape(-1) - a * mean)
        torch.testing.assert_close(skip(x, alpha, sigma)[i].reshape(-1), dense, atol=1e-9, rtol=1e-9)
    before = skip(x, alpha, sigma)
    skip.fit(_ar1_windows(500, 8, 0.2, 1.0, features=2, seed=3))  # the cached spectrum must not survive a refit
    assert not torch.allclose(skip(x, alpha, sigma), before)
    restored = StationaryGaussian(8, 2, F64)
    restored.load_state_dict(skip.state_dict())
    torch.testing.assert_close(restored(x, alpha, sigma), skip(x, alpha, sigma))
