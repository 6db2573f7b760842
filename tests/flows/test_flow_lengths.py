"""A model trained on one window length samples others: with skip "stationary", "channel" or "none",
not "window".

The channel skip is a per-feature Gaussian with no window shape, the stationary skip a per-feature
Gaussian process defined at every length, and the chain potential is defined for any N, so the field
is a function of windows of any length; the window skip is a Gaussian over whole training windows
and is refused at other lengths with a message.
"""

from __future__ import annotations

import warnings

import pytest
import torch

from kernelops.errors import KernelopsWarning
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


def test_stationary_skip_samples_longer_windows_with_the_fitted_process_correlations():
    g = torch.Generator().manual_seed(4)
    x = torch.empty(600, 6, 1, dtype=F64)  # AR(1) windows, φ = 0.8, in [0, 1]
    x[:, 0] = torch.randn(600, 1, generator=g, dtype=F64) / 0.6
    for n in range(1, 6):
        x[:, n] = 0.8 * x[:, n - 1] + torch.randn(600, 1, generator=g, dtype=F64)
    model = SpectralMeanFlow(path="ot", potential="chain", depth=1, width=4, time_features=2, dtype=F64,
                             skip="stationary")
    model.fit((0.5 + 0.05 * x).clamp(0, 1), steps=1, batch_size=16, warmup=0, progress=False)
    for field in (model.field, model.ema.module):  # learned part off: the flow is the skip's exact transport
        field.scale_learned(0.0)
    with pytest.warns(KernelopsWarning, match="grows"):
        fake = 2 * model.sample(3000, steps=8, solver="rk4", seq_len=40, seed=1)[..., 0] - 1  # model coordinates
    gamma = model.field.skip.autocovariance_at(40)[:, 0]
    centred = fake - fake.mean(0)
    for lag in (0, 1, 5):  # at the far end of the window, well beyond the 6 training steps
        measured = (centred[:, 30] * centred[:, 30 + lag]).mean()
        assert float(measured) == pytest.approx(float(gamma[lag]), rel=0.1, abs=0.02 * float(gamma[0]))
    assert float(gamma[1] / gamma[0]) == pytest.approx(0.8, abs=0.05)  # the steps are correlated, not white


def test_trained_models_sample_other_lengths_or_refuse_by_name():
    for skip in ("channel", "stationary", "none"):
        model = _trained(skip)
        with pytest.warns(KernelopsWarning, match=r"33 steps from a chain trained on 6-step windows.*grows"):
            fake = model.sample(8, steps=2, seq_len=33, seed=0)
        assert fake.shape == (8, 33, 2) and torch.isfinite(fake).all()
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # shorter windows than the training ones: no warning
            model.sample(2, steps=2, seq_len=4, seed=0)
    window = _trained("window")
    assert window.sample(4, steps=2, seed=0).shape == (4, 6, 2)
    with pytest.raises(ValueError, match=r"fit to windows of 6 steps, got seq_len=33.*skip='stationary', 'channel' or 'none'"):
        window.sample(4, steps=2, seq_len=33)


def test_the_cli_samples_another_length_from_a_run(tmp_path, capsys):
    """``kernelops sample RUN --seq-len 96`` on a run trained on 6-step windows (chain potential)."""
    import numpy as np

    from kernelops.cli.main import main as cli

    model = _trained("channel")
    assert model.field_config.potential == "chain" and model.seq_len == 6
    (tmp_path / "run").mkdir()
    model.save(tmp_path / "run" / "checkpoint.pt")
    args = ["sample", str(tmp_path / "run"), "--num", "12", "--seq-len", "96", "--steps", "2", "--seed", "2",
            "--device", "cpu", "--out", str(tmp_path / "long.npy")]
    assert cli(args) == 0
    fake = np.load(tmp_path / "long.npy")
    assert fake.shape == (12, 96, 2) and np.isfinite(fake).all()
    # the CLI's windows are the Python draw with that seed (whose marginals the test above checks)
    np.testing.assert_allclose(fake, model.sample(12, steps=2, seq_len=96, seed=2).numpy(), atol=1e-6, rtol=0)
    assert fake[:, 6:].std() > 0.01  # the steps beyond the training length vary too
    # a window-skip run refuses the other length with a one-line error naming both lengths
    window = _trained("window")
    window.save(tmp_path / "window.pt")
    capsys.readouterr()
    assert cli(["sample", str(tmp_path / "window.pt"), "--num", "2", "--seq-len", "96", "--device", "cpu",
                "--out", str(tmp_path / "w.npy")]) != 0
    err = capsys.readouterr().err
    assert "6 steps" in err and "seq_len=96" in err and "Traceback" not in err
    assert not (tmp_path / "w.npy").exists()
