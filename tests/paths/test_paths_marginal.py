"""The closed-form Gaussian marginal field: dense reference, symmetric Jacobian, conditional expectation, transport."""

from __future__ import annotations

import pytest
import torch

import kernelops as ko
from kernelops.errors import ShapeError

F64 = torch.float64
NAMES = ["ot", "vp", "ve"]


def _gaussian(d: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(d, d, generator=g, dtype=F64)
    cov = a @ a.T / d + 0.2 * torch.eye(d, dtype=F64)  # well conditioned, correlated
    mean = torch.rand(d, generator=g, dtype=F64) + 0.5
    return mean, cov


def _dense_field(path, x, t, mean, cov):
    """u_t(x) = α' m + (α' α Σ + σ' σ I)(α² Σ + σ² I)⁻¹ (x − α m), by a linear solve."""
    c = path.schedule(torch.tensor(t, dtype=F64))
    eye = torch.eye(cov.shape[0], dtype=F64)
    s_t = c.alpha**2 * cov + c.sigma**2 * eye
    b = c.d_alpha * c.alpha * cov + c.d_sigma * c.sigma * eye
    return c.d_alpha * mean + (b @ torch.linalg.solve(s_t, (x - c.alpha * mean).T)).T


@pytest.mark.parametrize("name", NAMES)
def test_marginal_field_equals_the_dense_formula(name):
    path = ko.path(name)
    mean, cov = _gaussian(4)
    x = torch.randn(9, 4, dtype=F64)
    for t in (0.0, 0.2, 0.5, 0.9, 1.0):
        torch.testing.assert_close(path.marginal_velocity(x, t, mean, cov), _dense_field(path, x, t, mean, cov))


@pytest.mark.parametrize("name", NAMES)
def test_marginal_field_has_a_symmetric_jacobian(name):
    path = ko.path(name)
    mean, cov = _gaussian(4, seed=1)
    x = torch.randn(4, dtype=F64)
    for t in (0.1, 0.5, 0.95):
        jac = torch.autograd.functional.jacobian(lambda z: path.marginal_velocity(z, t, mean, cov), x)
        torch.testing.assert_close(jac, jac.T, rtol=0, atol=1e-12)
        # and it is the right matrix, not merely a symmetric one
        c = path.schedule(torch.tensor(t, dtype=F64))
        eye = torch.eye(4, dtype=F64)
        expected = (c.d_alpha * c.alpha * cov + c.d_sigma * c.sigma * eye) @ torch.linalg.inv(
            c.alpha**2 * cov + c.sigma**2 * eye)
        torch.testing.assert_close(jac, expected)
        assert float((jac - jac.mean()).abs().max()) > 1e-3  # not a multiple of the identity


@pytest.mark.parametrize("name", NAMES)
def test_per_sample_times_give_per_sample_fields(name):
    path = ko.path(name)
    mean, cov = _gaussian(3)
    x = torch.randn(5, 7, 3, dtype=F64)
    t = torch.linspace(0.05, 0.95, 5, dtype=F64)
    u = path.marginal_velocity(x, t, mean, cov)
    for i in range(5):
        torch.testing.assert_close(u[i], path.marginal_velocity(x[i], float(t[i]), mean, cov))
    with pytest.raises(ShapeError, match="last dimension"):
        path.marginal_velocity(torch.randn(3, dtype=F64), torch.rand(3, dtype=F64), mean, cov)


@pytest.mark.parametrize("name", NAMES)
def test_marginal_field_is_the_conditional_expectation_of_the_target(name):
    """u_t(x) = E[u_t(x | x1) | x_t = x]: a self-normalised importance-sampling estimate over
    x1 ~ N(m, Σ) with weights p_t(x | x1) = N(x; α_t x1, σ_t² I) agrees within its Monte-Carlo error."""
    path = ko.path(name)
    mean, cov = _gaussian(2, seed=2)
    g = torch.Generator().manual_seed(0)
    n = 200_000
    x1 = mean + torch.randn(n, 2, generator=g, dtype=F64) @ torch.linalg.cholesky(cov).T
    for t in (0.3, 0.7):
        c = path.schedule(torch.tensor(t, dtype=F64))
        # evaluation points drawn from the t-marginal so the weights are not degenerate
        s_t = c.alpha**2 * cov + c.sigma**2 * torch.eye(2, dtype=F64)
        pts = c.alpha * mean + torch.randn(3, 2, generator=g, dtype=F64) @ torch.linalg.cholesky(s_t).T
        for x in pts:
            logw = -((x - c.alpha * x1) ** 2).sum(-1) / (2 * c.sigma**2)
            w = torch.softmax(logw, 0)
            u_cond = path.conditional_velocity(x.expand(n, 2), x1, t)
            estimate = (w[:, None] * u_cond).sum(0)
            ess = 1.0 / float((w**2).sum())
            spread = ((w[:, None] * (u_cond - estimate) ** 2).sum(0)).sqrt()
            stderr = spread / ess**0.5
            assert ess > 200
            exact = path.marginal_velocity(x, t, mean, cov)
            assert bool(((estimate - exact).abs() <= 5 * stderr + 1e-9).all()), (t, estimate, exact, stderr)


@pytest.mark.parametrize("name", NAMES)
def test_the_marginal_field_transports_the_gaussian_marginals(name):
    """Continuity: the flow of u_t maps N(α₀m, S₀) onto N(α₁m, S₁), S_t = α_t²Σ + σ_t²I, through
    the exact map x ↦ α₁m + S₁^{1/2} S₀^{-1/2} (x − α₀m) (all S_t commute). Integrated with RK4;
    at t = 1 the law is the data N(m, Σ) up to σ₁² ≤ 1e-4."""
    path = ko.path(name)
    mean, cov = _gaussian(3, seed=3)
    lam, q = torch.linalg.eigh(cov)
    c0, c1 = (path.schedule(torch.tensor(t, dtype=F64)) for t in (0.0, 1.0))
    s0, s1 = c0.alpha**2 * lam + c0.sigma**2, c1.alpha**2 * lam + c1.sigma**2
    g = torch.Generator().manual_seed(1)
    x_start = c0.alpha * mean + (torch.randn(256, 3, generator=g, dtype=F64) * s0.sqrt()) @ q.T
    result = ko.solver("rk4").solve(lambda t, x: path.marginal_velocity(x, t, mean, cov), x_start, steps=100)
    exact = c1.alpha * mean + (((x_start - c0.alpha * mean) @ q) * (s1 / s0).sqrt()) @ q.T
    torch.testing.assert_close(result.x, exact, rtol=0, atol=1e-6)
    assert result.nfe == 400
    s1_matrix = q @ torch.diag(s1) @ q.T
    torch.testing.assert_close(s1_matrix, cov, rtol=0, atol=1.01e-4)  # the t = 1 marginal is the data
