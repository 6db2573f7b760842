"""MMDFlow (classical fixed-kernel flow) and the training-loop pieces (EMA, schedule, groups)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from kernelops.errors import ShapeError
from kernelops.flows import MMDFlow
from kernelops.flows.training import EMA, TrainGenerators, WarmupCosine, param_groups


def _gauss(n, shift, seed, d=2):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) + shift


def test_velocity_is_the_closed_form_rbf_witness_gradient():
    target = _gauss(30, 2.0, 0)
    flow = MMDFlow(bandwidth=1.3).fit(target)
    x = _gauss(20, 0.0, 1)
    v = flow.velocity(x)

    def grad_mean_k(points):  # ∇ₓ mean_j k(x, p_j), k = exp(−‖x − p‖²/(2ℓ²))
        diff = x[:, None, :] - points[None, :, :]
        k = torch.exp(-(diff**2).sum(-1) / (2 * 1.3**2))
        return (-(diff / 1.3**2) * k[..., None]).mean(1)

    torch.testing.assert_close(v, -(grad_mean_k(x) - grad_mean_k(target)))


def test_transport_reduces_mmd_to_a_shifted_gaussian_by_a_large_factor():
    target = _gauss(200, torch.tensor([3.0, -2.0], dtype=torch.float64), 0)
    source = _gauss(200, 0.0, 1)
    flow = MMDFlow(step_size=2.0).fit(target)
    result = flow.transport(source, steps=300, return_trajectory=True)
    x, mmd, traj = result
    assert mmd.shape == (301,) and traj.shape == (301, 200, 2)
    torch.testing.assert_close(traj[0], source)
    torch.testing.assert_close(traj[-1], x)
    torch.testing.assert_close(mmd[0], flow.mmd(source))
    assert float(mmd[-1]) < float(mmd[0]) / 10
    assert (x.mean(0) - target.mean(0)).abs().max() < 0.2


def test_noise_injection_and_trailing_shapes():
    target = _gauss(60, 2.0, 0, d=6).reshape(60, 3, 2)
    flow = MMDFlow(noise=0.1, step_size=2.0, seed=3).fit(target)
    out = flow.transport(_gauss(40, 0.0, 1, d=6).reshape(40, 3, 2), steps=50, record_mmd=True)
    assert out.x.shape == (40, 3, 2) and out.trajectory is None
    assert float(out.mmd[-1]) < float(out.mmd[0]) / 2
    again = MMDFlow(noise=0.1, step_size=2.0, seed=3).fit(target).transport(_gauss(40, 0.0, 1, d=6).reshape(40, 3, 2), steps=50)
    torch.testing.assert_close(again.x, out.x)  # seeded noise: reproducible


def test_mmd_flow_errors():
    with pytest.raises(ValueError, match="kernel"):
        MMDFlow(kernel="poly")
    with pytest.raises(ValueError, match="step_size"):
        MMDFlow(step_size=0)
    flow = MMDFlow().fit(_gauss(5, 0.0, 0))
    with pytest.raises(ShapeError, match="x0"):
        flow.transport(torch.zeros(4, 3, dtype=torch.float64))
    with pytest.raises(RuntimeError, match="fit"):
        MMDFlow().velocity(torch.zeros(3, 2))


# -- training pieces -----------------------------------------------------------------------------

def test_warmup_cosine_known_values():
    sched = WarmupCosine(1.0, total=110, warmup=10, final_ratio=0.1)
    assert sched(0) == pytest.approx(0.1) and sched(9) == pytest.approx(1.0)
    assert sched(10) == pytest.approx(1.0)
    assert sched(60) == pytest.approx(0.1 + 0.9 * 0.5)  # half way through the cosine
    assert sched(110) == pytest.approx(0.1) and sched(500) == pytest.approx(0.1)
    assert WarmupCosine.from_state_dict(sched.state_dict())(37) == sched(37)


def test_ema_update_formula_and_state():
    lin = nn.Linear(2, 1)
    with torch.no_grad():
        lin.weight.fill_(0.0)
    ema = EMA(lin, decay=0.5)
    with torch.no_grad():
        lin.weight.fill_(1.0)
    ema.update(lin)  # decay warm-up: min(0.5, 1/10) = 0.1 -> 0.9 of the new value
    torch.testing.assert_close(ema.module.weight, torch.full((1, 2), 0.9))
    ema.update(lin)  # min(0.5, 2/11): 0.9 + (1 − 0.9)(1 − 2/11)
    torch.testing.assert_close(ema.module.weight, torch.full((1, 2), 0.9 + 0.1 * (1 - 2 / 11)))
    clone = EMA(nn.Linear(2, 1), decay=0.9)
    clone.load_state_dict(ema.state_dict())
    assert clone.updates == 2 and clone.decay == 0.5
    assert not any(p.requires_grad for p in ema.module.parameters())


def test_generators_state_round_trip():
    gens = TrainGenerators(7)
    state = gens.state_dict()
    first = [torch.rand(3, generator=getattr(gens, n)) for n in TrainGenerators.NAMES]
    other = TrainGenerators(0)
    other.load_state_dict(state)
    again = [torch.rand(3, generator=getattr(other, n)) for n in TrainGenerators.NAMES]
    for a, b in zip(first, again):
        assert torch.equal(a, b)
    assert not torch.equal(first[0], first[1])  # independent streams


def test_param_groups_exclude_spectral_parameters_from_decay():
    import kernelops as ko
    from kernelops.flows import FieldConfig, SpectralVelocityField

    field = SpectralVelocityField(ko.path("ot"), 2, 3, FieldConfig(potential="chain", depth=1, width=4))
    net = field.potential_net
    decay, no_decay = param_groups(field, 0.01)
    ids = {id(p) for p in no_decay["params"]}
    for p in (net.heads_s.nu, net.heads_o.theta, net.features.q_embed, net.features.input.bias):
        assert id(p) in ids
    assert id(net.heads_o.L) in {id(p) for p in decay["params"]} and decay["weight_decay"] == 0.01
    assert math.isclose(no_decay["weight_decay"], 0.0)
