"""The field, the trainer and the sampler on CUDA agree with the CPU (float64). Skipped without a GPU.

Every random draw of training and sampling is made on CPU generators, so a run on CUDA takes
the same windows, times and noise as on the CPU and the results agree to rounding.
"""

from __future__ import annotations

import pytest
import torch

import kernelops as ko
from kernelops.flows import (
    FieldConfig,
    FlowMatchingObjective,
    SpectralMeanFlow,
    SpectralVelocityField,
    TrainConfig,
    Trainer,
)
from kernelops.flows.train.state import TrainGenerators

pytestmark = pytest.mark.cuda


def _data() -> torch.Tensor:
    return torch.rand(48, 6, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 2 - 1


def _field(device: str) -> SpectralVelocityField:
    field = SpectralVelocityField(ko.path("vp"), 3, 6, FieldConfig(depth=2, width=8), dtype=torch.float64, seed=2)
    field.fit_data(_data())
    return field.to(device)


def test_velocity_and_loss_gradient_match_the_cpu():
    x = _data()[:5]
    t = torch.linspace(0.1, 0.9, 5, dtype=torch.float64)
    results = {}
    for device in ("cpu", "cuda"):
        field = _field(device)
        v = field(t.to(device), x.to(device))
        loss = FlowMatchingObjective(field.path)(field, x.to(device), TrainGenerators(4), _data().to(device))
        grads = torch.autograd.grad(loss, list(field.parameters()), allow_unused=True)
        results[device] = (v.cpu(), loss.cpu(), [None if g is None else g.cpu() for g in grads])
    (v0, l0, g0), (v1, l1, g1) = results["cpu"], results["cuda"]
    torch.testing.assert_close(v1, v0, atol=1e-9, rtol=1e-9)
    torch.testing.assert_close(l1, l0, atol=1e-10, rtol=1e-9)
    for a, b in zip(g0, g1, strict=True):
        assert (a is None) == (b is None)
        if a is not None:
            torch.testing.assert_close(b, a, atol=1e-8, rtol=1e-7)


def test_trainer_on_cuda_follows_the_cpu_run():
    histories = {}
    for device in ("cpu", "cuda"):
        field = _field(device)
        config = TrainConfig(steps=4, batch_size=8, warmup=1)
        trainer = Trainer(field, FlowMatchingObjective(field.path, config.target), config, seed=3)
        trainer.fit(_data().to(device), progress=False)
        histories[device] = [h[1] for h in trainer.history]
    assert histories["cuda"] == pytest.approx(histories["cpu"], rel=1e-8, abs=1e-10)


def test_spectral_mean_flow_fits_and_samples_on_cuda(tmp_path):
    data = (_data() + 1) / 2
    model = SpectralMeanFlow(path="ot", depth=1, width=8, device="cuda", dtype=torch.float64)
    model.fit(data, steps=3, batch_size=8, progress=False, checkpoint=tmp_path / "m.pt")
    fake = model.sample(6, steps=2, seed=1)
    assert fake.device.type == "cuda" and fake.shape == (6, 6, 3) and torch.isfinite(fake).all()
    on_cpu = SpectralMeanFlow.load(tmp_path / "m.pt", map_location="cpu")
    torch.testing.assert_close(on_cpu.sample(6, steps=2, seed=1), fake.cpu(), atol=1e-9, rtol=1e-9)


def test_to_moves_the_ema_with_the_field():
    data = (_data() + 1) / 2
    model = SpectralMeanFlow(path="ot", depth=1, width=8, dtype=torch.float64)
    model.fit(data, steps=2, batch_size=8, progress=False)
    on_cpu = model.sample(4, steps=2, seed=1)
    model.to("cuda")
    assert {p.device.type for p in model.ema.module.parameters()} == {"cuda"}
    torch.testing.assert_close(model.sample(4, steps=2, seed=1).cpu(), on_cpu, atol=1e-9, rtol=1e-9)
