"""EVD/SVD result objects on operators with known spectra."""

from __future__ import annotations

import cmath
import math

import numpy as np
import pytest
import torch

from kernelops.errors import ShapeError
from kernelops.operators import (
    EigResult,
    SVDResult,
    eig_decomposition,
    eig_decomposition_lowrank,
    svd_decomposition,
)


def rotation(rho: float, theta: float) -> torch.Tensor:
    c, s = math.cos(theta), math.sin(theta)
    return rho * torch.tensor([[c, -s], [s, c]], dtype=torch.float64)


def _known_operator(blocks, seed=0):
    """A real operator similar to block-diag(blocks): its eigenvalues are known exactly."""
    g = torch.Generator().manual_seed(seed)
    a = torch.block_diag(*blocks)
    basis = torch.randn(a.shape[0], a.shape[0], generator=g, dtype=torch.float64) + 2 * torch.eye(a.shape[0], dtype=torch.float64)
    return basis @ a @ torch.linalg.inv(basis)


def _check_biorthogonal_eigenpairs(op, res, tol=1e-9):
    lam, h, g = res.eigvals, res.right, res.left
    opc = op.to(lam.dtype)
    torch.testing.assert_close(opc @ h, h * lam, rtol=tol, atol=tol)  # U h = λ h
    torch.testing.assert_close(g.mH @ opc, lam[:, None] * g.mH, rtol=tol, atol=tol)  # gᴴ U = λ gᴴ
    torch.testing.assert_close(g.mH @ h, torch.eye(lam.shape[0], dtype=lam.dtype), rtol=tol, atol=tol)
    torch.testing.assert_close(torch.linalg.vector_norm(h, dim=0), torch.ones(lam.shape[0], dtype=torch.float64))


def test_eig_known_spectrum_sorted_with_conjugate_pairs_adjacent():
    # moduli 0.95 (pair), 0.95 (pair, same modulus, other angle), -0.95 (real), 0.5 (pair), 0.2
    blocks = [rotation(0.95, 0.4), rotation(0.95, 1.1), torch.tensor([[-0.95]], dtype=torch.float64),
              rotation(0.5, 2.0), torch.tensor([[0.2]], dtype=torch.float64)]
    op = _known_operator(blocks)
    res = eig_decomposition(op)
    lam = res.eigvals
    assert lam.dtype == torch.complex128 and res.rank == 8
    mod = lam.abs()
    assert bool((mod[:-1] >= mod[1:] - 1e-9).all())
    # every complex eigenvalue is directly followed by its conjugate, +imag first
    i = 0
    while i < len(lam):
        if abs(lam[i].imag) > 1e-9:
            assert lam[i].imag > 0
            assert abs(complex(lam[i + 1]) - complex(lam[i]).conjugate()) < 1e-9
            i += 2
        else:
            i += 1
    expected = {0.95 * cmath.exp(1j * 0.4), 0.95 * cmath.exp(1j * 1.1), 0.5 * cmath.exp(2j)}
    expected |= {v.conjugate() for v in expected} | {-0.95, 0.2}
    for v in expected:
        assert min(abs(complex(x) - v) for x in lam) < 1e-9
    _check_biorthogonal_eigenpairs(op, res)
    torch.testing.assert_close(res.reconstruct(), op.to(torch.complex128), rtol=1e-9, atol=1e-9)


def test_eig_truncation_keeps_the_leading_modes():
    op = _known_operator([rotation(0.9, 0.3), rotation(0.6, 1.0), torch.tensor([[0.1]], dtype=torch.float64)])
    full = eig_decomposition(op)
    top = eig_decomposition(op, k=2)
    assert top.rank == 2
    torch.testing.assert_close(top.eigvals, full.eigvals[:2])
    torch.testing.assert_close(abs(top.eigvals), torch.full((2,), 0.9, dtype=torch.float64))
    _check_biorthogonal_eigenpairs(op, top)


def test_frequency_modulus_and_decay_time():
    dt = 0.5
    res = eig_decomposition(_known_operator([rotation(0.8, 0.6), torch.tensor([[1.0]], dtype=torch.float64)]), dt=dt)
    # sorted: 1.0 first, then 0.8 e^{+0.6i}, 0.8 e^{-0.6i}
    torch.testing.assert_close(res.modulus, torch.tensor([1.0, 0.8, 0.8], dtype=torch.float64))
    torch.testing.assert_close(res.frequency, torch.tensor([0.0, 0.6, -0.6], dtype=torch.float64) / (2 * math.pi * dt))
    decay = res.decay_time
    assert math.isinf(decay[0])
    torch.testing.assert_close(decay[1:], torch.full((2,), -dt / math.log(0.8), dtype=torch.float64))


def test_eig_of_complex_operator():
    g = torch.Generator().manual_seed(2)
    lam = torch.tensor([0.9j, -0.7, 0.5 + 0.1j, 0.2], dtype=torch.complex128)
    basis = torch.randn(4, 4, generator=g, dtype=torch.complex128) + 2 * torch.eye(4, dtype=torch.complex128)
    op = basis @ torch.diag(lam) @ torch.linalg.inv(basis)
    res = eig_decomposition(op)
    order = torch.argsort(lam.abs(), descending=True)
    torch.testing.assert_close(res.eigvals, lam[order], rtol=1e-9, atol=1e-9)
    _check_biorthogonal_eigenpairs(op, res)


def test_lowrank_eig_matches_the_nonzero_modes_of_the_product():
    g = torch.Generator().manual_seed(4)
    d, r = 7, 3
    left = torch.randn(d, r, generator=g, dtype=torch.float64)
    right = torch.randn(r, d, generator=g, dtype=torch.float64) / 3
    op = left @ right
    res = eig_decomposition_lowrank(left, right)
    assert res.rank == r
    dense = np.linalg.eigvals(op.numpy())
    nonzero = sorted(dense[np.abs(dense) > 1e-8], key=abs, reverse=True)
    np.testing.assert_allclose(sorted(abs(res.eigvals).numpy()), sorted(np.abs(nonzero)), rtol=1e-9)
    for v in res.eigvals.numpy():
        assert np.min(np.abs(dense - v)) < 1e-9
    _check_biorthogonal_eigenpairs(op, res)


def test_svd_matches_numpy_for_non_square_operators():
    g = torch.Generator().manual_seed(5)
    for shape in [(3, 6), (6, 3), (4, 4)]:
        op = torch.randn(*shape, generator=g, dtype=torch.float64)
        res = svd_decomposition(op)
        assert isinstance(res, SVDResult) and res.rank == min(shape)
        np.testing.assert_allclose(res.singular_values.numpy(), np.linalg.svd(op.numpy(), compute_uv=False), rtol=1e-12)
        assert res.left.shape == (shape[0], min(shape)) and res.right.shape == (shape[1], min(shape))
        torch.testing.assert_close(res.left.mT @ res.left, torch.eye(min(shape), dtype=torch.float64))
        torch.testing.assert_close(res.right.mT @ res.right, torch.eye(min(shape), dtype=torch.float64))
        torch.testing.assert_close(res.reconstruct(), op)
        top = svd_decomposition(op, k=2)
        torch.testing.assert_close(top.singular_values, res.singular_values[:2])


def test_spectral_bad_input():
    with pytest.raises(ShapeError, match=r"operator: eig needs a square operator \(D, D\), got shape \(2, 3\)"):
        eig_decomposition(torch.ones(2, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"k: expected None or an int in \[1, 2\]"):
        eig_decomposition(torch.eye(2, dtype=torch.float64), k=3)
    with pytest.raises(ValueError, match=r"k: expected None or an int in \[1, 2\]"):
        svd_decomposition(torch.ones(2, 3, dtype=torch.float64), k=0)
    with pytest.raises(ShapeError, match=r"left: expected shape \(3, 2\)"):
        EigResult(torch.ones(2, dtype=torch.complex128), torch.ones(3, 2, dtype=torch.complex128),
                  torch.ones(3, 1, dtype=torch.complex128))
    with pytest.raises(ValueError, match="dt: expected a positive"):
        eig_decomposition(torch.eye(2, dtype=torch.float64), dt=0.0)


def test_defective_operator_warns_and_lowrank_falls_back():
    from kernelops.errors import KernelopsWarning

    jordan = torch.tensor([[0.5, 1.0], [0.0, 0.5]], dtype=torch.float64)
    with pytest.warns(KernelopsWarning, match="ill-conditioned"):
        eig_decomposition(jordan)
    # a rank-2 factorisation whose small matrix R L = diag(0.8, 0) is singular
    left = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], dtype=torch.float64)
    right = torch.tensor([[0.8, 0.0, 0.0], [0.0, 0.0, 0.0]], dtype=torch.float64)
    res = eig_decomposition_lowrank(left, right)
    assert res.rank == 2
    torch.testing.assert_close(res.eigvals, torch.tensor([0.8, 0.0], dtype=torch.complex128))
    _check_biorthogonal_eigenpairs(left @ right, res)
