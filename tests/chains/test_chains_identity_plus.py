"""kernelops.chains.identity_plus: the identity-plus chain against the factored chain over augmented features."""

from __future__ import annotations

import pytest
import torch
from chain_parts import chain_parts

from kernelops.chains import factored_chain_evaluate, identity_plus_chain_evaluate
from kernelops.errors import ShapeError

C128 = torch.complex128


def _augmented(h, start, heads, end, gain):
    """Features (1, …, 1, g·h) with r constant coordinates whose transfer heads are the identity."""
    b, lh, rh, hh = heads
    batch, steps, blocks, _ = h.shape
    r = start.shape[-1]
    ones = torch.ones(batch, steps, blocks, r, dtype=h.dtype)
    h_aug = torch.cat([ones, gain[None, None, :, None] * h], dim=-1)
    eye = torch.eye(r, dtype=h.dtype).expand(blocks, r, r)
    first_row = torch.zeros(blocks, r, r, dtype=h.dtype)
    b_const, e_const = first_row.clone(), first_row.clone()
    b_const[:, 0], e_const[:, 0] = start, end
    return h_aug, torch.cat([b_const, b], 1), torch.cat([eye, lh], 1), torch.cat([eye, rh], 1), torch.cat([e_const, hh], 1)


@pytest.mark.parametrize("steps", [1, 2, 3, 6])
def test_equals_the_factored_chain_over_features_with_a_constant_coordinate(steps):
    h, start, heads, end, lam, gain = chain_parts(steps=steps)
    value = identity_plus_chain_evaluate(h, start, *heads[:3], end, heads[3], lam, gain)
    h_aug, *aug_heads = _augmented(h, start, heads, end, gain)
    reference = factored_chain_evaluate(h_aug, *aug_heads, lam)
    torch.testing.assert_close(value, reference, rtol=1e-12, atol=1e-12)


def test_gain_zero_leaves_the_constant_chain():
    """g = 0: TN = b₀ᵀ Λ^{N−1} e₀ for every sequence, whatever the features (N = 4)."""
    h, start, heads, end, lam, gain = chain_parts(steps=4)
    value = identity_plus_chain_evaluate(h, start, *heads[:3], end, heads[3], lam, torch.zeros_like(gain))
    expected = (start * lam**3 * end).sum()
    torch.testing.assert_close(value, expected.expand(h.shape[0]), rtol=1e-12, atol=1e-12)


def test_input_gradient_matches_central_differences():
    h, start, heads, end, lam, gain = chain_parts(steps=4, batch=1)
    x = torch.randn(1, 4, 2, 4, dtype=torch.float64, requires_grad=True)

    def f(x):
        return identity_plus_chain_evaluate(torch.exp(1j * x) * h, start, *heads[:3], end, heads[3], lam, gain).real.sum()

    (grad,) = torch.autograd.grad(f(x), x)
    eps = 1e-6
    for idx in [(0, 0, 0, 1), (0, 2, 1, 3), (0, 3, 0, 0)]:
        e = torch.zeros_like(x)
        e[idx] = eps
        with torch.no_grad():
            fd = (f(x + e) - f(x - e)) / (2 * eps)
        assert float(grad[idx]) == pytest.approx(float(fd), rel=1e-6, abs=1e-9)


def test_shapes_are_checked_by_name():
    h, start, heads, end, lam, gain = chain_parts()
    with pytest.raises(ShapeError, match="end"):
        identity_plus_chain_evaluate(h, start, *heads[:3], end[:, :2], heads[3], lam, gain)
    with pytest.raises(ShapeError, match="gain"):
        identity_plus_chain_evaluate(h, start, *heads[:3], end, heads[3], lam, gain[:1])
