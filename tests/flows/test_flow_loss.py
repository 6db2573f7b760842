"""FlowMatchingObjective: the λ-weighted denoising form of flow matching, its targets, masks and reference set."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from field_checks import DIM, MASK, SEQ, gaussian_masked_field, randomize_chain_end, tiny_data, tiny_model

import kernelops as ko
from kernelops.data import make_sines
from kernelops.flows import FieldConfig, FlowMatchingObjective, SpectralVelocityField
from kernelops.flows.train.state import TrainGenerators

_tiny, _data = tiny_model, tiny_data


def _with_holes(num: int, fraction: float, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    full = torch.from_numpy(make_sines(num, seq_len=6, features=2, seed=seed)).double() * 2 - 1
    holes = torch.from_numpy(np.random.default_rng(seed).random(full.shape) < fraction)
    return full.masked_fill(holes, float("nan")), full


@pytest.mark.parametrize("target", ["conditional", "posterior"])
def test_loss_is_the_weighted_denoising_form_of_flow_matching(target):
    """loss = mean λ(t)‖D(x_t) − x̂₁‖² with t, x0 drawn in that order; as a velocity loss it is
    ‖v − u‖² weighted by λ(t)/b_t² (v − u = b_t(D − x₁) on an affine path)."""
    model = _tiny("vp").fit(_data(), steps=0, target=target, progress=False)
    randomize_chain_end(model.field.potential_net)
    x1 = model.to_model(_data(5))
    g = torch.Generator().manual_seed(3)
    gens = TrainGenerators(0)
    gens.time = gens.noise = g
    loss = FlowMatchingObjective(model.path, target)(model.field, x1, gens)
    g = torch.Generator().manual_seed(3)
    t = model.path.sample_t(5, generator=g, dtype=torch.float64)
    x0 = model.path.sample_source((5, 3, 2), generator=g, dtype=torch.float64)
    ps = model.path.sample(x0, x1, t)
    u = ps.u_t if target == "conditional" else model.path.posterior_velocity(ps.x_t, t, x1)
    b = model.field.coefficients(t)[3]
    with torch.no_grad():
        v = model.velocity(ps.x_t, t)
    weight = model.field.loss_weight(t) / b.square()
    torch.testing.assert_close(loss.detach(), (weight[:, None, None] * (v - u).square()).mean())
    loss.backward()  # differentiable in the parameters through the input gradient
    assert model.field.potential_net.heads_s.L.grad.abs().max() > 0


def test_posterior_target_loss_is_the_conditional_loss_less_the_target_variance():
    """Same model, same t and noise: E λ‖D − x₁‖² = E λ‖D − x̂₁‖² + E λ‖x₁ − x̂₁‖² up to the cross
    term, which vanishes in expectation; on 4096 draws it is small next to both."""
    model = _tiny("ot").fit(_data(64), steps=0, progress=False)
    reference = model.to_model(_data(64))  # the training set the windows are drawn from
    x1 = reference[torch.randint(64, (4096,), generator=torch.Generator().manual_seed(6))]

    def loss(target):
        gens = TrainGenerators(0)
        gens.time, gens.noise = torch.Generator().manual_seed(7), torch.Generator().manual_seed(8)
        with torch.no_grad():
            return FlowMatchingObjective(model.path, target)(model.field, x1, gens, reference)

    cond, post = loss("conditional"), loss("posterior")
    t = model.path.sample_t(4096, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    x0 = model.path.sample_source(tuple(x1.shape), generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    x_t = model.path.sample(x0, x1, t).x_t
    gap = model.field.loss_weight(t)[:, None, None] * (x1 - model.path.posterior_mean(x_t, t, reference)).square()
    assert post < cond
    torch.testing.assert_close(cond, post + gap.mean(), rtol=0.03, atol=0.0)


def test_a_large_data_set_uses_a_reference_subset_that_contains_the_batch():
    objective = FlowMatchingObjective(ko.path("ot"), "posterior", max_reference=10)
    x = torch.arange(40 * 6, dtype=torch.float64).reshape(40, 3, 2)
    idx = torch.tensor([3, 17, 39])
    ref = objective.reference(x, idx, torch.Generator().manual_seed(0))
    assert ref.shape == (13, 3, 2)
    torch.testing.assert_close(ref[-3:], x[idx])
    assert objective.reference(x[:10], idx[:1], torch.Generator()).shape == (10, 3, 2)


@pytest.mark.parametrize("target", ["posterior", "conditional"])
def test_masked_loss_equals_unmasked_loss_when_nothing_is_missing(target):
    _, full = _with_holes(32, 0.0)
    path = ko.path("ot")
    field = SpectralVelocityField(path, 2, 6, FieldConfig(depth=1, width=8), dtype=torch.float64)
    field.fit_data(full)
    objective = FlowMatchingObjective(path, target)
    plain = objective(field, full, TrainGenerators(3))
    masked = objective(field, full, TrainGenerators(3), mask=torch.ones_like(full, dtype=torch.bool))
    assert torch.allclose(plain, masked, rtol=1e-12)
    half = objective(field, full, TrainGenerators(3), mask=torch.rand(full.shape) < 0.5)
    assert not torch.allclose(plain, half)  # the mask does select entries


def test_objective_refuses_nan_without_a_mask():
    x, _ = _with_holes(8, 0.3)
    path = ko.path("ot")
    field = SpectralVelocityField(path, 2, 6, FieldConfig(depth=1, width=8), dtype=torch.float64)
    with pytest.raises(ValueError, match="NaN"):
        FlowMatchingObjective(path, "conditional")(field, x)


def test_the_loss_is_taken_on_the_entries_that_are_not_given(monkeypatch):
    field = gaussian_masked_field(width=8)
    with torch.no_grad():
        field.potential_net.readout.weight.normal_(generator=torch.Generator().manual_seed(2))
    objective = FlowMatchingObjective(field.path, target="conditional")
    x1 = torch.randn(6, SEQ, DIM, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    given = MASK.expand(6, SEQ, DIM)
    import kernelops.flows.loss as loss_module

    monkeypatch.setattr(loss_module, "draw_condition_masks", lambda batch, seq, dim, generator, device, patterns: given)
    torch.manual_seed(0)
    loss = objective(field, x1)
    torch.manual_seed(0)
    t = field.path.sample_t(6, dtype=x1.dtype)
    x0 = field.path.sample_source(tuple(x1.shape), dtype=x1.dtype)
    x_t = field.path.sample(x0, x1, t).x_t
    prediction, weight = field.denoise_with_weight(t, x_t, observed=x1, mask=given)
    error = weight[:, None, None] * (prediction - x1).square()
    assert torch.allclose(loss, error[~given].mean(), rtol=1e-10)
    # the data's own gaps are neither given nor scored
    gaps = torch.ones_like(given)
    gaps[:, 0, 1] = False
    torch.manual_seed(0)
    with_gaps = objective(field, x1, mask=gaps)
    assert torch.allclose(with_gaps, error[~given & gaps].mean(), rtol=1e-10)
    (grad,) = torch.autograd.grad(with_gaps, field.potential_net.readout.weight)
    assert bool(torch.isfinite(grad).all()) and float(grad.abs().sum()) > 0


def test_the_posterior_target_is_the_window_itself_where_anything_is_given(monkeypatch):
    field = gaussian_masked_field(width=8)
    x1 = torch.randn(6, SEQ, DIM, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    given = torch.stack([MASK] * 3 + [torch.zeros_like(MASK)] * 3)  # three windows with nothing given
    import kernelops.flows.loss as loss_module

    monkeypatch.setattr(loss_module, "draw_condition_masks", lambda batch, seq, dim, generator, device, patterns: given)
    torch.manual_seed(0)
    loss = FlowMatchingObjective(field.path, target="posterior")(field, x1)
    torch.manual_seed(0)
    t = field.path.sample_t(6, dtype=x1.dtype)
    x_t = field.path.sample(field.path.sample_source(tuple(x1.shape), dtype=x1.dtype), x1, t).x_t
    clean = torch.cat([x1[:3], field.path.posterior_mean(x_t, t, x1)[3:]])
    prediction, weight = field.denoise_with_weight(t, x_t, observed=x1, mask=given)
    assert torch.equal(weight[3:], field.loss_weight(t)[3:])  # nothing given: the unconditional weight
    error = weight[:, None, None] * (prediction - clean).square()
    assert torch.allclose(loss, error[~given].mean(), rtol=1e-10)
    assert not torch.allclose(clean[3:], x1[3:])  # the unconditioned rows do regress on the posterior mean
