"""factored_chain_evaluate against the dense SpectralChain it factors, plain and block-diagonal."""

from __future__ import annotations

import pytest
import torch

from kernelops.chains import SpectralChain, factored_chain_evaluate


def assert_close(got: torch.Tensor, want: torch.Tensor, rtol: float = 1e-9, atol: float = 1e-12) -> None:
    assert got.shape == want.shape and got.dtype == want.dtype, (got.shape, got.dtype, want.shape, want.dtype)
    assert torch.allclose(got, want, rtol=rtol, atol=atol), f"max abs error {float((got - want).abs().max()):.3g}"


def _cn(*shape: int, gen: torch.Generator, scale: float = 1.0) -> torch.Tensor:
    re = torch.randn(*shape, dtype=torch.float64, generator=gen)
    im = torch.randn(*shape, dtype=torch.float64, generator=gen)
    return torch.complex(re, im) * scale


def _heads(k: int, r: int, gen: torch.Generator, blocks: int | None = None):
    lead = () if blocks is None else (blocks,)
    b, lh, rh, hh = (_cn(*lead, k, r, gen=gen, scale=(1.0 / (k * r)) ** 0.5) for _ in range(4))
    lam = torch.polar(0.3 + 0.6 * torch.rand(*lead, r, dtype=torch.float64, generator=gen),
                      torch.rand(*lead, r, dtype=torch.float64, generator=gen) * 6.0)
    return b, lh, rh, hh, lam


def _dense_chain(b, lh, rh, hh, lam) -> SpectralChain:
    """start = Bᵀ, end = Hᵀ, transfer[k, i, j] = Lh[k, i] Rh[k, j], written out here independently."""
    return SpectralChain(b.T, lh[:, :, None] * rh[:, None, :], hh.T, lam)


def test_from_heads_builds_the_same_dense_chain_plain_and_block():
    gen = torch.Generator().manual_seed(7)
    heads = _heads(4, 3, gen)
    h = _cn(2, 5, 4, gen=gen)
    assert_close(SpectralChain.from_heads(*heads).evaluate(h), factored_chain_evaluate(h, *heads))
    bheads = _heads(3, 2, gen, blocks=2)
    hb = _cn(2, 5, 2, 3, gen=gen)
    chain = SpectralChain.from_heads(*bheads)
    assert (chain.rank, chain.dim) == (4, 6)
    assert_close(chain.evaluate(hb.reshape(2, 5, 6)), factored_chain_evaluate(hb, *bheads))


def _explicit(h, b, lh, rh, hh, lam) -> torch.Tensor:
    """β(x¹)ᵀ Λ W(x²) Λ ⋯ Λ η(x^N) with every W(x) = Lhᵀ diag(h) Rh formed as a matrix."""
    out = []
    for seq in h:
        v = seq[0] @ b
        for n in range(1, seq.shape[0] - 1):
            v = (v * lam) @ (lh.T @ torch.diag(seq[n]) @ rh)
        out.append(((v * lam) * (seq[-1] @ hh)).sum())
    return torch.stack(out)


@pytest.mark.parametrize("n", [2, 3, 5, 9])
@pytest.mark.parametrize("k,r", [(3, 2), (4, 4), (6, 3)])
def test_factored_equals_dense_chain_evaluate_and_explicit_product(n, k, r):
    gen = torch.Generator().manual_seed(10 * n + k + r)
    heads = _heads(k, r, gen)
    h = _cn(4, n, k, gen=gen)
    got = factored_chain_evaluate(h, *heads)
    assert_close(got, _dense_chain(*heads).evaluate(h))
    assert_close(got, _explicit(h, *heads))
    # no conjugation: it is not the Hermitian inner product
    assert (got - _dense_chain(*heads).inner(h)).abs().max() > 1e-6


def test_factored_log_scale_matches_plain_and_stays_finite():
    gen = torch.Generator().manual_seed(1)
    heads = _heads(5, 3, gen)
    h = _cn(3, 40, 5, gen=gen)
    val = factored_chain_evaluate(h, *heads)
    log_abs, phase = factored_chain_evaluate(h, *heads, log_scale=True)
    assert_close(log_abs, val.abs().log(), rtol=1e-10, atol=1e-9)
    assert_close(phase, val / val.abs(), rtol=1e-9, atol=1e-9)
    chain_log, chain_phase = _dense_chain(*heads).log_evaluate(h)
    assert_close(log_abs, chain_log, rtol=1e-10, atol=1e-9)
    long_h = _cn(2, 3000, 5, gen=gen, scale=0.5)
    assert float(factored_chain_evaluate(long_h, *heads).abs().max()) < 1e-300  # plain underflows
    long_log, long_phase = factored_chain_evaluate(long_h, *heads, log_scale=True)
    ref_log, ref_phase = _dense_chain(*heads).log_evaluate(long_h, method="scan")
    assert bool(torch.isfinite(long_log).all())
    assert_close(long_log, ref_log, rtol=1e-10, atol=1e-7)
    assert_close(long_phase, ref_phase, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("flat_eigvals", [False, True])
def test_block_diagonal_heads_equal_the_assembled_chain_and_the_sum_of_blocks(flat_eigvals):
    gen = torch.Generator().manual_seed(2)
    nblocks, k, rb, n = 3, 4, 2, 6
    b, lh, rh, hh, lam = _heads(k, rb, gen, blocks=nblocks)
    h = _cn(5, n, nblocks, k, gen=gen)
    lam_arg = lam.reshape(-1) if flat_eigvals else lam
    got = factored_chain_evaluate(h, b, lh, rh, hh, lam_arg)
    # sum over blocks of independent chains
    per_block = sum(factored_chain_evaluate(h[:, :, l], b[l], lh[l], rh[l], hh[l], lam[l]) for l in range(nblocks))
    assert_close(got, per_block)
    # the full chain with block-diagonal heads over the concatenated features
    full = [torch.block_diag(*x.unbind(0)) for x in (b, lh, rh, hh)]
    assert_close(got, _dense_chain(*full, lam.reshape(-1)).evaluate(h.reshape(5, n, nblocks * k)))
    log_abs, phase = factored_chain_evaluate(h, b, lh, rh, hh, lam_arg, log_scale=True)
    assert_close(phase * log_abs.exp(), got)


def test_factored_gradgradcheck_wrt_h():
    gen = torch.Generator().manual_seed(3)
    heads = _heads(3, 2, gen)
    h = _cn(2, 4, 3, gen=gen).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: factored_chain_evaluate(x, *heads), (h,), fast_mode=True)
    assert torch.autograd.gradgradcheck(lambda x: factored_chain_evaluate(x, *heads), (h,))
    # log-scale form too (the flow may train on it)
    assert torch.autograd.gradgradcheck(
        lambda x: factored_chain_evaluate(x, *heads, log_scale=True)[0], (h,), fast_mode=True
    )


def test_factored_gradgradcheck_block_wrt_h_and_heads():
    gen = torch.Generator().manual_seed(4)
    b, lh, rh, hh, lam = _heads(2, 2, gen, blocks=2)
    h = _cn(2, 3, 2, 2, gen=gen)
    inputs = tuple(x.clone().requires_grad_(True) for x in (h, b, lh, rh, hh, lam))
    assert torch.autograd.gradcheck(factored_chain_evaluate, inputs, fast_mode=True)
    assert torch.autograd.gradgradcheck(factored_chain_evaluate, inputs, fast_mode=True)


def test_factored_real_inputs_stay_real_and_respect_device(device):
    gen = torch.Generator().manual_seed(5)
    heads = [torch.randn(4, 3, dtype=torch.float32, generator=gen).to(device) for _ in range(4)]
    lam = torch.rand(3, generator=gen).to(device)
    h = torch.randn(2, 5, 4, generator=gen).to(device)
    out = factored_chain_evaluate(h, *heads, lam)
    assert out.dtype == torch.float32 and out.device.type == device.type
    ref = _dense_chain(*(x.double() for x in heads), lam.double()).evaluate(h.double())
    assert torch.allclose(out.double(), ref, rtol=1e-4, atol=1e-5)


def test_normalise_divides_by_the_product_of_the_running_norms():
    """normalise=True returns TN/Z with Z > 0 real, and log Z is what the log-scale form accumulates."""
    gen = torch.Generator().manual_seed(11)
    nblocks, k, r = 3, 4, 5
    h = torch.randn(6, 7, nblocks, k, dtype=torch.complex128, generator=gen)
    heads = [torch.randn(nblocks, k, r, dtype=torch.complex128, generator=gen) / k for _ in range(4)]
    lam = 0.8 * torch.randn(nblocks, r, dtype=torch.complex128, generator=gen).sgn()
    plain = factored_chain_evaluate(h, *heads, lam)
    normed = factored_chain_evaluate(h, *heads, lam, normalise=True)
    log_abs, _ = factored_chain_evaluate(h, *heads, lam, log_scale=True)
    z = plain / normed
    assert_close(z.imag, torch.zeros(6, dtype=torch.float64), atol=1e-12 * float(z.abs().max()), rtol=0)
    assert (z.real > 0).all()
    assert_close(z.real.log(), log_abs - normed.abs().log())
    # bounded for a long chain where the plain product underflows
    long_h = torch.randn(2, 3000, nblocks, k, dtype=torch.complex128, generator=gen)
    long_normed = factored_chain_evaluate(long_h, *heads, 0.1 * lam, normalise=True)
    assert torch.isfinite(long_normed).all() and (long_normed.abs() > 1e-6).all()
    with pytest.raises(ValueError, match="choose one"):
        factored_chain_evaluate(h, *heads, lam, normalise=True, log_scale=True)


def test_one_step_chain_is_start_head_times_lambda_times_end_head_and_the_two_step_chain_on_its_diagonal():
    """N = 1: TN(x) = β(x)ᵀ Λ η(x) (written out by hand), plain and block-diagonal, and normalised by |β|."""
    gen = torch.Generator().manual_seed(3)
    b, lh, rh, hh, lam = _heads(4, 3, gen)
    h = _cn(5, 1, 4, gen=gen)
    beta, eta = h[:, 0] @ b, h[:, 0] @ hh  # (5, r)
    want = (beta * lam * eta).sum(-1)
    assert_close(factored_chain_evaluate(h, b, lh, rh, hh, lam), want)
    # the two-step chain with x² = x¹ has no transfer step either: the same number
    assert_close(factored_chain_evaluate(torch.cat([h, h], dim=1), b, lh, rh, hh, lam), want)
    assert_close(factored_chain_evaluate(h, b, lh, rh, hh, lam, normalise=True), want / beta.abs().square().sum(-1).sqrt())
    log_abs, phase = factored_chain_evaluate(h, b, lh, rh, hh, lam, log_scale=True)
    assert_close(phase * log_abs.exp(), want)
    bheads = _heads(3, 2, gen, blocks=2)
    hb = _cn(5, 1, 2, 3, gen=gen)
    bb, _, _, bh, blam = bheads
    want_b = sum((hb[:, 0, i] @ bb[i] * blam[i] * (hb[:, 0, i] @ bh[i])).sum(-1) for i in range(2))
    assert_close(factored_chain_evaluate(hb, *bheads), want_b)


def test_one_step_chain_gradient_matches_central_differences():
    gen = torch.Generator().manual_seed(4)
    heads = _heads(3, 2, gen)
    h = _cn(2, 1, 3, gen=gen)
    x = torch.randn(2, 1, 3, dtype=torch.float64, generator=gen, requires_grad=True)

    def f(y):
        return factored_chain_evaluate(h * y, *heads, normalise=True).real.sum()

    (grad,) = torch.autograd.grad(f(x), x)
    eps = 1e-6
    for idx in [(0, 0, 0), (1, 0, 2)]:
        e = torch.zeros_like(x)
        e[idx] = eps
        fd = (f(x.detach() + e) - f(x.detach() - e)) / (2 * eps)
        assert abs(float(grad[idx]) - float(fd)) < 1e-6
