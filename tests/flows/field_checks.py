"""Shared by the field tests: checks of an exact gradient field and of parameter gradients by central
differences, and a mask-conditioned field whose skip is fit to known Gaussian data."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

import kernelops as ko
from kernelops.flows import FieldConfig, SpectralMeanFlow
from kernelops.flows.masked_field import MaskedVelocityField

#: the window shape (N, d) of :func:`gaussian_masked_field` and a mask on it (True = observed)
SEQ, DIM = 3, 2
MASK = torch.tensor([[True, False], [False, True], [True, False]])


def gaussian_covariance() -> torch.Tensor:
    """A fixed positive-definite covariance of flattened (SEQ, DIM) windows. Shape: (SEQ·DIM, SEQ·DIM)."""
    a = torch.randn(SEQ * DIM, SEQ * DIM, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    return 0.1 * a @ a.T + 0.02 * torch.eye(SEQ * DIM, dtype=torch.float64)


def gaussian_masked_field(path_name: str = "ot", width: int = 8) -> MaskedVelocityField:
    """A float64 mask-conditioned window field (read-out zero) with its skip fit to 4 000 Gaussian windows."""
    gen = torch.Generator().manual_seed(0)
    mean = torch.linspace(-0.3, 0.4, SEQ * DIM, dtype=torch.float64)
    data = mean + torch.randn(4000, SEQ * DIM, generator=gen, dtype=torch.float64) @ torch.linalg.cholesky(
        gaussian_covariance()).T
    field = MaskedVelocityField(ko.path(path_name), DIM, SEQ, FieldConfig(depth=1, width=width, conditional=True),
                                dtype=torch.float64)
    field.fit_data(data.reshape(-1, SEQ, DIM))
    return field


def randomize_chain_end(potential: torch.nn.Module, seed: int = 3) -> None:
    """Give a chain potential's end (e₀, H: zero at initialisation) random complex entries, so f ≠ 0."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for heads in (potential.heads_s, potential.heads_o):
            for p in (heads.end, heads.H):
                re, im = (torch.randn(p.shape, generator=g, dtype=torch.float64) for _ in range(2))
                p.copy_(torch.complex(re, im) / 2)


def assert_minus_gradient_of_potential(field: torch.nn.Module, x: torch.Tensor, times: Iterable[float]) -> None:
    """v_t = −∇Φ_t by central differences of ``field.potential``, and ∂v/∂x symmetric (curl-free).

    Shape:
        x: (batch, N, d), float64.
    """
    batch, dim = x.shape[0], x[0].numel()
    for t in times:
        v = field(t, x)
        eps, fd = 1e-6, torch.zeros_like(x)
        for i in range(dim):
            e = torch.zeros(batch, dim, dtype=x.dtype)
            e[:, i] = eps
            e = e.view_as(x)
            fd.view(batch, -1)[:, i] = (field.potential(t, x + e) - field.potential(t, x - e)) / (2 * eps)
        torch.testing.assert_close(v, -fd, atol=1e-6 * (1 + v.abs().max().item()), rtol=1e-6)
        jac = torch.autograd.functional.jacobian(lambda z, t=t: field(t, z), x[:1]).reshape(dim, dim)
        torch.testing.assert_close(jac, jac.T, atol=1e-9 * (1 + jac.abs().max().item()), rtol=1e-8)


def assert_velocity_loss_gradients_match_central_differences(field: torch.nn.Module, params: Iterable[torch.Tensor],
                                                             t: torch.Tensor, index: int = 1) -> None:
    """d/dθ of ‖v_t(x) − u‖² by autograd (through the field's double backward) equals a central
    difference, for entry ``index`` of each parameter; x and u are random windows of the field's shape.

    Shape:
        t: (2,), float64.
    """
    x, u = (torch.randn(2, field.seq_len, field.in_dim, dtype=torch.float64) for _ in range(2))

    def loss() -> torch.Tensor:
        return (field(t, x) - u).square().mean()

    field.zero_grad()
    loss().backward()
    for p in params:
        analytic = p.grad.flatten()[index].item()
        # 1e-5: the chain's ν enters through |λ| = exp(−exp(ν)) near |λ| = 1, where its gradient is
        # ~1e-5 and a smaller step loses digits to the loss's rounding
        eps = 1e-5
        with torch.no_grad():
            p.view(-1)[index] += eps
        up = loss().item()
        with torch.no_grad():
            p.view(-1)[index] -= 2 * eps
        down = loss().item()
        with torch.no_grad():
            p.view(-1)[index] += eps
        assert analytic != 0 and math.isclose(analytic, (up - down) / (2 * eps), rel_tol=1e-5, abs_tol=1e-10)


def tiny_model(path: str = "ot", **kw: object) -> SpectralMeanFlow:
    """A float64 chain model of depth 1 and width 4 (the facade and loss tests' small model)."""
    args: dict = dict(path=path, potential="chain", depth=1, width=4, time_features=2, dtype=torch.float64, seed=0)
    args.update(kw)
    return SpectralMeanFlow(**args)


def tiny_data(n: int = 64, N: int = 3, d: int = 2, seed: int = 0) -> torch.Tensor:
    """Windows in [0.5, 0.7]. Shape: (n, N, d), float64."""
    g = torch.Generator().manual_seed(seed)
    return 0.5 + 0.2 * torch.rand(n, N, d, generator=g, dtype=torch.float64)
