"""log p(x) by the instantaneous change of variables: closed forms, Hutchinson, gradients, scaling."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

import kernelops as ko
from kernelops.data import make_sines
from kernelops.data.scaling import MinMaxScaler
from kernelops.flows import FieldConfig, SpectralMeanFlow, SpectralVelocityField
from kernelops.flows.likelihood import encode, log_prob, source_log_prob, time_grid

SEQ, DIM = 4, 2


def _gaussian_windows(n: int, seed: int) -> torch.Tensor:
    """Correlated Gaussian windows (n, SEQ, DIM), variances well above the skip's floor."""
    g = torch.Generator().manual_seed(seed)
    mix = torch.randn(SEQ * DIM, SEQ * DIM, generator=g, dtype=torch.float64) / math.sqrt(SEQ * DIM)
    z = torch.randn(n, SEQ * DIM, generator=g, dtype=torch.float64)
    return (0.3 + 0.5 * z @ mix.T + 0.2 * z).reshape(n, SEQ, DIM)


def _skip_only_field(path_name: str) -> SpectralVelocityField:
    path = ko.path(path_name)
    cfg = FieldConfig(potential="window", skip="window", depth=1, width=8)
    field = SpectralVelocityField(path, DIM, SEQ, cfg, dtype=torch.float64)
    field.fit_data(_gaussian_windows(2000, seed=0))
    return field.eval()


def _pushforward_gaussian_log_prob(field: SpectralVelocityField, x: torch.Tensor) -> torch.Tensor:
    """The closed-form density of the source pushed through the skip Gaussian's exact marginal flow.

    In the eigenbasis of the fitted Σ = Q diag(λ) Qᵀ the flow from t = 0 to 1 is affine:
    x₁ = α₁m + √(S₁/S₀)(x₀ − α₀m), S_t = α_t²λ + σ_t², so x₀ ~ N(0, σ₀²) lands on
    N(α₁m − √(S₁/S₀)α₀m, σ₀² S₁/S₀) (for OT: N(m, Σ + σ_min²)).
    """
    skip = field.skip
    lam, q, m = skip.eigvals.double(), skip.eigvecs.double(), skip.mean.double()
    ends = field.path.schedule.evaluate(torch.tensor([0.0, 1.0], dtype=torch.float64))
    (a0, a1), (s0, s1) = ends.alpha, ends.sigma
    gain = ((a1**2 * lam + s1**2) / (a0**2 * lam + s0**2)).sqrt()
    mean_coords = (a1 - gain * a0) * (m @ q)
    var = field.path.source_std**2 * gain.square()
    coords = x.reshape(x.shape[0], -1) @ q - mean_coords
    return -0.5 * (coords.square() / var + var.log() + math.log(2 * math.pi)).sum(1)


@pytest.mark.parametrize("path_name", ["ot", "vp"])
def test_skip_only_model_matches_the_closed_form_gaussian(path_name):
    torch.manual_seed(0)
    field = _skip_only_field(path_name)
    x = _gaussian_windows(6, seed=1)
    assert float(field.learned(0.5, x).detach().abs().max()) == 0.0  # the learned part starts at zero
    result = log_prob(field, x, field.path, ko.solver("rk4"), 48)
    expected = _pushforward_gaussian_log_prob(field, x)
    assert result.exact and result.nfe == 4 * 48
    torch.testing.assert_close(result.log_prob, expected, rtol=1e-4, atol=0.0)
    if path_name == "ot":  # OT's source is its t = 0 marginal: the model is the skip's N(m, Σ + σ_min²)
        skip = field.skip
        cov = (skip.eigvecs * (skip.eigvals + 1e-8)) @ skip.eigvecs.T
        gauss = torch.distributions.MultivariateNormal(skip.mean, covariance_matrix=cov)
        torch.testing.assert_close(result.log_prob, gauss.log_prob(x.reshape(6, -1)), rtol=1e-4, atol=0.0)


def test_too_few_steps_are_visibly_off_the_closed_form():
    """The comparison above can fail: two midpoint steps are far from the closed form."""
    field = _skip_only_field("vp")
    x = _gaussian_windows(4, seed=1)
    rough = log_prob(field, x, field.path, ko.solver("midpoint"), 2).log_prob
    assert float(((rough - _pushforward_gaussian_log_prob(field, x)) / rough).abs().max()) > 1e-3


class MixtureField(nn.Module):
    """The exact marginal field of a 1-d two-component Gaussian mixture under an affine path.

    With x_t = α_t x₁ + σ_t ε, component k is N(α_t μ_k, S_k), S_k = α_t² s_k² + σ_t², and the field
    is Σ_k w_k(x) [α'_t μ_k + (α'_t α_t s_k² + σ'_t σ_t)/S_k (x − α_t μ_k)], w_k the posterior weight of
    component k at x. It is −∇Φ with Φ_t(x) = −[a_t x²/2 + b_t (x²/2 + σ_t² log p_t(x))/α_t]
    (a_t = σ'/σ, b_t = α' − a α; the posterior mean is (x + σ² ∇log p_t)/α), for α_t > 0.

    Shape:
        x: (batch, 1, 1). returns: (batch, 1, 1).
    """

    def __init__(self, path, weights, means, stds):
        super().__init__()
        self.path = path
        self.register_buffer("logw", torch.tensor(weights, dtype=torch.float64).log())
        self.register_buffer("mu", torch.tensor(means, dtype=torch.float64))
        self.register_buffer("s2", torch.tensor(stds, dtype=torch.float64).square())

    def _parts(self, t, x):
        c = self.path.schedule.evaluate(torch.as_tensor(t, dtype=torch.float64))
        var = c.alpha**2 * self.s2 + c.sigma**2
        y = x.reshape(-1, 1)
        logp = self.logw - 0.5 * ((y - c.alpha * self.mu).square() / var + var.log() + math.log(2 * math.pi))
        return c, var, y, logp

    def log_density(self, t, x):
        return torch.logsumexp(self._parts(t, x)[3], dim=1)

    def forward(self, t, x):
        c, var, y, logp = self._parts(t, x)
        w = torch.softmax(logp, dim=1)
        comp = c.d_alpha * self.mu + (c.d_alpha * c.alpha * self.s2 + c.d_sigma * c.sigma) / var * (y - c.alpha * self.mu)
        return (w * comp).sum(1).reshape(x.shape)

    def potential(self, t, x):
        c = self.path.schedule.evaluate(torch.as_tensor(t, dtype=torch.float64))
        a = c.d_sigma / c.sigma
        b = c.d_alpha - a * c.alpha
        y = x.reshape(-1)
        return -(0.5 * a * y.square() + b * (0.5 * y.square() + c.sigma**2 * self.log_density(t, x)) / c.alpha)


def test_mixture_field_is_the_gradient_of_its_potential():
    field = MixtureField(ko.path("ot"), [0.3, 0.7], [-1.5, 1.0], [0.3, 0.5])
    x = torch.linspace(-3, 3, 13, dtype=torch.float64).reshape(-1, 1, 1).requires_grad_(True)
    (grad,) = torch.autograd.grad(field.potential(0.6, x).sum(), x)
    torch.testing.assert_close(-grad, field(0.6, x))


def test_mixture_log_prob_matches_its_exact_density():
    path = ko.path("ot")
    field = MixtureField(path, [0.3, 0.7], [-1.5, 1.0], [0.3, 0.5])
    x = torch.tensor([-2.0, -1.5, -0.4, 0.2, 1.0, 1.9], dtype=torch.float64).reshape(-1, 1, 1)
    result = log_prob(field, x, path, ko.solver("rk4"), 64)
    exact = field.log_density(1.0, x)  # OT's t = 1 marginal: the mixture with s_k² + σ_min²
    torch.testing.assert_close(result.log_prob, exact, rtol=1e-3, atol=0.0)
    # and encode is the same reverse map: the mixture's quantile pushed to the standard normal
    x0, nfe = encode(field, x, ko.solver("rk4"), 64)
    torch.testing.assert_close(x0, result.noise)
    assert nfe == 4 * 64


@pytest.fixture(scope="module")
def trained() -> SpectralMeanFlow:
    torch.set_num_threads(1)
    data = make_sines(64, seq_len=6, features=2, seed=0)
    model = SpectralMeanFlow(depth=1, width=16, seed=0, potential="window", dtype=torch.float64)
    model.fit(data, steps=30, batch_size=16, warmup=0, progress=False)
    x = model.to_model(torch.from_numpy(data[:4]).double())
    assert float(model._field(True).learned(0.5, x).detach().abs().max()) > 0
    return model


def test_hutchinson_agrees_with_the_exact_divergence_within_its_error(trained):
    x = torch.from_numpy(make_sines(5, seq_len=6, features=2, seed=3)).double()
    exact = trained.log_prob(x, steps=8, exact=True)
    estimate = trained.log_prob(x, steps=8, exact=False, probes=64, seed=1)
    assert exact.exact and not estimate.exact and estimate.probes == 64
    assert float(exact.stderr.abs().max()) == 0.0 and bool((estimate.stderr > 0).all())
    z = (estimate.log_prob - exact.log_prob) / estimate.stderr
    assert float(z.abs().max()) < 4.0, z
    again = trained.log_prob(x, steps=8, exact=False, probes=64, seed=1)
    torch.testing.assert_close(again.log_prob, estimate.log_prob)  # the seed fixes the probes
    # the threshold: 12 values per window are exact by default, not above exact_max_dim
    assert trained.log_prob(x[:1], steps=2).exact
    assert not trained.log_prob(x[:1], steps=2, exact_max_dim=8).exact


def test_log_prob_is_differentiable_in_x():
    torch.manual_seed(0)
    model = SpectralMeanFlow(depth=1, width=4, seed=0, potential="window", dtype=torch.float64)
    data = make_sines(16, seq_len=3, features=1, seed=0)
    model.fit(data, steps=3, batch_size=8, warmup=0, progress=False)
    with torch.no_grad():  # a non-zero learned part, so the network's derivatives are checked too
        model._field(True).potential_net.readout.weight.normal_(0.0, 0.5)
    x = torch.from_numpy(data[:2]).double().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda y: model.log_prob(y, steps=2, solver="midpoint").log_prob, (x,),
                                    eps=1e-6, atol=1e-5)


def test_original_scale_adds_the_scalers_jacobian(trained):
    raw = make_sines(3, seq_len=6, features=2, seed=5) * np.array([3.0, 0.5]) + np.array([10.0, -2.0])
    scaler = MinMaxScaler().fit(raw)
    trained.scaler_state = scaler.state_dict()
    try:
        original = trained.log_prob(raw, steps=4, scale="original")
        unit = trained.log_prob(scaler.transform(raw), steps=4)
    finally:
        trained.scaler_state = None
    shift = 6 * float(np.log(1.0 / scaler.scale_).sum())
    torch.testing.assert_close(original.log_prob, unit.log_prob + shift)
    torch.testing.assert_close(original.bits_per_value, -original.log_prob / (12 * math.log(2)))
    with pytest.raises(ValueError, match="carries no scaler"):
        trained.log_prob(raw, steps=4, scale="original")


def test_encode_inverts_sampling(trained):
    x0 = trained.path.sample_source((3, 6, 2), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    x1 = ko.solver("rk4").solve(trained._field(True), x0, 0.0, 1.0, grid=time_grid(32, dtype=torch.float64).flip(0)).x
    back = trained.encode(trained.from_model(x1), steps=32)
    torch.testing.assert_close(back, x0, rtol=0.0, atol=2e-4)  # two RK4 discretisations, not exact inverses


def test_source_log_prob_is_the_isotropic_gaussian():
    path = ko.path("ve")
    x0 = torch.randn(3, 4, 2, dtype=torch.float64)
    dist = torch.distributions.Normal(0.0, path.source_std)
    torch.testing.assert_close(source_log_prob(path, x0), dist.log_prob(x0).sum((1, 2)))
    torch.testing.assert_close(path.source_log_prob(x0), dist.log_prob(x0).sum((1, 2)))


def test_bad_input_gets_one_line_errors(trained):
    x = torch.from_numpy(make_sines(2, seq_len=6, features=2, seed=3)).double()
    with pytest.raises(ValueError, match="probes"):
        trained.log_prob(x, steps=2, exact=False, probes=1)
    with pytest.raises(ValueError, match="adaptive"):
        trained.log_prob(x, steps=2, solver="dopri5")
    with pytest.raises(ValueError, match="scale"):
        trained.log_prob(x, steps=2, scale="raw")
    with pytest.raises(ko.errors.ShapeError, match="features"):
        trained.log_prob(x[..., :1], steps=2)
    with pytest.raises(ValueError, match="time_power"):
        time_grid(4, 0.5)
