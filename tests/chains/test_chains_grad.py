"""Finite-difference gradient checks of SpectralChain contractions (float64 / complex128)."""

from __future__ import annotations

import pytest
import torch

from kernelops.chains import SpectralChain, dense_inner_product


def _inputs(dtype: torch.dtype, gen: torch.Generator, r: int = 2, d: int = 3, n: int = 4, batch: int = 2):
    chain = SpectralChain.random(r, d, complex=dtype.is_complex, generator=gen, dtype=dtype)
    phi = torch.randn(batch, n, d, dtype=dtype, generator=gen)
    return tuple(x.clone().requires_grad_(True) for x in (phi, *chain.tensors()))


@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128])
@pytest.mark.parametrize("method", ["sequential", "scan", "logscale"])
def test_inner_gradcheck_wrt_phi_and_chain(dtype, method):
    inputs = _inputs(dtype, torch.Generator().manual_seed(0))

    def f(phi, start, transfer, end, eigvals):
        return SpectralChain(start, transfer, end, eigvals).inner(phi, method=method, chunk_size=1)

    # one full Jacobian check; the other cases compare random Jacobian projections (fast mode)
    full = dtype.is_complex and method == "sequential"
    assert torch.autograd.gradcheck(f, inputs, fast_mode=not full)


@pytest.mark.parametrize("method", ["sequential", "scan"])
def test_log_inner_gradcheck(method):
    inputs = _inputs(torch.complex128, torch.Generator().manual_seed(1), n=5)

    def f(phi, start, transfer, end, eigvals):
        log_abs, phase = SpectralChain(start, transfer, end, eigvals).log_inner(phi, method=method)
        return log_abs, phase

    # fast mode: random projections of the Jacobian against finite differences (still exact checks)
    assert torch.autograd.gradcheck(f, inputs, fast_mode=True)


def test_gradient_equals_dense_reference_gradient():
    """Autograd through the chain equals autograd through the dense D^N tensor."""
    phi, *parts = _inputs(torch.complex128, torch.Generator().manual_seed(2), n=5)
    chain = SpectralChain(*parts)
    w = torch.randn(phi.shape[0], dtype=torch.complex128)
    grads = torch.autograd.grad((chain.inner(phi) * w).real.sum(), (phi, *parts))
    dense_grads = torch.autograd.grad((dense_inner_product(chain, phi) * w).real.sum(), (phi, *parts))
    for g, dg in zip(grads, dense_grads):
        assert torch.allclose(g, dg, rtol=1e-9, atol=1e-12)


def test_inner_gradgradcheck_wrt_phi():
    phi, *parts = _inputs(torch.complex128, torch.Generator().manual_seed(3), n=3)
    chain = SpectralChain(*(p.detach() for p in parts))
    assert torch.autograd.gradgradcheck(lambda x: chain.inner(x, method="scan"), (phi,), fast_mode=True)
