"""Trainer and TrainConfig: settings checked by name, stop signals, non-finite losses."""

from __future__ import annotations

import os
import signal

import pytest
import torch

import kernelops as ko
from kernelops.flows import FieldConfig, FlowMatchingObjective, SpectralVelocityField, TrainConfig, Trainer
from kernelops.flows.train.loop import TrainingInterrupted


def _trainer(steps=5, **cfg):
    field = SpectralVelocityField(ko.path("ot"), 2, 3, FieldConfig(potential="chain", depth=1, width=4, time_features=2),
                                  dtype=torch.float64)
    data = torch.rand(32, 3, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) - 0.5
    field.fit_data(data)
    config = TrainConfig(steps=steps, batch_size=8, warmup=0, **cfg)
    return Trainer(field, FlowMatchingObjective(field.path, config.target), config, seed=0), data


def test_a_non_finite_loss_stops_before_the_step_and_keeps_the_weights():
    trainer, data = _trainer(steps=6)
    calls = []
    good = trainer.objective

    def poisoned(field, x1, *rest):
        loss = good(field, x1, *rest)
        return loss * float("nan") if trainer.step == 3 else loss

    trainer.objective = poisoned
    with pytest.raises(FloatingPointError, match="step 4"):
        trainer.fit(data, checkpoint=lambda: calls.append(trainer.step), progress=False)
    assert trainer.step == 3 and calls == []  # no checkpoint of a non-finite state
    assert all(torch.isfinite(p).all() for p in trainer.field.parameters())
    assert all(torch.isfinite(p).all() for p in trainer.ema.module.parameters())


@pytest.mark.skipif(not hasattr(signal, "SIGTERM"), reason="no SIGTERM on this platform")
def test_sigterm_checkpoints_and_stops_between_steps():
    trainer, data = _trainer(steps=50)
    saved = []

    def callback(step, loss, lr):
        if step == 2:
            os.kill(os.getpid(), signal.SIGTERM)

    with pytest.raises(TrainingInterrupted, match="SIGTERM at step 2") as info:
        trainer.fit(data, checkpoint=lambda: saved.append(trainer.step), progress=False, callback=callback)
    assert info.value.signal_name == "SIGTERM" and saved == [2]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler is removed again


def test_state_dict_resumes_the_same_loss_sequence():
    full, data = _trainer(steps=6)
    full.fit(data, progress=False)
    half, _ = _trainer(steps=6)

    def stop_at_3(step, loss, lr):
        if step == 3:
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(TrainingInterrupted):
        half.fit(data, progress=False, callback=stop_at_3)
    resumed, _ = _trainer(steps=1)
    resumed.field.load_state_dict(half.field.state_dict())
    resumed.load_state_dict(half.state_dict())
    assert resumed.step == 3 and resumed.config.steps == 6
    resumed.fit(data, progress=False)
    assert [h[1] for h in resumed.history] == [h[1] for h in full.history[3:]]
