"""Conditional sampling on Gaussian data, where the conditional law is known in closed form.

The field is a window-skip SpectralVelocityField whose learned part is scaled to zero, so its
clean-window prediction is exactly the posterior mean of the skip's fitted Gaussian N(μ, Σ).
The law of the unobserved coordinates given the observed ones is then
N(μ_u + Σ_uo Σ_oo⁻¹ (y − μ_o), Σ_uu − Σ_uo Σ_oo⁻¹ Σ_ou).

Guidance is also bounded by construction: no scale turns a finite field into non-finite draws.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import kernelops as ko
from kernelops.data import make_sines
from kernelops.flows import FieldConfig, SpectralMeanFlow, SpectralVelocityField
from kernelops.flows.config import GUIDANCE_MAX_RATIO
from kernelops.flows.sample.conditional import bounded_guidance, check_guidance_scale, sample_conditional

SEQ, DIM = 3, 2


def _gaussian_field(cov: torch.Tensor, path_name: str = "ot") -> SpectralVelocityField:
    gen = torch.Generator().manual_seed(0)
    chol = torch.linalg.cholesky(cov)
    mean = torch.linspace(-0.3, 0.4, SEQ * DIM, dtype=torch.float64)
    data = (mean + torch.randn(4000, SEQ * DIM, generator=gen, dtype=torch.float64) @ chol.T).reshape(-1, SEQ, DIM)
    path = ko.path(path_name)
    field = SpectralVelocityField(path, DIM, SEQ, FieldConfig(depth=1, width=4, skip="window"), dtype=torch.float64)
    field.fit_data(data)
    field.scale_learned(0.0)  # D = the skip: the exact Gaussian posterior mean
    return field


def _closed_form(field: SpectralVelocityField, y: torch.Tensor, m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    skip = field.skip
    cov = (skip.eigvecs * skip.eigvals) @ skip.eigvecs.T
    o, u = m.reshape(-1), ~m.reshape(-1)
    gain = cov[u][:, o] @ torch.linalg.inv(cov[o][:, o])
    mean = skip.mean[u] + gain @ (y.reshape(-1)[o] - skip.mean[o])
    return mean, cov[u][:, u] - gain @ cov[o][:, u]


def _draws(field, y, m, method, samples=2000, steps=16, **kw):
    out, _ = sample_conditional(field, field.path, ko.solver("midpoint"), y[None], m[None], samples=samples,
                                steps=steps, generator=torch.Generator().manual_seed(1), method=method,
                                dtype=torch.float64, **kw)
    return out[0]


def _correlated_cov() -> torch.Tensor:
    a = torch.randn(SEQ * DIM, SEQ * DIM, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    return 0.1 * a @ a.T + 0.02 * torch.eye(SEQ * DIM, dtype=torch.float64)


MASK = torch.tensor([[True, False], [False, True], [True, False]])
Y = torch.tensor([[0.5, 0.0], [0.0, -0.3], [0.2, 0.0]], dtype=torch.float64)


@pytest.mark.parametrize("path_name", ["ot", "vp"])
def test_gaussian_method_draws_the_exact_conditional_law(path_name):
    field = _gaussian_field(_correlated_cov(), path_name)
    mean, cov = _closed_form(field, Y, MASK)
    draws = _draws(field, Y, MASK, "gaussian")
    free = draws.reshape(draws.shape[0], -1)[:, ~MASK.reshape(-1)]
    se = cov.diagonal().sqrt() / draws.shape[0] ** 0.5
    assert ((free.mean(0) - mean).abs() < 4 * se).all(), (free.mean(0), mean)
    assert torch.allclose(torch.cov(free.T), cov, atol=0.1 * float(cov.diagonal().max()))
    assert torch.equal(draws[:, MASK], Y[MASK].expand(draws.shape[0], -1))


def test_gaussian_method_beats_replacement_on_correlated_data():
    # replacement conditions the field on a noisy copy of y, so it is biased towards the prior
    field = _gaussian_field(_correlated_cov())
    mean, _ = _closed_form(field, Y, MASK)
    errors = {}
    for method in ("gaussian", "replacement"):
        draws = _draws(field, Y, MASK, method, samples=1000)
        errors[method] = float((draws.reshape(1000, -1)[:, ~MASK.reshape(-1)].mean(0) - mean).norm())
    assert errors["gaussian"] < 0.3 * errors["replacement"], errors


@pytest.mark.parametrize("method", ["replacement", "guidance", "gaussian"])
def test_every_method_is_exact_for_independent_coordinates(method):
    # Σ = s² I: the free coordinates keep their prior law whatever is observed; neither the
    # replaced coordinates nor the guidance gradient (J_D is diagonal) may disturb them
    field = _gaussian_field(0.04 * torch.eye(SEQ * DIM, dtype=torch.float64))
    mean, cov = _closed_form(field, Y, MASK)
    draws = _draws(field, Y, MASK, method)
    free = draws.reshape(draws.shape[0], -1)[:, ~MASK.reshape(-1)]
    se = cov.diagonal().sqrt() / draws.shape[0] ** 0.5
    assert ((free.mean(0) - mean).abs() < 5 * se).all(), (method, free.mean(0), mean)
    assert torch.allclose(free.var(0), cov.diagonal(), rtol=0.15), (method, free.var(0), cov.diagonal())
    assert torch.equal(draws[:, MASK], Y[MASK].expand(draws.shape[0], -1))


def test_gaussian_update_with_one_shared_mask_equals_the_per_window_update():
    # rows that share a mask share one factorisation; they must match the rows solved one by one
    from kernelops.flows.sample.conditional import gaussian_update

    field = _gaussian_field(_correlated_cov())
    gen = torch.Generator().manual_seed(5)
    t = torch.tensor(0.6, dtype=torch.float64)
    pred = torch.randn(4, SEQ, DIM, generator=gen, dtype=torch.float64)
    y = torch.randn(4, SEQ, DIM, generator=gen, dtype=torch.float64)
    shared = MASK.expand(4, SEQ, DIM)
    together = gaussian_update(field, t, pred, y, shared)
    other = ~MASK
    mixed = torch.stack([MASK, MASK, other, other])
    alone = [gaussian_update(field, t, pred[i:i + 1], y[i:i + 1], m[None]) for i, m in enumerate(mixed)]
    assert torch.allclose(together[:2], torch.cat(alone[:2]), atol=1e-12)
    assert torch.allclose(gaussian_update(field, t, pred, y, mixed), torch.cat(alone), atol=1e-12)
    assert not torch.allclose(together[2:], torch.cat(alone[2:]))  # the masks matter
    assert torch.allclose(together[2:], torch.cat([gaussian_update(field, t, pred[i:i + 1], y[i:i + 1], MASK[None])
                                                   for i in (2, 3)]), atol=1e-12)


@pytest.mark.parametrize("t", [0.0, 0.1, 0.6])
def test_guidance_weight_floors_alpha_near_the_source(t, monkeypatch):
    # v = a x + b D − w ∇ₓ‖m ⊙ (D − y)‖² with w = b σ² / (2 max(α, alpha_floor) c_out²): finite at
    # t = 0, where 1/α would multiply any error of a learned D's Jacobian without bound (the norm cap
    # on the term is lifted here: test_guidance_term_is_capped_at_the_velocity_norm checks it)
    from kernelops.flows.config import SampleConfig
    from kernelops.flows.sample import conditional
    from kernelops.flows.sample.conditional import conditional_field

    alpha_floor = SampleConfig().alpha_floor

    monkeypatch.setattr(conditional, "GUIDANCE_MAX_RATIO", float("inf"))

    field = _gaussian_field(_correlated_cov())
    x = torch.randn(2, SEQ, DIM, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    y, m = Y.expand(2, SEQ, DIM), MASK.expand(2, SEQ, DIM)
    guided = conditional_field(field, field.path, y, m, x, method="guidance")(torch.tensor(t, dtype=torch.float64), x)
    alpha, sigma, a, b, _, c_out = (c[0] for c in field.coefficients(torch.tensor([t], dtype=torch.float64)))
    x_req = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(torch.where(m, field.denoise(t, x_req) - y, 0.0).square().sum(), x_req)
    weight = b * sigma**2 / (2 * max(float(alpha), alpha_floor) * c_out**2)
    assert torch.allclose(guided, a * x + b * field.denoise(t, x) - weight * grad, atol=1e-10)


def test_the_guidance_term_is_capped_relative_to_the_velocity_and_untouched_below_the_cap():
    g = torch.Generator().manual_seed(0)
    velocity = torch.randn(4, 5, 2, generator=g, dtype=torch.float64)
    grad = torch.randn(4, 5, 2, generator=g, dtype=torch.float64)
    small = torch.tensor([1e-3], dtype=torch.float64)
    assert torch.equal(bounded_guidance(velocity, grad, small), small * grad)
    for weight in (1e3, 1e300):
        term = bounded_guidance(velocity, grad, torch.tensor([weight], dtype=torch.float64))
        ratio = term.flatten(1).norm(dim=1) / velocity.flatten(1).norm(dim=1)
        assert torch.allclose(ratio, torch.full((4,), GUIDANCE_MAX_RATIO, dtype=torch.float64))
    assert torch.equal(bounded_guidance(velocity, torch.zeros_like(grad), torch.tensor([1e300])),
                       torch.zeros_like(grad))


@pytest.mark.parametrize("scale", [math.inf, -math.inf, math.nan, -1.0, True, "1"])
def test_scales_that_are_not_finite_and_non_negative_are_refused(scale):
    with pytest.raises(ValueError, match="guidance_scale: expected a finite number ≥ 0"):
        check_guidance_scale(scale)


def test_a_huge_guidance_scale_still_gives_finite_draws_near_the_observations():
    windows = make_sines(64, seq_len=8, features=2, seed=0).astype(np.float32)
    model = SpectralMeanFlow(seed=0, depth=1, width=16, skip="none", sample_steps=8)
    model.fit(windows, steps=20, batch_size=16, progress=False)
    observed = torch.from_numpy(windows[:4].copy())
    observed[:, ::2] = float("nan")
    for scale in (10.0, 1e3, 1e30):
        draws = model.sample(3, observed=observed, method="guidance", guidance_scale=scale, seed=0)
        assert bool(torch.isfinite(draws).all()), scale
        assert float(draws.abs().max()) < 10.0  # the data lie in [0, 1]
    with pytest.raises(ValueError, match="guidance_scale"):
        model.sample(3, observed=observed, method="guidance", guidance_scale=math.inf, seed=0)
