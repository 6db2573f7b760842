"""Training on windows with missing entries: NaN-aware skip moments, the fill, the masked loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import kernelops as ko
from kernelops.data import make_sines
from kernelops.flows import FieldConfig, FlowMatchingObjective, SpectralMeanFlow, SpectralVelocityField
from kernelops.flows.gappy_moments import gappy_moments
from kernelops.flows.missing import fill_missing, observed_mask
from kernelops.flows.skip import ChannelGaussian, WindowGaussian
from kernelops.flows.training import TrainGenerators


def _with_holes(num: int, fraction: float, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    full = torch.from_numpy(make_sines(num, seq_len=6, features=2, seed=seed)).double() * 2 - 1
    holes = torch.from_numpy(np.random.default_rng(seed).random(full.shape) < fraction)
    return full.masked_fill(holes, float("nan")), full


def test_window_gaussian_takes_the_em_moments_of_the_observed_entries():
    x, _ = _with_holes(80, 0.3)
    skip = WindowGaussian(6, 2, torch.float64).fit(x)
    moments = gappy_moments(x.reshape(80, -1))
    fitted = (skip.eigvecs * skip.eigvals) @ skip.eigvecs.T
    assert torch.allclose(skip.mean, moments.mean)
    lam, q = torch.linalg.eigh(moments.covariance)  # positive semi-definite: the floor only lifts tiny eigenvalues
    assert float(lam.min()) > -1e-12
    assert torch.allclose(fitted, (q * lam.clamp_min(1e-6)) @ q.T, atol=1e-10)


def test_window_gaussian_without_nan_is_the_sample_covariance():
    _, full = _with_holes(50, 0.0)
    skip = WindowGaussian(6, 2, torch.float64).fit(full)
    fitted = (skip.eigvecs * skip.eigvals) @ skip.eigvecs.T
    expected = np.cov(full.reshape(50, -1).numpy(), rowvar=False)
    lam, q = np.linalg.eigh(expected)
    expected = (q * np.maximum(lam, 1e-6)) @ q.T
    assert np.allclose(fitted.numpy(), expected, atol=1e-10)


def test_channel_gaussian_ignores_nan():
    x, _ = _with_holes(40, 0.5)
    skip = ChannelGaussian(2, torch.float64).fit(x)
    flat = x.reshape(-1, 2).numpy()
    assert np.allclose(skip.mean.numpy(), np.nanmean(flat, 0))
    assert np.allclose(skip.variance.numpy(), np.nanvar(flat, 0, ddof=1))


def test_skips_refuse_infinity_and_unobserved_entries():
    x, _ = _with_holes(10, 0.0)
    x[0, 0, 0] = float("inf")
    with pytest.raises(ValueError, match="infinite"):
        WindowGaussian(6, 2, torch.float64).fit(x)
    y, _ = _with_holes(10, 0.0)
    y[:, 2, 1] = float("nan")
    with pytest.raises(ValueError, match="step 2, feature 1"):
        WindowGaussian(6, 2, torch.float64).fit(y)


def test_fill_is_the_gaussian_conditional_mean_and_keeps_observed_entries():
    x, _ = _with_holes(200, 0.4)
    skip = WindowGaussian(6, 2, torch.float64).fit(x)
    mask = observed_mask(x)
    filled = fill_missing(x, mask, skip)
    assert torch.isfinite(filled).all() and torch.equal(filled[mask], x[mask])
    cov = (skip.eigvecs * skip.eigvals) @ skip.eigvecs.T
    for k in (0, 7):
        o, u = mask[k].reshape(-1), ~mask[k].reshape(-1)
        expected = skip.mean[u] + cov[u][:, o] @ torch.linalg.solve(cov[o][:, o], x[k].reshape(-1)[o] - skip.mean[o])
        assert torch.allclose(filled[k].reshape(-1)[u], expected, atol=1e-9)
    by_channel = fill_missing(x, mask, None)
    assert torch.allclose(by_channel[~mask], torch.nanmean(x.reshape(-1, 2), 0).expand_as(x)[~mask])


def test_long_windows_are_filled_a_few_at_a_time_with_the_same_result(monkeypatch):
    from kernelops.flows import missing

    assert missing.fill_chunk(120) == missing.FILL_CHUNK  # Sines-size windows: the full chunk
    assert missing.fill_chunk(1400) == missing.FILL_MEMORY // (24 * 1400**2)  # MuJoCo 100 × 14: 22
    assert missing.fill_chunk(10**6) == 1
    x, _ = _with_holes(50, 0.4)
    skip = WindowGaussian(6, 2, torch.float64).fit(x)
    mask = observed_mask(x)
    whole = fill_missing(x, mask, skip)
    monkeypatch.setattr(missing, "FILL_MEMORY", 3 * 8 * 12**2 * 7)  # 7 windows of 12 values per chunk
    assert missing.fill_chunk(12) == 7
    assert torch.allclose(fill_missing(x, mask, skip), whole, atol=1e-12)


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


@pytest.mark.parametrize("skip", ["window", "channel", "none"])
def test_training_with_70_percent_missing_keeps_everything_finite(skip):
    x, full = _with_holes(256, 0.7)
    data = (x + 1) / 2  # [0, 1] with NaN
    model = SpectralMeanFlow(depth=1, width=8, skip=skip, seed=0)
    model.fit(data, steps=4, batch_size=16, warmup=0, progress=False)
    assert all(np.isfinite(loss) for _, loss, _ in model.history)
    model.zero_grad()
    loss = model.loss(data[:64])
    loss.backward()
    grads = [p.grad for p in model.field.parameters() if p.grad is not None]
    assert torch.isfinite(loss) and grads and all(torch.isfinite(g).all() for g in grads)
    assert all(torch.isfinite(p).all() for p in model.field.parameters())
    assert torch.isfinite(model.sample(4, seed=0)).all()
    if skip == "window":  # the skip fit to 30 % of the entries is close to the one fit to all of them
        complete = WindowGaussian(6, 2, torch.float64).fit(full)
        assert torch.allclose(model.field.skip.mean.double(), complete.mean, atol=0.1)


def test_kernelops_fit_trains_on_a_csv_with_empty_cells(tmp_path, capsys):
    from kernelops.cli.main import main

    rng = np.random.default_rng(0)
    t = np.arange(120)
    values = np.stack([np.sin(t / 5), np.cos(t / 7) * 3 + 10], axis=1)
    lines = ["a,b"] + [",".join("" if rng.random() < 0.3 else f"{v:.4f}" for v in row) for row in values]
    (tmp_path / "gaps.csv").write_text("\n".join(lines) + "\n")
    status = main(["fit", "--data", str(tmp_path / "gaps.csv"), "--window", "8", "--steps", "3", "--depth", "1",
                   "--width", "8", "--batch-size", "8", "--sample-steps", "2", "--no-progress", "--device", "cpu",
                   "--out", str(tmp_path / "run")])
    assert status == 0, capsys.readouterr().err
    model = SpectralMeanFlow.load(tmp_path / "run" / "checkpoint.pt")
    assert model.step == 3 and torch.isfinite(model.sample(4, seed=0)).all()
    assert all(np.isfinite(float(row.split(",")[1])) for row in (tmp_path / "run" / "loss.csv").read_text().split()[1:])
