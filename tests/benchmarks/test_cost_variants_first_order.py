"""benchmarks/cost_variants.py: the first-order loss reads as the exact loss and its parameter gradient
is the double-backward gradient up to the central difference's ε² truncation."""

from __future__ import annotations

import pytest
import torch

import kernelops as ko
from kernelops.flows import FieldConfig, SpectralVelocityField

F64 = torch.float64


@pytest.fixture
def first_order_loss(load_script):
    return load_script("cost_variants").first_order_loss


def randomize_chain_end(potential, seed=3):
    """Random complex end heads (zero at initialisation), so f ≠ 0."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for heads in (potential.heads_s, potential.heads_o):
            for p in (heads.end, heads.H):
                p.copy_(torch.complex(*(torch.randn(p.shape, generator=g, dtype=F64) for _ in range(2))) / 2)


def _field(potential, skip="window", N=4, d=2):
    size = dict(depth=1, width=8) if potential == "chain" else dict(depth=2, width=16)
    field = SpectralVelocityField(ko.path("ot"), d, N, FieldConfig(potential=potential, time_features=4, skip=skip,
                                                                  **size), seed=0, dtype=F64)
    g = torch.Generator().manual_seed(1)
    data = (0.3 * torch.randn(200, N * d, generator=g, dtype=F64) + 0.2).reshape(200, N, d)
    field.fit_data(data)
    if potential == "chain":
        randomize_chain_end(field.potential_net)
    else:
        with torch.no_grad():
            field.potential_net.readout.weight.normal_(generator=g)
    return field, data[:6]


def _batch(field, x1, seed=2):
    g = torch.Generator().manual_seed(seed)
    t = torch.rand(x1.shape[0], generator=g, dtype=F64) * 0.9 + 0.05
    x_t = field.path.sample(torch.randn(x1.shape, generator=g, dtype=F64), x1, t).x_t
    return t, x_t, x1 + 0.1 * torch.randn(x1.shape, generator=g, dtype=F64)


def _double_backward(field, t, x_t, clean, mask=None):
    error = field.loss_weight(t)[:, None, None] * (field.denoise(t, x_t) - clean).square()
    return error.mean() if mask is None else (error * mask).sum() / mask.sum()


def _grads(field, loss):
    params = [p for p in field.parameters() if p.requires_grad]
    return torch.cat([g.flatten() if not g.is_complex() else torch.view_as_real(g).flatten()
                      for g in torch.autograd.grad(loss, params)])


@pytest.mark.parametrize("potential, skip", [("chain", "window"), ("window", "window"), ("chain", "none")])
def test_value_is_exact_and_gradient_error_shrinks_as_eps_squared(first_order_loss, potential, skip):
    """The surrogate's error is ε²/6·∂³ plus rounding: halving ε quarters it (while ε² dominates)."""
    field, x1 = _field(potential, skip)
    t, x_t, clean = _batch(field, x1)
    exact = _double_backward(field, t, x_t, clean)
    want = _grads(field, exact)
    errors = []
    for eps in (2e-3, 1e-3):
        loss = first_order_loss(field, t, x_t, clean, eps=eps)
        torch.testing.assert_close(loss, exact, rtol=1e-12, atol=0)
        errors.append(float((_grads(field, loss) - want).norm() / want.norm()))
    assert errors[0] < 1e-3, errors
    assert errors[1] / errors[0] == pytest.approx(0.25, abs=0.03), errors
    # the default step (float64: 1e-5) leaves only rounding: the gradients agree to 1e-8
    got = _grads(field, first_order_loss(field, t, x_t, clean))
    torch.testing.assert_close(got, want, rtol=1e-8, atol=1e-8 * float(want.abs().max()))


def test_a_mask_weights_the_value_and_the_gradient_alike(first_order_loss):
    field, x1 = _field("chain")
    t, x_t, clean = _batch(field, x1)
    mask = torch.rand(x1.shape, generator=torch.Generator().manual_seed(4)) > 0.4
    exact = _double_backward(field, t, x_t, clean, mask.to(F64))
    loss = first_order_loss(field, t, x_t, clean, mask)
    torch.testing.assert_close(loss, exact, rtol=1e-12, atol=0)
    got, want = _grads(field, loss), _grads(field, exact)
    torch.testing.assert_close(got, want, rtol=1e-8, atol=1e-8 * float(want.abs().max()))
