"""The tree-scan contraction of a factored chain equals the sequential pass: values and derivatives.

The scan groups the product differently (pairs, then pairs of pairs) and renormalises every
partial product, so agreement to 1e-10 in float64 checks that the normalised value, the log
scale and the plain value do not depend on the grouping, and that autograd through both gives
the same first and second derivatives (the training loss differentiates the chain twice).
"""

from __future__ import annotations

import pytest
import torch

from kernelops.chains import factored_chain_evaluate
from kernelops.chains.factored import choose_contraction


def _chain(steps: int, seed: int = 0, nblocks: int = 2, k: int = 4, r: int = 3):
    gen = torch.Generator().manual_seed(seed)
    h = torch.randn(3, steps, nblocks, k, dtype=torch.complex128, generator=gen)
    heads = [torch.randn(nblocks, k, r, dtype=torch.complex128, generator=gen) / k for _ in range(4)]
    lam = 0.9 * torch.randn(nblocks, r, dtype=torch.complex128, generator=gen).sgn()
    return h, heads, lam


@pytest.mark.parametrize("steps", [2, 3, 8, 37])
def test_scan_equals_the_sequential_pass(steps):
    h, heads, lam = _chain(steps)
    for kwargs in ({}, {"normalise": True}):
        seq = factored_chain_evaluate(h, *heads, lam, **kwargs)
        scan = factored_chain_evaluate(h, *heads, lam, contraction="scan", **kwargs)
        torch.testing.assert_close(scan, seq, atol=1e-10 * float(seq.abs().max()), rtol=0)
    (la, pa), (lb, pb) = (factored_chain_evaluate(h, *heads, lam, log_scale=True, contraction=c)
                          for c in ("sequential", "scan"))
    torch.testing.assert_close(lb, la, atol=1e-10, rtol=0)
    torch.testing.assert_close(pb, pa, atol=1e-10, rtol=0)


def test_scan_normalised_value_stays_bounded_on_a_long_chain():
    h, heads, lam = _chain(1500, seed=3)
    seq = factored_chain_evaluate(h, *heads, 0.1 * lam, normalise=True)
    scan = factored_chain_evaluate(h, *heads, 0.1 * lam, normalise=True, contraction="scan")
    assert torch.isfinite(scan).all()  # the plain product underflows at this length
    torch.testing.assert_close(scan, seq, atol=1e-10, rtol=0)


def test_scan_first_and_second_derivatives_equal_the_sequential_ones():
    """As in training: v = ∇ₕ Re f (create_graph), a loss on v, its gradient in the heads and λ."""
    h, heads, lam = _chain(11, seed=5)
    results = []
    for contraction in ("sequential", "scan"):
        hh = h.clone().requires_grad_(True)
        params = [p.clone().requires_grad_(True) for p in (*heads, lam)]
        f = factored_chain_evaluate(hh, *params[:4], params[4], normalise=True, contraction=contraction).real
        (v,) = torch.autograd.grad(f.sum(), hh, create_graph=True)
        loss = (v.real.square() + v.imag.square()).sum() + f.square().sum()
        results.append([v.detach(), *torch.autograd.grad(loss, params)])
    for got, want in zip(results[1], results[0], strict=True):
        torch.testing.assert_close(got, want, atol=1e-10 * max(1.0, float(want.abs().max())), rtol=0)
    assert float(results[0][1].abs().max()) > 1e-3  # the derivatives compared are not all zero


def test_auto_is_the_measured_faster_sequential_pass_and_names_are_checked():
    h, heads, lam = _chain(5)
    assert choose_contraction(1024, torch.device("cpu")) == "sequential"
    torch.testing.assert_close(factored_chain_evaluate(h, *heads, lam, contraction="auto"),
                               factored_chain_evaluate(h, *heads, lam), atol=0, rtol=0)
    with pytest.raises(ValueError, match="contraction: expected one of"):
        factored_chain_evaluate(h, *heads, lam, contraction="tree")
