"""The example plugin: discovered through its entry point, conformant, and correct."""

from __future__ import annotations

import importlib.metadata

import pytest
import torch

import kernelops as ko
from kernelops.plugins.manager import PluginHost, reset_host

pytest.importorskip("kernelops_matern")
from kernelops_matern.features import MaternFourierFeatures, matern_kernel  # noqa: E402

INSTALLED = any(ep.name == "matern" for ep in importlib.metadata.entry_points(group="kernelops"))


@pytest.fixture(autouse=True)
def _isolated_host(monkeypatch):
    monkeypatch.setenv("KERNELOPS_LOAD_PLUGINS", "matern")
    reset_host(PluginHost())
    yield
    reset_host(PluginHost())


@pytest.mark.skipif(not INSTALLED, reason="kernelops-matern is not pip-installed (no entry point)")
def test_discovered_through_entry_point():
    assert "matern" in ko.list_plugins()["feature_maps"]
    info = next(p for p in ko.plugin_report() if p.name == "matern")
    assert (info.status, info.dist) == ("ok", "kernelops-matern")
    fm = ko.feature_map("matern", in_dim=3, out_dim=16)
    assert isinstance(fm, MaternFourierFeatures)


def test_passes_the_conformance_kit():
    testing = pytest.importorskip("kernelops.plugins.testing")
    testing.check_feature_map(MaternFourierFeatures(in_dim=3, out_dim=64, seed=1))


@pytest.mark.parametrize("nu", [0.5, 1.5, 2.5])
def test_features_approximate_the_exact_kernel_with_error_shrinking_in_D(nu):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(40, 2, generator=gen, dtype=torch.float64)
    exact = matern_kernel(x, x, 1.3, nu)
    errors = []
    for out_dim in (64, 16384):
        fm = MaternFourierFeatures(2, out_dim, lengthscale=1.3, nu=nu, seed=3, dtype=torch.float64)
        phi = fm(x)
        errors.append((phi @ phi.T - exact).abs().max().item())
    # Monte-Carlo error ~ 1/sqrt(D): 256x more features, ~16x smaller error; ask for 4x
    assert errors[1] < errors[0] / 4
    assert errors[1] < 0.06


def test_exact_kernel_closed_forms():
    x = torch.zeros(1, 1, dtype=torch.float64)
    y = torch.tensor([[2.0]], dtype=torch.float64)
    r = 2.0 / 1.5
    assert matern_kernel(x, y, 1.5, 0.5).item() == pytest.approx(torch.exp(torch.tensor(-r)).item())
    s = 5 ** 0.5 * r
    expected = (1 + s + s * s / 3) * torch.exp(torch.tensor(-s)).item()
    assert matern_kernel(x, y, 1.5, 2.5).item() == pytest.approx(expected)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="nu"):
        MaternFourierFeatures(2, nu=0.7)
    with pytest.raises(ValueError, match="lengthscale"):
        MaternFourierFeatures(2, lengthscale=0.0)
    with pytest.raises(ValueError, match="last dimension 2"):
        MaternFourierFeatures(2)(torch.zeros(4, 3))
