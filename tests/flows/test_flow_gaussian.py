"""Training on windows with missing entries: NaN-aware skip moments, the fill, the masked loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kernelops.data import make_sines
from kernelops.flows.gappy_moments import gappy_moments
from kernelops.flows.gaussian import ChannelGaussian, WindowGaussian, fill_missing, observed_mask


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
    from kernelops.flows import gaussian
    from kernelops.flows.config import FILL_CHUNK, FILL_MEMORY

    assert gaussian.fill_chunk(120) == FILL_CHUNK  # Sines-size windows: the full chunk
    assert gaussian.fill_chunk(1400) == FILL_MEMORY // (24 * 1400**2)  # MuJoCo 100 × 14: 22
    assert gaussian.fill_chunk(10**6) == 1
    x, _ = _with_holes(50, 0.4)
    skip = WindowGaussian(6, 2, torch.float64).fit(x)
    mask = observed_mask(x)
    whole = fill_missing(x, mask, skip)
    monkeypatch.setattr(gaussian, "FILL_MEMORY", 3 * 8 * 12**2 * 7)  # 7 windows of 12 values per chunk
    assert gaussian.fill_chunk(12) == 7
    assert torch.allclose(fill_missing(x, mask, skip), whole, atol=1e-12)
