"""Gaussian moments from rows with missing entries: positive semi-definite, maximum likelihood."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kernelops.flows.gappy_moments import em_iterations, gappy_moments, projected_pairwise


def _gaussian_rows(n: int, dim: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    root = torch.randn(dim, dim, generator=g, dtype=torch.float64) / dim**0.5
    cov = root @ root.T + 0.05 * torch.eye(dim, dtype=torch.float64)
    rows = torch.randn(n, dim, generator=g, dtype=torch.float64) @ torch.linalg.cholesky(cov).T + 1.0
    return rows, cov


def _with_holes(rows: torch.Tensor, fraction: float, seed: int = 0) -> torch.Tensor:
    holes = torch.from_numpy(np.random.default_rng(seed).random(tuple(rows.shape)) < fraction)
    return rows.masked_fill(holes, float("nan"))


def _observed_loglik(rows: torch.Tensor, mean: torch.Tensor, cov: torch.Tensor) -> float:
    """Σᵢ log N(xᵢᵒ; μᵒ, Σ[o, o]) over the rows' observed entries."""
    total = 0.0
    for row in rows:
        o = ~torch.isnan(row)
        if not bool(o.any()):
            continue
        dist = torch.distributions.MultivariateNormal(mean[o], covariance_matrix=cov[o][:, o])
        total += float(dist.log_prob(row[o]))
    return total


def test_pairwise_complete_covariance_is_indefinite_and_em_is_not():
    """The case of the bug: a few per cent of cells missing makes the pairwise estimate indefinite."""
    t = torch.arange(300, dtype=torch.float64)
    series = torch.stack([torch.sin(0.3 * t), torch.sin(0.5 * t + 1)], 1) + 0.01 * torch.randn(300, 2, dtype=torch.float64)
    windows = _with_holes(series.unfold(0, 12, 1).transpose(1, 2).reshape(-1, 24), 0.1)
    observed = ~torch.isnan(windows)
    obs = observed.double()
    centred = torch.where(observed, windows - torch.nanmean(windows, 0), torch.zeros((), dtype=torch.float64))
    pairwise = centred.T @ centred / (obs.T @ obs - 1)
    assert float(torch.linalg.eigvalsh(pairwise).min()) < -1e-4
    moments = gappy_moments(windows)
    lam = torch.linalg.eigvalsh(moments.covariance)
    assert moments.iterations > 0 and float(lam.min()) >= -1e-12 * float(lam.max())
    _, start = projected_pairwise(windows, observed)
    assert float(torch.linalg.eigvalsh(start).min()) >= -1e-12


def test_em_matches_the_closed_form_maximum_likelihood_of_a_monotone_pattern():
    """x₁ always observed, x₂ missing in some rows: the ML estimate is a regression (Anderson 1957)."""
    rows, _ = _gaussian_rows(400, 2, seed=1)
    missing = torch.zeros(400, dtype=torch.bool)
    missing[::3] = True
    gappy = rows.clone()
    gappy[missing, 1] = float("nan")
    n, comp = 400, rows[~missing]
    x1, x1c, x2c = rows[:, 0], comp[:, 0], comp[:, 1]
    s11c = ((x1c - x1c.mean()) ** 2).mean()
    beta = ((x1c - x1c.mean()) * (x2c - x2c.mean())).mean() / s11c
    resid = (((x2c - x2c.mean()) - beta * (x1c - x1c.mean())) ** 2).mean()
    mu1 = x1.mean()
    mu2 = x2c.mean() + beta * (mu1 - x1c.mean())
    s11 = ((x1 - mu1) ** 2).mean()
    expected = torch.tensor([[s11, beta * s11], [beta * s11, resid + beta**2 * s11]], dtype=torch.float64)
    moments = gappy_moments(gappy, iterations=5000, tolerance=1e-14)
    assert moments.converged
    assert torch.allclose(moments.mean, torch.stack([mu1, mu2]), atol=1e-8)
    assert torch.allclose(moments.covariance, expected * n / (n - 1), atol=1e-8)


def test_em_raises_the_observed_likelihood_above_its_start():
    rows = _with_holes(_gaussian_rows(300, 5, seed=2)[0], 0.3, seed=2)
    observed = ~torch.isnan(rows)
    start_mean, start_cov = projected_pairwise(rows, observed)
    moments = gappy_moments(rows)
    n = rows.shape[0]
    ml_cov = moments.covariance * (n - 1) / n  # the likelihood's own (divide by n) scale
    assert _observed_loglik(rows, moments.mean, ml_cov) > _observed_loglik(rows, start_mean, start_cov) + 1.0


def test_complete_rows_give_the_sample_moments():
    rows, _ = _gaussian_rows(50, 4)
    moments = gappy_moments(rows)
    assert moments.iterations == 0 and moments.converged
    assert np.allclose(moments.covariance.numpy(), np.cov(rows.numpy(), rowvar=False), atol=1e-12)
    assert torch.allclose(moments.mean, rows.mean(0))


@pytest.mark.parametrize("fraction", [0.1, 0.5])
def test_em_estimate_is_close_to_the_truth(fraction):
    rows, cov = _gaussian_rows(4000, 6, seed=3)
    moments = gappy_moments(_with_holes(rows, fraction, seed=3))
    error = float(torch.linalg.matrix_norm(moments.covariance - cov) / torch.linalg.matrix_norm(cov))
    assert error < 0.1
    assert torch.allclose(moments.mean, torch.ones(6, dtype=torch.float64), atol=0.1)


def test_the_flop_budget_limits_iterations_and_zero_leaves_the_projected_start():
    assert em_iterations(10, 8) == 100  # small: the iteration limit
    assert em_iterations(10_000, 1400) == 0  # MuJoCo-sized windows, all with gaps: none
    rows = _with_holes(_gaussian_rows(100, 4)[0], 0.2)
    moments = gappy_moments(rows, iterations=0)
    _, start = projected_pairwise(rows, ~torch.isnan(rows))
    assert moments.iterations == 0 and torch.equal(moments.covariance, start)
