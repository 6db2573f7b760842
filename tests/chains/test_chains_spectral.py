"""SpectralChain against the dense D^N reference, across methods, dtypes and shapes."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from kernelops.chains import SpectralChain, dense_inner_product, dense_tensor

SHAPES = [(2, 3), (3, 2), (4, 4)]
DTYPES = [torch.float64, torch.complex128]


def _features(batch: int, n: int, d: int, dtype: torch.dtype, gen: torch.Generator) -> torch.Tensor:
    if dtype.is_complex:
        re = torch.randn(batch, n, d, dtype=torch.float64, generator=gen)
        im = torch.randn(batch, n, d, dtype=torch.float64, generator=gen)
        return torch.complex(re, im)
    return torch.randn(batch, n, d, dtype=dtype, generator=gen)


def assert_close(got: torch.Tensor, want: torch.Tensor, rtol: float = 1e-7, atol: float = 1e-7) -> None:
    """torch.allclose with a readable failure (torch.testing imports sympy: seconds per session)."""
    assert got.shape == want.shape and got.dtype == want.dtype, (got.shape, got.dtype, want.shape, want.dtype)
    err = float((got - want).abs().max()) if got.numel() else 0.0
    assert torch.allclose(got, want, rtol=rtol, atol=atol), f"max abs error {err:.3g}"


def _rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(((a - b).abs() / b.abs().clamp_min(1e-300)).max())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("r,d", SHAPES)
@pytest.mark.parametrize("n", [2, 3, 4, 5, 6])
def test_inner_matches_dense_reference(dtype, r, d, n):
    gen = torch.Generator().manual_seed(100 * r + 10 * d + n)
    chain = SpectralChain.random(r, d, complex=dtype.is_complex, generator=gen, dtype=dtype)
    phi = _features(5, n, d, dtype, gen)
    ref = dense_inner_product(chain, phi)
    assert ref.dtype == dtype
    for method in ("sequential", "scan", "logscale"):
        got = chain.inner(phi, method=method, chunk_size=2)  # chunk 2 exercises several chunks
        assert got.dtype == dtype and got.shape == (5,)
        assert _rel_err(got, ref) < 1e-5, method


def test_dense_reference_is_the_explicit_tensor_sum():
    """dense_tensor(N=3) equals the defining sum, written out with explicit loops."""
    gen = torch.Generator().manual_seed(1)
    chain = SpectralChain.random(2, 3, generator=gen)
    s, t, e, lam = (x.tolist() for x in chain.tensors())
    mu = dense_tensor(chain, 3)
    want = [[[0j] * 3 for _ in range(3)] for _ in range(3)]
    for k1 in range(3):
        for k2 in range(3):
            for k3 in range(3):
                for i2 in range(2):
                    for i3 in range(2):
                        want[k1][k2][k3] += s[i2][k1] * lam[i2] * t[k2][i2][i3] * lam[i3] * e[i3][k3]
    assert_close(mu, torch.tensor(want, dtype=mu.dtype))
    # and the inner product is the Hermitian one: conj on the features, none on mu
    phi = _features(2, 3, 3, torch.complex128, gen)
    prod = torch.einsum("bi,bj,bk->bijk", phi[:, 0], phi[:, 1], phi[:, 2])
    assert_close(chain.inner(phi), (prod.conj() * mu).sum(dim=(1, 2, 3)))


def test_evaluate_is_inner_without_conjugation():
    gen = torch.Generator().manual_seed(2)
    chain = SpectralChain.random(3, 4, generator=gen)
    phi = _features(4, 5, 4, torch.complex128, gen)
    for method in ("sequential", "scan", "logscale"):
        assert_close(chain.evaluate(phi, method=method), chain.inner(phi.conj(), method=method))
    # they differ for genuinely complex features (else the test above proves nothing)
    assert (chain.evaluate(phi) - chain.inner(phi)).abs().max() > 1e-3


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [2, 3, 7, 16, 33, 50])
def test_scan_and_logscale_match_sequential(dtype, n):
    gen = torch.Generator().manual_seed(n)
    chain = SpectralChain.random(4, 5, complex=dtype.is_complex, generator=gen, dtype=dtype)
    phi = _features(6, n, 5, dtype, gen)
    seq = chain.inner(phi)
    assert _rel_err(chain.inner(phi, method="scan"), seq) < 1e-9
    assert _rel_err(chain.inner(phi, method="logscale"), seq) < 1e-9
    for method in ("sequential", "scan"):
        log_abs, phase = chain.log_inner(phi, method=method)
        assert_close(log_abs, seq.abs().log(), rtol=1e-9, atol=1e-9)
        assert_close(phase, seq / seq.abs(), rtol=1e-9, atol=1e-9)
        assert log_abs.dtype == torch.float64 and phase.dtype == dtype


def test_real_chain_with_complex_features_promotes():
    gen = torch.Generator().manual_seed(3)
    chain = SpectralChain.random(2, 3, complex=False, generator=gen)
    phi = _features(3, 4, 3, torch.complex128, gen)
    got = chain.inner(phi)
    assert got.dtype == torch.complex128
    assert_close(got, dense_inner_product(chain, phi))


@settings(max_examples=30, deadline=None)
@given(
    r=st.integers(1, 4),
    d=st.integers(1, 4),
    n=st.integers(2, 5),
    batch=st.integers(1, 3),
    cplx=st.booleans(),
    seed=st.integers(0, 2**31 - 1),
)
def test_property_all_methods_equal_dense(r, d, n, batch, cplx, seed):
    gen = torch.Generator().manual_seed(seed)
    dtype = torch.complex128 if cplx else torch.float64
    chain = SpectralChain.random(r, d, complex=cplx, generator=gen, dtype=dtype)
    phi = _features(batch, n, d, dtype, gen)
    ref = dense_inner_product(chain, phi)
    scale = ref.abs().max().clamp_min(1e-12)
    for method in ("sequential", "scan", "logscale"):
        got = chain.inner(phi, method=method)
        assert float((got - ref).abs().max() / scale) < 1e-9


# ---------------------------------------------------------------------- long sequences
def _diagonal_chain(lam: torch.Tensor, a: torch.Tensor, beta: torch.Tensor, eta: torch.Tensor) -> SpectralChain:
    """D = 1 chain with diagonal transfer: inner(1) = Σᵢ βᵢ λᵢ^{N−1} aᵢ^{N−2} ηᵢ in closed form."""
    return SpectralChain(beta[:, None], torch.diag_embed(a)[None], eta[:, None], lam)


def test_long_chain_logscale_closed_form_where_plain_product_underflows():
    n = 5000
    lam = torch.polar(torch.tensor([0.9, 0.7, 0.5], dtype=torch.float64), torch.tensor([0.3, -1.0, 2.0], dtype=torch.float64))
    a = torch.tensor([0.95, 1.1, 0.8], dtype=torch.complex128)
    beta = torch.tensor([0.5 + 0.2j, -1.0, 2.0j], dtype=torch.complex128)
    eta = torch.tensor([1.5, 0.3 - 0.1j, 1.0], dtype=torch.complex128)
    chain = _diagonal_chain(lam, a, beta, eta)
    phi = torch.ones(2, n, 1, dtype=torch.float64)
    # closed form in log space: term_i = exp(l_i) with complex logs; factor the largest out
    logs = beta.log() + (n - 1) * lam.log() + (n - 2) * a.log() + eta.log()
    m = logs.real.max()
    total = torch.exp(logs - m).sum()
    want_log, want_phase = m + total.abs().log(), total / total.abs()
    assert float(want_log) < -745  # exp of it underflows even to a subnormal float64
    # the plain product underflows: at best it is stuck at a subnormal with no correct digits
    assert float(chain.inner(phi).abs().max()) < 1e-320
    for method in ("sequential", "scan"):
        log_abs, phase = chain.log_inner(phi, method=method)
        assert bool(torch.isfinite(log_abs).all())
        assert_close(log_abs, want_log.expand(2), rtol=1e-9, atol=1e-6)
        assert_close(phase, want_phase.expand(2), rtol=1e-6, atol=1e-6)


def test_long_random_chain_logscale_matches_plain_where_finite_and_stays_finite_beyond():
    gen = torch.Generator().manual_seed(5)
    chain = SpectralChain.random(3, 4, generator=gen, modulus=(0.3, 0.6))
    phi = _features(3, 5000, 4, torch.complex128, gen)
    short = phi[:, :200]
    plain = chain.inner(short)
    assert bool((plain.abs() > 0).all()) and bool((plain.abs() < 1e-5).all())  # finite but tiny
    log_abs, phase = chain.log_inner(short)
    assert_close(log_abs, plain.abs().log(), rtol=1e-9, atol=1e-8)
    assert_close(phase * log_abs.exp(), plain, rtol=1e-8, atol=0)
    # at N = 5000 the plain product is 0 but both log-scaled algorithms agree and are finite
    assert float(chain.inner(phi).abs().max()) < 1e-320
    seq_log, seq_phase = chain.log_inner(phi, method="sequential")
    scan_log, scan_phase = chain.log_inner(phi, method="scan")
    assert bool(torch.isfinite(seq_log).all()) and float(seq_log.max()) < -800
    assert_close(seq_log, scan_log, rtol=1e-10, atol=1e-7)
    assert_close(seq_phase, scan_phase, rtol=1e-6, atol=1e-6)
    assert_close(seq_phase.abs(), torch.ones(3, dtype=torch.float64))


def test_log_inner_real_chain_gives_sign_and_zero_gives_minus_inf():
    gen = torch.Generator().manual_seed(6)
    chain = SpectralChain.random(3, 2, complex=False, generator=gen)
    phi = torch.randn(8, 6, 2, dtype=torch.float64, generator=gen)
    val = chain.inner(phi)
    log_abs, sign = chain.log_inner(phi)
    assert sign.dtype == torch.float64
    assert_close(sign, torch.sign(val))
    phi[0] = 0.0  # zero features: the value is exactly 0
    log_abs, sign = chain.log_inner(phi)
    assert float(log_abs[0]) == -math.inf and float(sign[0]) == 1.0
    assert bool(torch.isfinite(log_abs[1:]).all())


# ---------------------------------------------------------------------- construction helpers
def test_random_chain_scaling_preserves_norm_in_expectation():
    """E_x‖vᵀW(x)‖² = ‖v‖² for unit-variance features: Σ_k ‖vᵀ transfer[k]‖² averages to ‖v‖²."""
    gen = torch.Generator().manual_seed(7)
    ratios = []
    for _ in range(20):
        chain = SpectralChain.random(8, 32, generator=gen)
        v = torch.randn(8, dtype=torch.complex128, generator=gen)
        gain = sum(float((v @ chain.transfer[k]).abs().pow(2).sum()) for k in range(32))
        ratios.append(gain / float(v.abs().pow(2).sum()))
        assert bool(((chain.eigvals.abs() >= 0.5) & (chain.eigvals.abs() <= 0.95)).all())
    assert abs(sum(ratios) / len(ratios) - 1.0) < 0.1


def test_random_is_reproducible_and_respects_dtype():
    a = SpectralChain.random(3, 4, generator=torch.Generator().manual_seed(9), dtype=torch.complex64)
    b = SpectralChain.random(3, 4, generator=torch.Generator().manual_seed(9), dtype=torch.complex64)
    assert a.dtype == torch.complex64 and (a.rank, a.dim) == (3, 4)
    for x, y in zip(a, b):
        assert torch.equal(x, y)
    with pytest.raises(ValueError, match="dtype"):
        SpectralChain.random(3, 4, complex=True, dtype=torch.float64)


def test_to_converts_dtype_and_keeps_values():
    chain = SpectralChain.random(2, 3, generator=torch.Generator().manual_seed(10))
    low = chain.to(torch.complex64)
    assert low.dtype == torch.complex64 and low.device == chain.device
    phi = torch.randn(2, 4, 3, dtype=torch.float32)
    assert_close(low.inner(phi), chain.inner(phi.double()).to(torch.complex64), rtol=1e-4, atol=1e-6)


def test_runs_on_the_device_of_its_tensors(device):
    chain = SpectralChain.random(3, 4, generator=torch.Generator().manual_seed(11)).to(device)
    phi = torch.randn(2, 5, 4, dtype=torch.float64, device=device)
    for method in ("sequential", "scan", "logscale"):
        out = chain.inner(phi, method=method)
        assert out.device.type == device.type
    assert_close(chain.inner(phi, method="scan"), dense_inner_product(chain, phi))
