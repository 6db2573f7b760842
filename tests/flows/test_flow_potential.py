"""The chain contraction, the spectral parameters and the potential/velocity of the flow."""

from __future__ import annotations

import math

import pytest
import torch

from kernelops.errors import ShapeError
from kernelops.features.spectral_mlp import SpectralMLP
from kernelops.flows.potential import SpectralPotential, block_chain_evaluate
from kernelops.flows.spectral import SpectralHeads, complex_gaussian

C128 = torch.complex128


def _rand_chain(nb=2, k=3, r=4, gen=None):
    gen = gen or torch.Generator().manual_seed(1)
    heads = [complex_gaussian((nb, k, r), 1.0 / k, torch.float64, gen) for _ in range(4)]
    lam = complex_gaussian((nb, r), 0.5, torch.float64, gen)
    return heads, lam


def _explicit(h, B, L, R, H, lam):
    """Σ_blocks βᵀ Λ W(x²) Λ … Λ η with every W(x) = Lᵀ diag(h) R materialised."""
    batch, n, nb, _ = h.shape
    out = torch.zeros(batch, dtype=C128)
    for b in range(batch):
        for l in range(nb):
            row = h[b, 0, l] @ B[l]
            for i in range(1, n - 1):
                W = L[l].T @ torch.diag(h[b, i, l]) @ R[l]
                row = row @ torch.diag(lam[l]) @ W
            out[b] += row @ torch.diag(lam[l]) @ (h[b, -1, l] @ H[l])
    return out


@pytest.mark.parametrize("n", [2, 3, 6])
def test_block_chain_equals_explicit_product(n):
    (B, L, R, H), lam = _rand_chain()
    h = complex_gaussian((5, n, 2, 3), 1.0, torch.float64, torch.Generator().manual_seed(n))
    torch.testing.assert_close(block_chain_evaluate(h, B, L, R, H, lam), _explicit(h, B, L, R, H, lam))


def test_block_chain_equals_dense_spectral_chain_and_chains_package():
    """Against kernelops.chains: the dense transfer tensor transfer[k,i,j] = L[k,i] R[k,j]."""
    chains = pytest.importorskip("kernelops.chains")
    (B, L, R, H), lam = _rand_chain(nb=1)
    h = complex_gaussian((4, 5, 1, 3), 1.0, torch.float64, torch.Generator().manual_seed(3))
    ours = block_chain_evaluate(h, B, L, R, H, lam)
    chain = chains.SpectralChain(B[0].T, L[0][:, :, None] * R[0][:, None, :], H[0].T, lam[0])
    torch.testing.assert_close(ours, chain.evaluate(h[:, :, 0]))
    (B2, L2, R2, H2), lam2 = _rand_chain(nb=3)
    h2 = complex_gaussian((4, 5, 3, 3), 1.0, torch.float64, torch.Generator().manual_seed(4))
    torch.testing.assert_close(block_chain_evaluate(h2, B2, L2, R2, H2, lam2),
                               chains.factored_chain_evaluate(h2, B2, L2, R2, H2, lam2))


def test_log_scale_matches_and_stays_finite():
    (B, L, R, H), lam = _rand_chain()
    h = complex_gaussian((3, 7, 2, 3), 1.0, torch.float64, torch.Generator().manual_seed(5))
    val = block_chain_evaluate(h, B, L, R, H, lam)
    log_abs, phase = block_chain_evaluate(h, B, L, R, H, lam, log_scale=True)
    torch.testing.assert_close(log_abs, val.abs().log())
    torch.testing.assert_close(phase * log_abs.exp(), val)
    # 4000 steps of |λ| ≤ 0.1: the plain product underflows to 0, the log form does not
    small = lam / lam.abs() * 0.1
    hl = complex_gaussian((2, 4000, 2, 3), 1.0, torch.float64, torch.Generator().manual_seed(6))
    assert (block_chain_evaluate(hl, B, L, R, H, small) == 0).all()
    log_abs, _ = block_chain_evaluate(hl, B, L, R, H, small, log_scale=True)
    assert torch.isfinite(log_abs).all() and (log_abs < -1000).all()


def test_pair_norm_is_the_chain_divided_by_a_shared_positive_factor():
    (B, L, R, H), lam = _rand_chain()
    h = complex_gaussian((6, 5, 2, 3), 1.0, torch.float64, torch.Generator().manual_seed(7))
    raw = block_chain_evaluate(h, B, L, R, H, lam)
    normed = block_chain_evaluate(h, B, L, R, H, lam, pair_norm=True)
    ratio = raw / normed
    torch.testing.assert_close(ratio[:3], ratio[3:])  # the pair shares Z(x)
    torch.testing.assert_close(ratio.imag, torch.zeros(6, dtype=torch.float64), atol=1e-10, rtol=0)
    assert (ratio.real > 0).all()


def test_block_chain_twice_differentiable():
    (B, L, R, H), lam = _rand_chain(nb=1, k=2, r=2)
    h = complex_gaussian((2, 4, 1, 2), 1.0, torch.float64, torch.Generator().manual_seed(8)).requires_grad_(True)
    fn = lambda z: block_chain_evaluate(z, B, L, R, H, lam)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (h,))
    assert torch.autograd.gradgradcheck(fn, (h,))


def test_bad_shapes_name_the_argument():
    (B, L, R, H), lam = _rand_chain()
    h = complex_gaussian((2, 4, 2, 3), 1.0, torch.float64)
    with pytest.raises(ShapeError, match="N >= 2"):
        block_chain_evaluate(h[:, :1], B, L, R, H, lam)
    with pytest.raises(ShapeError, match="L"):
        block_chain_evaluate(h, B, L[:, :2], R, H, lam)
    with pytest.raises(ShapeError, match="eigvals"):
        block_chain_evaluate(h, B, L, R, H, lam[:, :2])


# -- spectral parameters -----------------------------------------------------------------------

def test_eigenvalues_on_the_ring_and_svd_real_nonnegative():
    gen = torch.Generator().manual_seed(0)
    heads = SpectralHeads(4, 8, 16, mode="evd", ring=(0.2, 0.7), dtype=torch.float64, generator=gen)
    lam = heads.eigvals()
    assert lam.is_complex() and lam.shape == (4, 16)
    assert (lam.abs() >= 0.2 - 1e-12).all() and (lam.abs() <= 0.7 + 1e-12).all()
    # λ = exp(−exp(ν) + iθ)
    torch.testing.assert_close(lam, torch.exp(-torch.exp(heads.nu) + 1j * heads.theta))
    svd = SpectralHeads(2, 4, 4, mode="svd", generator=gen, dtype=torch.float64)
    sigma = svd.eigvals()
    assert not sigma.is_complex() and (sigma >= 0).all() and (sigma <= 0.95 + 1e-12).all()
    # any ν keeps |λ| < 1 (the chain can never blow up through Λ)
    with torch.no_grad():
        heads.nu.fill_(-30.0)
    assert (heads.eigvals().abs() <= 1.0).all()


def test_ring_is_uniform_in_area():
    heads = SpectralHeads(8, 4, 500, ring=(0.1, 0.9), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    r2 = heads.eigvals().detach().abs() ** 2
    # |λ|² uniform on [0.01, 0.81]: mean 0.41, variance 0.8²/12
    assert abs(float(r2.mean()) - 0.41) < 0.01
    assert abs(float(r2.var()) - 0.64 / 12) < 0.003


def test_head_scaling_preserves_the_norm_of_a_transfer_step():
    """With E|h|² = 1, E‖W(x)v‖² = ‖v‖² per block (L: 1/r_b, R: 1/k), and β has unit entries."""
    k, r, trials = 16, 24, 400
    gen = torch.Generator().manual_seed(0)
    ratios, beta = [], []
    for _ in range(trials):
        heads = SpectralHeads(1, k, r, generator=gen, dtype=torch.float64)
        h = complex_gaussian((k,), 1.0, torch.float64, gen)
        v = complex_gaussian((r,), 1.0, torch.float64, gen)
        W = heads.L[0].T @ torch.diag(h) @ heads.R[0]
        ratios.append(float(((v @ W).abs().square().sum() / v.abs().square().sum()).detach()))
        beta.append(float((h @ heads.B[0]).abs().square().mean().detach()))
    assert abs(sum(ratios) / trials - 1.0) < 0.1
    assert abs(sum(beta) / trials - 1.0) < 0.1
    auto = SpectralHeads(1, k, r, ring=(0.05, 0.95), step_gain="auto", generator=gen)
    assert math.isclose(auto.step_gain, 1 / math.sqrt((0.05**2 + 0.95**2) / 2))


# -- potential and velocity --------------------------------------------------------------------

def _potential(chain_norm="none", seed=0):
    torch.manual_seed(seed)
    fm = SpectralMLP(2, depth=2, width=8, time_features=4, dtype=torch.float64)
    heads = SpectralHeads(2, 4, 4, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return SpectralPotential(fm, heads, chain_norm=chain_norm)


@pytest.mark.parametrize("chain_norm", ["none", "pair"])
def test_velocity_is_minus_gradient_by_finite_differences(chain_norm):
    net = _potential(chain_norm)
    x = torch.randn(3, 4, 2, dtype=torch.float64)
    t = torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64)
    v = net.velocity(x, t, create_graph=False)
    eps = 1e-6
    fd = torch.zeros_like(x)
    for idx in range(x[0].numel()):
        e = torch.zeros_like(x).view(3, -1)
        e[:, idx] = eps
        e = e.view_as(x)
        fd.view(3, -1)[:, idx] = (net(x + e, t) - net(x - e, t)) / (2 * eps)
    torch.testing.assert_close(v, -fd, atol=1e-7, rtol=1e-6)
    assert v.abs().max() > 1e-6  # not trivially zero


def test_potential_is_re_of_s_minus_o_chains():
    net = _potential()
    x = torch.randn(2, 3, 2, dtype=torch.float64)
    tn_o, tn_s = net.chains(x, 0.3)
    torch.testing.assert_close(net(x, 0.3), (tn_s - tn_o).real)
    # each chain is the explicit product over the q-conditioned features
    h_o = net.features(x, 0.3, "o").reshape(2, 3, 2, 4)
    hd = net.heads
    torch.testing.assert_close(tn_o, _explicit(h_o, hd.B, hd.L, hd.R, hd.H, hd.eigvals()))


def test_velocity_under_no_grad_and_inference_mode():
    net = _potential()
    x = torch.randn(2, 3, 2, dtype=torch.float64)
    ref = net.velocity(x, 0.5, create_graph=False)
    with torch.no_grad():
        torch.testing.assert_close(net.velocity(x, 0.5), ref)
    with torch.inference_mode():
        xi = x.clone()
    torch.testing.assert_close(net.velocity(xi, 0.5, create_graph=False), ref)


def test_double_backward_gives_the_parameter_gradient_of_the_loss():
    """d/dν of ‖v(x) − u‖² by double backward equals a central finite difference."""
    net = _potential()
    x = torch.randn(2, 3, 2, dtype=torch.float64)
    u = torch.randn_like(x)
    t = torch.tensor([0.2, 0.7], dtype=torch.float64)

    def loss():
        return (net.velocity(x, t, create_graph=True) - u).square().mean()

    net.zero_grad()
    loss().backward()
    for p in (net.heads.nu, net.features.blocks_[0].fc1.weight):
        assert p.grad is not None and p.grad.abs().max() > 0
        analytic = p.grad.flatten()[1].item()
        eps = 1e-6
        with torch.no_grad():
            p.view(-1)[1] += eps
        up = loss().item()
        with torch.no_grad():
            p.view(-1)[1] -= 2 * eps
        down = loss().item()
        with torch.no_grad():
            p.view(-1)[1] += eps
        assert math.isclose(analytic, (up - down) / (2 * eps), rel_tol=1e-5, abs_tol=1e-9)
    for name in ("B", "L", "R", "H", "theta"):
        assert getattr(net.heads, name).grad.abs().max() > 0, name
