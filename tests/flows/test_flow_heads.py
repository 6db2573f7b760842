"""The spectral heads of the chain potential: eigenvalues on the ring, head scaling."""

from __future__ import annotations

import torch

from kernelops.flows.heads import SpectralHeads, complex_gaussian

F64 = torch.float64

# -- spectral parameters -----------------------------------------------------------------------

def test_eigenvalues_on_the_ring():
    gen = torch.Generator().manual_seed(0)
    heads = SpectralHeads(4, 8, 16, ring=(0.2, 0.7), dtype=torch.float64, generator=gen)
    lam = heads.eigvals()
    assert lam.is_complex() and lam.shape == (4, 16)
    assert (lam.abs() >= 0.2 - 1e-12).all() and (lam.abs() <= 0.7 + 1e-12).all()
    # λ = exp(−exp(ν) + iθ)
    torch.testing.assert_close(lam, torch.exp(-torch.exp(heads.nu) + 1j * heads.theta))
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


def test_complex_gaussian_has_the_requested_variance():
    z = complex_gaussian((20000,), 0.25, F64, torch.Generator().manual_seed(0))
    assert abs(float(z.abs().square().mean()) - 0.25) < 0.01


def test_arguments_are_uniform_in_the_requested_band_and_checked():
    import math

    import pytest

    heads = SpectralHeads(8, 4, 500, ring=(0.9, 0.995), angle=0.1, generator=torch.Generator().manual_seed(0),
                          dtype=F64)
    theta = heads.theta.detach()
    assert theta.abs().max() <= 0.1 and theta.min() < -0.09 and theta.max() > 0.09
    # uniform on [−0.1, 0.1]: mean 0, variance 0.2²/12
    assert abs(float(theta.mean())) < 0.003 and abs(float(theta.var()) - 0.04 / 12) < 2e-4
    assert heads.config()["angle"] == 0.1 and "angle=0.1" in repr(heads)
    full = SpectralHeads(8, 4, 500, generator=torch.Generator().manual_seed(0), dtype=F64).theta.detach()
    assert abs(float(full.var()) - math.pi**2 / 3) < 0.05  # the whole circle by default
    for bad in (0.0, -0.1, 4.0):
        with pytest.raises(ValueError, match="angle: expected a number in"):
            SpectralHeads(1, 2, 2, angle=bad)


def test_the_chain_potential_starts_with_slow_long_lived_modes():
    from kernelops.flows.config import CHAIN_EIGEN_ANGLE, CHAIN_EIGEN_RING, FieldConfig
    from kernelops.flows.potentials import build_potential

    pot = build_potential(FieldConfig(potential="chain"), in_dim=3, seq_len=8, dtype=F64)
    for heads in (pot.heads_s, pot.heads_o):
        lam = heads.eigvals().detach()
        assert (lam.abs() >= CHAIN_EIGEN_RING[0] - 1e-12).all() and (lam.abs() <= CHAIN_EIGEN_RING[1] + 1e-12).all()
        assert (lam.angle().abs() <= CHAIN_EIGEN_ANGLE + 1e-12).all()
