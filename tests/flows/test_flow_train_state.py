"""The training state: warm-up + cosine schedule, EMA (and that it moves with the model), random streams, AdamW groups."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from kernelops.flows.train.state import EMA, TrainGenerators, WarmupCosine, param_groups


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
