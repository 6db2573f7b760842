"""A model trained on one window length samples others: with skip "channel" or "none", not "window".

The channel skip is a per-feature Gaussian with no window shape, and the chain potential is
defined for any N, so the field is a function of windows of any length; the window skip is a
Gaussian over whole training windows and is refused at other lengths with a message.
"""

from __future__ import annotations

import pytest
import torch

from kernelops.flows import SpectralMeanFlow

F64 = torch.float64


def _data(n: int = 400, N: int = 6) -> torch.Tensor:
    """Windows in [0, 1] whose two features have different means and spreads."""
    g = torch.Generator().manual_seed(0)
    mean, spread = torch.tensor([0.3, 0.6], dtype=F64), torch.tensor([0.05, 0.15], dtype=F64)
    return (mean + spread * torch.randn(n, N, 2, generator=g, dtype=F64)).clamp(0, 1)


def _trained(skip: str) -> SpectralMeanFlow:
    model = SpectralMeanFlow(path="ot", potential="chain", depth=1, width=4, time_features=2, dtype=F64, skip=skip)
    return model.fit(_data(), steps=2, batch_size=16, warmup=0, progress=False)


@pytest.mark.parametrize("length", [20, 64])
def test_channel_skip_samples_other_lengths_with_the_training_marginals(length):
    model = _trained("channel")
    for field in (model.field, model.ema.module):  # learned part off: the flow is the skip's exact transport
        field.scale_learned(0.0)
    fake = model.sample(3000 // length + 200, steps=8, solver="rk4", seq_len=length, seed=1)
    assert fake.shape[1:] == (length, 2) and torch.isfinite(fake).all()
    data = _data().reshape(-1, 2)
    per_step = fake.reshape(-1, 2)
    torch.testing.assert_close(per_step.mean(0), data.mean(0), atol=0.01, rtol=0)
    torch.testing.assert_close(per_step.std(0), data.std(0), atol=0.01, rtol=0.05)
    # every step of the longer window has those marginals, not just the first six
    torch.testing.assert_close(fake[:, -1].mean(0), data.mean(0), atol=0.03, rtol=0)


def test_trained_models_sample_other_lengths_or_refuse_by_name():
    for skip in ("channel", "none"):
        fake = _trained(skip).sample(8, steps=2, seq_len=33, seed=0)
        assert fake.shape == (8, 33, 2) and torch.isfinite(fake).all()
    window = _trained("window")
    assert window.sample(4, steps=2, seed=0).shape == (4, 6, 2)
    with pytest.raises(ValueError, match=r"fit to windows of 6 steps, got seq_len=33.*skip='channel' or 'none'"):
        window.sample(4, steps=2, seq_len=33)
