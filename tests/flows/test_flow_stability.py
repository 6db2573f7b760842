"""The eigenvalue (stability) regulariser: closed forms, gradients, and its path through objective and trainer."""

from __future__ import annotations

import math

import pytest
import torch

import kernelops as ko
from kernelops.flows import FieldConfig, FlowMatchingObjective, SpectralMeanFlow, SpectralVelocityField, TrainConfig
from kernelops.flows.heads import SpectralHeads
from kernelops.flows.stability import chain_eigenvalues, eigenvalue_penalty
from kernelops.flows.train.state import TrainGenerators

F64 = torch.float64
KNOWN = torch.tensor([0.5, 1.5j, -2.0, 1.0], dtype=torch.complex128)  # moduli 0.5, 1.5, 2, 1


@pytest.mark.parametrize("radius, expected", [
    (1.0, (0.25 + 0.25 + 1.0 + 0.0) / 4),
    (2.0, (2.25 + 0.25 + 0.0 + 1.0) / 4),
])
def test_penalty_closed_form_on_known_eigenvalues(radius, expected):
    assert eigenvalue_penalty(KNOWN, radius).item() == pytest.approx(expected, abs=1e-15)


def test_penalty_refuses_bad_arguments():
    with pytest.raises(ValueError, match="radius: expected a positive"):
        eigenvalue_penalty(KNOWN, radius=0.0)
    with pytest.raises(ValueError, match="eigvals: expected a non-empty"):
        eigenvalue_penalty(torch.zeros(0))


def test_heads_are_inside_the_unit_disc_and_the_penalty_has_its_closed_form():
    heads = SpectralHeads(2, 4, 3, dtype=F64, generator=torch.Generator().manual_seed(0))
    assert (heads.eigvals().abs() < 1).all()
    moduli = torch.exp(-torch.exp(heads.nu.detach()))  # |λ| = exp(−exp(ν))
    expected = (moduli - 1).square().mean()
    assert eigenvalue_penalty(heads.eigvals()).item() == pytest.approx(expected.item(), rel=1e-12)


def test_penalty_gradient_in_nu_matches_central_differences():
    heads = SpectralHeads(1, 2, 3, dtype=F64, generator=torch.Generator().manual_seed(1))
    nu = heads.nu.detach().clone().requires_grad_(True)

    def penalty(v: torch.Tensor) -> torch.Tensor:
        lam = torch.exp(torch.complex(-torch.exp(v), heads.theta.detach()))
        return eigenvalue_penalty(lam)

    assert torch.autograd.gradcheck(penalty, (nu,), eps=1e-6, atol=1e-9)


def _field(potential: str = "chain") -> SpectralVelocityField:
    field = SpectralVelocityField(ko.path("ot"), 2, 5, FieldConfig(potential=potential, depth=1, width=8),
                                  dtype=F64, seed=3)
    field.fit_data(torch.randn(32, 5, 2, dtype=F64))
    return field


def _loss(objective: FlowMatchingObjective, field: SpectralVelocityField, x: torch.Tensor) -> torch.Tensor:
    return objective(field, x, TrainGenerators(7), x, torch.arange(len(x)))


def test_objective_adds_exactly_weight_times_penalty_of_both_chains():
    field, path = _field(), ko.path("ot")
    x = torch.randn(6, 5, 2, dtype=F64)
    plain = _loss(FlowMatchingObjective(path), field, x)
    regularised = _loss(FlowMatchingObjective(path, stability_weight=2.5), field, x)
    pot = field.potential_net
    lam = torch.cat([pot.heads_s.eigvals().flatten(), pot.heads_o.eigvals().flatten()])
    assert chain_eigenvalues(field).shape == (2 * pot.heads_s.rank,)
    expected = 2.5 * (lam.abs() - 1).square().mean()
    assert (regularised - plain).item() == pytest.approx(expected.item(), rel=1e-10)


def test_regularised_loss_gradient_matches_central_differences():
    field, path = _field(), ko.path("ot")
    x = torch.randn(4, 5, 2, dtype=F64)
    objective = FlowMatchingObjective(path, stability_weight=1.0)
    params = [field.potential_net.heads_s.nu, field.potential_net.heads_o.nu]
    field.zero_grad()
    _loss(objective, field, x).backward()
    for p in params:
        analytic = p.grad[0, 1].item()
        eps = 1e-6
        with torch.no_grad():
            p[0, 1] += eps
        up = _loss(objective, field, x).item()
        with torch.no_grad():
            p[0, 1] -= 2 * eps
        down = _loss(objective, field, x).item()
        with torch.no_grad():
            p[0, 1] += eps
        assert analytic != 0 and math.isclose(analytic, (up - down) / (2 * eps), rel_tol=1e-5, abs_tol=1e-10)


def test_window_potential_has_no_eigenvalues_to_regularise():
    field, path = _field("window"), ko.path("ot")
    x = torch.randn(4, 5, 2, dtype=F64)
    assert _loss(FlowMatchingObjective(path, stability_weight=0.0), field, x).isfinite()
    with pytest.raises(ValueError, match="potential='chain'"):
        _loss(FlowMatchingObjective(path, stability_weight=1.0), field, x)
    model = SpectralMeanFlow(potential="window", depth=1, width=8)
    with pytest.raises(ValueError, match="stability_weight: expected 0 with potential='window'"):
        model.fit(torch.rand(8, 5, 2), config=TrainConfig(steps=1, stability_weight=1.0), progress=False)


def test_config_validates_and_round_trips_the_regulariser_settings():
    with pytest.raises(ValueError, match="stability_weight"):
        TrainConfig(stability_weight=-1.0).validate()
    with pytest.raises(ValueError, match="stability_weight"):
        FlowMatchingObjective(ko.path("ot"), stability_weight=float("nan"))
    cfg = TrainConfig(stability_weight=0.5)
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    assert TrainConfig.from_dict({k: v for k, v in cfg.to_dict().items() if not k.startswith("stab")}).stability_weight == 0


@pytest.mark.slow
def test_training_with_the_regulariser_pulls_the_moduli_towards_one():
    data = torch.rand(64, 5, 2)
    moduli = {}
    for weight in (0.0, 50.0):
        model = SpectralMeanFlow(potential="chain", depth=1, width=8, seed=0)
        model.fit(data, config=TrainConfig(steps=30, batch_size=16, warmup=0, lr=2e-2, stability_weight=weight),
                  progress=False)
        moduli[weight] = chain_eigenvalues(model.field).abs().mean().item()
    start = chain_eigenvalues(SpectralMeanFlow(potential="chain", depth=1, width=8, seed=0, in_dim=2, seq_len=5)
                              .field).abs().mean().item()
    # the chain starts with |λ| near 1 (0.9…0.995): the regulariser closes a good part of the rest of the gap
    gap = {weight: 1.0 - value for weight, value in moduli.items()}
    assert gap[50.0] < 0.85 * (1.0 - start) and gap[50.0] < 0.85 * gap[0.0]
