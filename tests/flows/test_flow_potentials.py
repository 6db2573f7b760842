"""The window potential: an MLP witness on whole windows plus a local term shared by the steps, still an exact gradient field."""

from __future__ import annotations

import pytest
import torch
from field_checks import assert_minus_gradient_of_potential, assert_velocity_loss_gradients_match_central_differences

import kernelops as ko
from kernelops.features.spectral_mlp import sinusoidal_time_embedding
from kernelops.flows import FieldConfig, FlowMatchingObjective, SpectralMeanFlow, SpectralVelocityField
from kernelops.flows.config import LOCAL_CONTEXT, LOCAL_WIDTH, POTENTIAL_SAMPLE_STEPS, POTENTIAL_SIZES
from kernelops.flows.train.state import TrainGenerators

F64 = torch.float64


def _field(skip="window", path="ot", N=4, d=2, randomise=True, local_context=0):
    cfg = FieldConfig(potential="window", depth=2, width=16, time_features=4, skip=skip, local_context=local_context,
                      local_width=8)
    field = SpectralVelocityField(ko.path(path), d, N, cfg, seed=0, dtype=F64)
    g = torch.Generator().manual_seed(1)
    data = (0.3 * torch.randn(200, N * d, generator=g, dtype=F64) @ torch.randn(N * d, N * d, generator=g, dtype=F64) / 3
            + 0.2).reshape(200, N, d)
    field.fit_data(data)
    if randomise:  # the read-out starts at zero; give the learned part a size to check
        with torch.no_grad():
            field.potential_net.readout.weight.normal_(generator=g)
            if local_context:
                field.potential_net.local_readout.weight.normal_(generator=g)
    return field, data


def test_sizes_default_to_the_potentials_own_and_unknown_potentials_are_named():
    assert (FieldConfig(potential="window").depth, FieldConfig(potential="window").width) == POTENTIAL_SIZES["window"]
    assert (FieldConfig().depth, FieldConfig().width) == POTENTIAL_SIZES["window"]  # the default potential
    assert (FieldConfig(potential="chain").depth, FieldConfig(potential="chain").width) == POTENTIAL_SIZES["chain"]
    assert FieldConfig(potential="window", width=32).width == 32
    with pytest.raises(ValueError, match="potential: expected one of"):
        FieldConfig(potential="transformer").validate()
    # the sampler's default steps: 16 for both (each field curves near t = 1)
    assert SpectralMeanFlow(potential="window").sample_steps == POTENTIAL_SAMPLE_STEPS["window"] == 16
    assert SpectralMeanFlow().sample_steps == POTENTIAL_SAMPLE_STEPS["window"]
    assert SpectralMeanFlow(potential="chain").sample_steps == POTENTIAL_SAMPLE_STEPS["chain"] == 16
    assert SpectralMeanFlow(potential="window", sample_steps=3).sample_steps == 3


@pytest.mark.parametrize("local_context", [0, 1])
@pytest.mark.parametrize("skip", ["window", "none"])
@pytest.mark.parametrize("path", ["ot", "vp"])
def test_the_field_is_minus_the_gradient_of_its_potential_and_curl_free(skip, path, local_context):
    field, _ = _field(skip, path, local_context=local_context)
    x = torch.randn(2, 4, 2, dtype=F64)
    assert_minus_gradient_of_potential(field, x, (0.2, 0.7, 0.97))


def test_it_starts_as_the_skips_own_gaussian_field():
    field, data = _field(randomise=False, local_context=1)
    x = torch.randn(3, 4, 2, dtype=F64)
    t = torch.tensor([0.1, 0.5, 0.9], dtype=F64)
    assert field.learned(t, x).abs().max() == 0
    alpha, sigma = field.coefficients(t)[:2]
    torch.testing.assert_close(field.denoise(t, x), field.skip(x, alpha, sigma))
    field.fit_data(data)  # fits the skip and σ_d only: the learned part stays zero
    assert field.learned(t, x).abs().max() == 0


def test_double_backward_gives_the_parameter_gradient_of_a_velocity_loss():
    field, _ = _field(local_context=1)
    net = field.potential_net
    assert_velocity_loss_gradients_match_central_differences(
        field, (net.body[0].weight, net.body[2].bias, net.readout.weight, net.local[0].weight, net.local_readout.weight),
        torch.tensor([0.3, 0.8], dtype=F64))


def _local_reference(net, y, t, condition=None):
    """Σₙ uᵀχ(neighbourhood of n), each neighbourhood built by hand, the window's ends repeated."""
    parts = [y] if condition is None else [y, *condition]
    values = torch.cat(parts, dim=-1)
    gamma = sinusoidal_time_embedding(t, net.time_freqs)
    steps, k = y.shape[1], net.local_context
    total = torch.zeros(y.shape[0], dtype=y.dtype)
    for n in range(steps):
        near = torch.cat([values[:, min(max(n + j, 0), steps - 1)] for j in range(-k, k + 1)], dim=-1)
        total = total + net.local_readout(net.local(torch.cat([near, gamma], dim=-1))).squeeze(-1)
    return total


@pytest.mark.parametrize("conditional", [False, True])
def test_the_local_term_is_one_mlp_summed_over_every_steps_neighbourhood(conditional):
    """With the whole-window read-out at zero, f is the local term alone: it equals a sum built
    step by step, and moving one step of the window changes only the terms of the 2k + 1 steps
    that read it (a convolution over steps)."""
    from kernelops.flows.potentials import WindowPotential

    torch.manual_seed(0)
    net = WindowPotential(7, 2, depth=1, width=8, time_features=4, conditional=conditional, local_context=2,
                          local_width=6, dtype=F64)
    with torch.no_grad():
        net.local_readout.weight.normal_()
    g = torch.Generator().manual_seed(1)
    y, t = torch.randn(3, 7, 2, generator=g, dtype=F64), torch.tensor([0.1, 0.5, 0.9], dtype=F64)
    condition = None
    if conditional:
        m = (torch.rand(3, 7, 2, generator=g) < 0.5).double()
        condition = (m, m * torch.randn(3, 7, 2, generator=g, dtype=F64))
    torch.testing.assert_close(net(y, t, condition), _local_reference(net, y, t, condition))
    # moving step 0 changes the terms of steps 0, 1, 2 (within k = 2 of it) and no other
    moved = y.clone()
    moved[:, 0] += 1.0
    changed = (_local_terms(net, moved, t, condition) - _local_terms(net, y, t, condition)).abs().amax(0) > 0
    assert changed.tolist() == [True, True, True, False, False, False, False]


def _local_terms(net, y, t, condition=None):
    """uᵀχ(neighbourhood of n) of every step n, shape (batch, N)."""
    values = torch.cat([y] if condition is None else [y, *condition], dim=-1)
    return net.local_terms(values, sinusoidal_time_embedding(t, net.time_freqs))


def test_both_read_outs_scale_and_start_at_zero():
    field, _ = _field(local_context=1)
    net = field.potential_net
    y, t = torch.randn(2, 4, 2, dtype=F64), torch.tensor([0.3, 0.6], dtype=F64)
    before = net(y, t)
    field.scale_learned(0.25)
    torch.testing.assert_close(net(y, t), 0.25 * before)
    fresh, _ = _field(randomise=False, local_context=1)
    assert fresh.potential_net.local_readout.weight.abs().max() == 0


@pytest.mark.parametrize("setting, value", [("local_context", -1), ("local_context", 1.5), ("local_width", 0)])
def test_bad_local_settings_are_named(setting, value):
    with pytest.raises(ValueError, match=f"{setting}: expected an integer"):
        FieldConfig(**{setting: value}).validate()


def test_the_local_term_is_the_window_potentials_default_and_the_chain_has_none():
    assert FieldConfig().local_context == FieldConfig(potential="window").local_context == LOCAL_CONTEXT == 2
    assert FieldConfig(potential="chain").local_context == 0
    assert FieldConfig(potential="window", local_context=0).local_context == 0
    assert FieldConfig().local_width == LOCAL_WIDTH == 128 and FieldConfig(width=8).local_width == 8  # ≤ the MLP's
    with pytest.raises(ValueError, match="local_context: the chain potential has no local term"):
        FieldConfig(potential="chain", local_context=1).validate()
    field = SpectralVelocityField(ko.path("ot"), 2, 4, FieldConfig(depth=1, width=8, local_width=4))
    assert field.potential_net.local_context == 2 and field.potential_net.local[0].in_features == 5 * 2 + 16


def test_it_learns_what_the_gaussian_skip_cannot():
    """Two clusters at ±1: the Gaussian's posterior mean misses them; the learned part must not."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(3)
    signs = torch.randint(0, 2, (512, 1, 1), generator=g).double() * 2 - 1
    data = (signs + 0.05 * torch.randn(512, 3, 1, generator=g, dtype=F64)).expand(512, 3, 1).contiguous()
    field = SpectralVelocityField(ko.path("ot"), 1, 3, FieldConfig(potential="window", depth=2, width=64), dtype=F64)
    field.fit_data(data)
    objective = FlowMatchingObjective(field.path, "posterior")
    opt = torch.optim.Adam(field.parameters(), lr=3e-2)

    def mean_loss(generators_seed):
        gens = TrainGenerators(generators_seed)
        return sum(float(objective(field, data, gens, data, torch.arange(512)).detach()) for _ in range(4)) / 4

    gaussian = mean_loss(7)  # the read-out is zero: this is the skip's own loss
    gens = TrainGenerators(0)
    for _ in range(150):
        idx = torch.randint(512, (64,), generator=gens.batch)
        loss = objective(field, data[idx], gens, data, idx)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert mean_loss(7) < 0.5 * gaussian


def test_the_facade_keeps_the_potential_and_refuses_other_lengths(tmp_path):
    from kernelops.data import make_sines

    model = SpectralMeanFlow(potential="window", width=32, depth=1)
    model.fit(make_sines(64, seed=0), steps=2, batch_size=8, progress=False)
    model.save(tmp_path / "w.pt")
    loaded = SpectralMeanFlow.load(tmp_path / "w.pt")
    assert loaded.field_config.potential == "window" and loaded.field_config.width == 32
    torch.testing.assert_close(loaded.sample(3, seed=1), model.sample(3, seed=1))
    with pytest.raises(ValueError, match="window potential"):
        model.sample(2, seq_len=12)
