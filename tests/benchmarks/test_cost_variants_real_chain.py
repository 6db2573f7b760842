"""benchmarks/cost_variants.py: the real-arithmetic chain equals the complex one, value and gradients."""

from __future__ import annotations

import pytest
import torch
from chain_parts import chain_parts, crandn

from kernelops.chains import identity_plus_chain_evaluate


@pytest.fixture
def variants(load_script):
    return load_script("cost_variants")


def _rows(h):
    return torch.cat([h.real, h.imag], -1)


def test_the_real_block_acts_on_real_rows_as_the_complex_matrix(variants):
    g = torch.Generator().manual_seed(1)
    a, z = crandn(4, 3, g=g), crandn(2, 4, g=g)
    torch.testing.assert_close(_rows(z) @ variants.real_block(a), _rows(z @ a), rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("steps", [1, 2, 3, 6])
def test_equals_the_complex_identity_plus_chain(variants, steps):
    h, start, heads, end, lam, gain = chain_parts(steps=steps)
    re, im = variants.identity_plus_chain_real(_rows(h), start, *heads[:3], end, heads[3], lam, gain)
    reference = identity_plus_chain_evaluate(h, start, *heads[:3], end, heads[3], lam, gain)
    torch.testing.assert_close(torch.complex(re, im), reference, rtol=1e-10, atol=1e-10)


def test_gradients_match_the_complex_chain(variants):
    """d Re TN / d(features, heads, λ, g) of the real kernel equal the complex kernel's."""
    h, start, heads, end, lam, gain = chain_parts(steps=5)
    leaves = [h, start, *heads, end, lam, gain]
    for leaf in leaves:
        leaf.requires_grad_(True)
    weights = torch.linspace(0.5, 1.5, h.shape[0], dtype=torch.float64)
    real_value = variants.identity_plus_chain_real(_rows(h), start, *heads[:3], end, heads[3], lam, gain)[0]
    complex_value = identity_plus_chain_evaluate(h, start, *heads[:3], end, heads[3], lam, gain).real
    got = torch.autograd.grad((weights * real_value).sum(), leaves)
    want = torch.autograd.grad((weights * complex_value).sum(), leaves)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def test_odd_rows_are_refused(variants):
    h, start, heads, end, lam, gain = chain_parts()
    with pytest.raises(ValueError, match="h: expected real rows"):
        variants.identity_plus_chain_real(_rows(h)[..., :-1], start, *heads[:3], end, heads[3], lam, gain)
