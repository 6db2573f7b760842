"""The window potential: an MLP witness on whole windows, still an exact gradient field."""

from __future__ import annotations

import pytest
import torch
from field_checks import assert_minus_gradient_of_potential, assert_velocity_loss_gradients_match_central_differences

import kernelops as ko
from kernelops.flows import FieldConfig, FlowMatchingObjective, SpectralMeanFlow, SpectralVelocityField
from kernelops.flows.config import POTENTIAL_SAMPLE_STEPS, POTENTIAL_SIZES
from kernelops.flows.train.state import TrainGenerators

F64 = torch.float64


def _field(skip="window", path="ot", N=4, d=2, randomise=True):
    cfg = FieldConfig(potential="window", depth=2, width=16, time_features=4, skip=skip)
    field = SpectralVelocityField(ko.path(path), d, N, cfg, seed=0, dtype=F64)
    g = torch.Generator().manual_seed(1)
    data = (0.3 * torch.randn(200, N * d, generator=g, dtype=F64) @ torch.randn(N * d, N * d, generator=g, dtype=F64) / 3
            + 0.2).reshape(200, N, d)
    field.fit_data(data)
    if randomise:  # the read-out starts at zero; give the learned part a size to check
        with torch.no_grad():
            field.potential_net.readout.weight.normal_(generator=g)
    return field, data


def test_sizes_default_to_the_potentials_own_and_unknown_potentials_are_named():
    assert (FieldConfig(potential="window").depth, FieldConfig(potential="window").width) == POTENTIAL_SIZES["window"]
    assert (FieldConfig().depth, FieldConfig().width) == POTENTIAL_SIZES["window"]  # the default potential
    assert (FieldConfig(potential="chain").depth, FieldConfig(potential="chain").width) == POTENTIAL_SIZES["chain"]
    assert FieldConfig(potential="window", width=32).width == 32
    with pytest.raises(ValueError, match="potential: expected one of"):
        FieldConfig(potential="transformer").validate()
    # and so do the sampler's default steps (the window field needs more near t = 1)
    assert SpectralMeanFlow(potential="window").sample_steps == POTENTIAL_SAMPLE_STEPS["window"] == 16
    assert SpectralMeanFlow().sample_steps == POTENTIAL_SAMPLE_STEPS["window"]
    assert SpectralMeanFlow(potential="chain").sample_steps == POTENTIAL_SAMPLE_STEPS["chain"] == 8
    assert SpectralMeanFlow(potential="window", sample_steps=3).sample_steps == 3


@pytest.mark.parametrize("skip", ["window", "none"])
@pytest.mark.parametrize("path", ["ot", "vp"])
def test_the_field_is_minus_the_gradient_of_its_potential_and_curl_free(skip, path):
    field, _ = _field(skip, path)
    x = torch.randn(2, 4, 2, dtype=F64)
    assert_minus_gradient_of_potential(field, x, (0.2, 0.7, 0.97))


def test_it_starts_as_the_skips_own_gaussian_field():
    field, data = _field(randomise=False)
    x = torch.randn(3, 4, 2, dtype=F64)
    t = torch.tensor([0.1, 0.5, 0.9], dtype=F64)
    assert field.learned(t, x).abs().max() == 0
    alpha, sigma = field.coefficients(t)[:2]
    torch.testing.assert_close(field.denoise(t, x), field.skip(x, alpha, sigma))
    field.fit_data(data)  # fits the skip and σ_d only: the learned part stays zero
    assert field.learned(t, x).abs().max() == 0


def test_double_backward_gives_the_parameter_gradient_of_a_velocity_loss():
    field, _ = _field()
    net = field.potential_net
    assert_velocity_loss_gradients_match_central_differences(
        field, (net.body[0].weight, net.body[2].bias, net.readout.weight), torch.tensor([0.3, 0.8], dtype=F64))


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
