"""The posterior-mean target of an empirical data set: dense Bayes reference, limits, and the
property that makes it a valid flow-matching target (the conditional target's residual is
orthogonal to every function of x_t)."""

from __future__ import annotations

import pytest
import torch

import kernelops as ko
from kernelops.errors import ShapeError

F64 = torch.float64
NAMES = ["ot", "vp", "ve"]


def _dense_posterior_field(path, x, t, reference):
    """Bayes' rule with explicit Gaussian log-densities N(x; α_t r_i, σ_t² I), then E[u | x]."""
    c = path.schedule.evaluate(t)
    flat, ref = x.reshape(len(x), -1), reference.reshape(len(reference), -1)
    logp = torch.distributions.Normal(c.alpha[:, None, None] * ref[None], c.sigma[:, None, None]).log_prob(flat[:, None])
    w = torch.softmax(logp.sum(-1), dim=1)  # (batch, num)
    targets = torch.stack([path.conditional_velocity(x, reference[i].expand_as(x), t) for i in range(len(reference))], 1)
    return (w[:, :, None, None] * targets).sum(1)


@pytest.mark.parametrize("name", NAMES)
def test_posterior_field_equals_bayes_rule_with_dense_densities(name):
    path = ko.path(name)
    g = torch.Generator().manual_seed(0)
    reference = torch.rand(7, 3, 2, generator=g, dtype=F64) * 2 - 1
    x = torch.randn(11, 3, 2, generator=g, dtype=F64)
    t = torch.linspace(0.05, 0.95, 11, dtype=F64)
    torch.testing.assert_close(path.posterior_velocity(x, t, reference), _dense_posterior_field(path, x, t, reference))


def test_one_reference_window_gives_the_conditional_target():
    path = ko.path("ot")
    r = torch.rand(1, 4, 3, dtype=F64)
    x = torch.randn(5, 4, 3, dtype=F64)
    t = torch.tensor([0.1, 0.3, 0.5, 0.7, 0.99], dtype=F64)
    torch.testing.assert_close(path.posterior_velocity(x, t, r), path.conditional_velocity(x, r.expand_as(x), t))


def test_near_the_data_end_the_target_snaps_to_the_drawn_window():
    """At t → 1 (σ_t ≈ σ_min) the posterior sits on the window x_t came from, even in float32."""
    path = ko.path("ot")
    g = torch.Generator().manual_seed(1)
    reference = torch.rand(500, 24, 5, generator=g) * 2 - 1
    idx = torch.arange(0, 500, 50)
    x1 = reference[idx]
    z = torch.randn(x1.shape, generator=g)
    t = torch.full((len(idx),), 1 - 1e-5)
    ps = path.sample(z, x1, t)
    torch.testing.assert_close(path.posterior_velocity(ps.x_t, t, reference), ps.u_t, atol=2e-3, rtol=1e-3)


def test_a_large_gaussian_reference_approaches_the_closed_form_gaussian_field():
    path = ko.path("ot")
    g = torch.Generator().manual_seed(2)
    mean = torch.tensor([0.3, -0.2], dtype=F64)
    cov = torch.tensor([[0.5, 0.2], [0.2, 0.3]], dtype=F64)
    reference = torch.distributions.MultivariateNormal(mean, cov).sample((200_000,)).reshape(-1, 1, 2)
    x = torch.randn(8, 1, 2, generator=g, dtype=F64)
    t = torch.full((8,), 0.5, dtype=F64)
    exact = path.marginal_velocity(x.reshape(8, 2), t[:, None], mean, cov).reshape(8, 1, 2)
    torch.testing.assert_close(path.posterior_velocity(x, t, reference), exact, atol=0.03, rtol=0.03)


@pytest.mark.parametrize("name", ["ot", "vp"])
def test_the_conditional_residual_is_orthogonal_to_functions_of_x_t(name):
    """E[(u(x_t|x₁) − u_post(x_t))·h(x_t)] = 0 for any h: the two losses differ by a constant, so
    they have the same minimiser. Ignoring x_t (x̂₁ = the reference mean) fails the same check."""
    path = ko.path(name)
    g = torch.Generator().manual_seed(3)
    reference = torch.rand(6, 2, 1, generator=g, dtype=F64) * 2 - 1
    n = 200_000
    x1 = reference[torch.randint(6, (n,), generator=g)]
    z = torch.randn(x1.shape, generator=g, dtype=F64)
    t = torch.rand(n, generator=g, dtype=F64) * 0.9 + 0.05
    ps = path.sample(z, x1, t)
    h = torch.sin(3 * ps.x_t) + ps.x_t.flip(1)  # an arbitrary field of x_t

    def cross_term(u_post):
        prod = ((ps.u_t - u_post) * h).reshape(n, -1).sum(1)
        return prod.mean().abs().item(), prod.std().item() / n**0.5

    mean, stderr = cross_term(path.posterior_velocity(ps.x_t, t, reference))
    assert mean < 4 * stderr
    mean_wrong, stderr_wrong = cross_term(path.conditional_velocity(ps.x_t, reference.mean(0).expand_as(x1), t))
    assert mean_wrong > 10 * stderr_wrong


def test_posterior_field_rejects_mismatched_shapes():
    path = ko.path("ot")
    x = torch.randn(4, 3, 2)
    with pytest.raises(ShapeError, match="reference"):
        path.posterior_velocity(x, torch.rand(4), torch.randn(5, 3, 1))
    with pytest.raises(ShapeError, match="t: expected shape"):
        path.posterior_velocity(x, torch.rand(3), torch.randn(5, 3, 2))
