"""The Gaussian base field of SpectralMeanFlow: closed form, gradient, checkpoints, errors."""

from __future__ import annotations

import pytest
import torch

import kernelops as ko
from kernelops.errors import ShapeError
from kernelops.flows import SpectralMeanFlow
from kernelops.flows.gaussian_base import SIGMA_FLOOR, GaussianBaseField


def _gaussian_windows(n=400, seed=0):
    """(n, 3, 2) windows in [0, 1] with a correlated (non-diagonal) covariance."""
    g = torch.Generator().manual_seed(seed)
    mix = torch.randn(6, 6, generator=g, dtype=torch.float64) * 0.04
    return (0.5 + torch.randn(n, 6, generator=g, dtype=torch.float64) @ mix).reshape(n, 3, 2)


def _model(path="ot", **kw):
    args = dict(path=path, depth=1, width=4, time_features=2, dtype=torch.float64, seed=0, base_field="gaussian")
    args.update(kw)
    return SpectralMeanFlow(**args)


@pytest.mark.parametrize("path", ["ot", "vp"])
def test_base_field_is_the_closed_form_gaussian_marginal_field(path):
    """With the network silenced (H = 0), v is AffinePath.marginal_velocity of the data's moments."""
    data = _gaussian_windows()
    model = _model(path, init_velocity=None).fit(data, steps=0, progress=False)
    model.net.heads.H.data.zero_()
    model.ema.copy_from(model.net)
    flat = model.to_model(data).reshape(len(data), -1)
    mean, cov = flat.mean(0), torch.cov(flat.T)
    assert torch.linalg.eigvalsh(cov).min() > SIGMA_FLOOR**2  # the floor does not bind here
    x = torch.randn(5, 3, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    t = torch.tensor([0.05, 0.3, 0.6, 0.9, 0.99], dtype=torch.float64)
    expected = model.path.marginal_velocity(x.reshape(5, 6), t[:, None], mean, cov).reshape(5, 3, 2)
    torch.testing.assert_close(model.velocity(x, t), expected, rtol=1e-9, atol=1e-10)


def test_base_plus_network_is_still_a_gradient_field():
    model = _model().fit(_gaussian_windows(), steps=2, batch_size=16, progress=False)
    x = torch.randn(3, 3, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(2)).requires_grad_(True)
    t = torch.tensor([0.2, 0.7, 0.95], dtype=torch.float64)
    (grad,) = torch.autograd.grad(model.potential(x, t).sum(), x)
    torch.testing.assert_close(model.velocity(x.detach(), t), -grad)
    jac = torch.autograd.functional.jacobian(lambda z: model.velocity(z, 0.8, create_graph=True), x.detach()[:1])
    jac = jac.reshape(6, 6)
    torch.testing.assert_close(jac, jac.T, atol=1e-10, rtol=1e-8)


def test_eigenvalue_floor_keeps_the_end_point_finite():
    """Windows with a zero-variance direction: λ is floored, so v stays finite at t = 1."""
    data = _gaussian_windows()
    data[:, :, 1] = 0.5  # a constant channel: zero variance
    base = GaussianBaseField.from_windows(data * 2 - 1)
    assert float(base.eigvals.min()) == pytest.approx(SIGMA_FLOOR**2)
    x = (data[:4] * 2 - 1) + 0.01
    v = base.velocity(ko.path("ot").schedule, x, torch.ones(4, dtype=torch.float64))
    assert torch.isfinite(v).all() and v.abs().max() < 1e3


def test_base_field_travels_in_checkpoints_and_fixes_the_length(tmp_path):
    model = _model().fit(_gaussian_windows(), steps=2, batch_size=16, progress=False)
    loaded = SpectralMeanFlow.load(model.save(tmp_path / "m.pt"))
    assert loaded.base_field == "gaussian"
    x = torch.randn(2, 3, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(loaded.velocity(x, 0.9, ema=True), model.velocity(x, 0.9, ema=True))
    torch.testing.assert_close(loaded.sample(4, steps=3, seed=0), model.sample(4, steps=3, seed=0))
    with pytest.raises(ValueError, match="seq_len"):
        model.sample(2, seq_len=5)
    with pytest.raises(ShapeError, match="fit to windows"):
        model.velocity(torch.zeros(1, 4, 2, dtype=torch.float64), 0.5)


def test_base_field_arguments_are_checked():
    with pytest.raises(ValueError, match="base_field"):
        _model(base_field="laplace")
    unbuilt = _model(in_dim=2, seq_len=3)
    with pytest.raises(ValueError, match="fit"):
        unbuilt.velocity(torch.zeros(1, 3, 2, dtype=torch.float64), 0.5)
    with pytest.raises(ShapeError, match="at least 2"):
        GaussianBaseField.from_windows(torch.zeros(1, 3, 2))
