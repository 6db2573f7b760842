"""Known-answer tests of the pure CME estimators (ridge, reduced-rank, kernel forms)."""

from __future__ import annotations

import pytest
import torch

from kernelops.errors import ShapeError
from kernelops.operators import (
    kernel_cme_predict,
    kernel_ridge_weights,
    reduced_rank_operator,
    regularized_risk,
    ridge_operator,
)

F64 = torch.float64


def _data(n: int, dx: int, dy: int, dtype=F64, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    phi = torch.randn(n, dx, generator=g, dtype=F64)
    true = torch.randn(dy, dx, generator=g, dtype=F64)
    psi = phi @ true.T + 0.3 * torch.randn(n, dy, generator=g, dtype=F64)
    if dtype.is_complex:
        phi = torch.complex(phi, torch.randn(n, dx, generator=g, dtype=F64))
        psi = torch.complex(psi, torch.randn(n, dy, generator=g, dtype=F64))
    return phi, psi


def _reference_ridge(phi, psi, reg):
    """U = C_yx (C_xx + reg I)^{-1} with an explicit inverse (dense reference only)."""
    n, dx = phi.shape
    c_xx = phi.T @ phi.conj() / n  # Σ φ φᴴ / n
    c_yx = psi.T @ phi.conj() / n  # Σ ψ φᴴ / n
    return c_yx @ torch.linalg.inv(c_xx + reg * torch.eye(dx, dtype=phi.dtype))


@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128])
@pytest.mark.parametrize("n,dx,dy", [(7, 15, 4), (60, 5, 3)])
def test_ridge_primal_and_dual_agree_with_the_closed_form(n, dx, dy, dtype):
    phi, psi = _data(n, dx, dy, dtype)
    reg = 1e-2
    ref = _reference_ridge(phi, psi, reg)
    primal = ridge_operator(phi, psi, reg, method="primal")
    dual = ridge_operator(phi, psi, reg, method="dual")
    auto = ridge_operator(phi, psi, reg)
    assert primal.shape == (dy, dx) and primal.dtype == dtype
    torch.testing.assert_close(primal, ref, rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(dual, ref, rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(auto, ref, rtol=1e-9, atol=1e-10)


def test_ridge_is_a_stationary_point_of_the_regularized_risk():
    phi, psi = _data(40, 6, 3)
    reg = 0.05
    u = ridge_operator(phi, psi, reg).requires_grad_(True)
    (grad,) = torch.autograd.grad(regularized_risk(u, phi, psi, reg), u)
    assert grad.abs().max() < 1e-10
    # and a perturbation increases the risk
    with torch.no_grad():
        assert regularized_risk(u + 1e-3 * torch.randn_like(u), phi, psi, reg) > regularized_risk(u, phi, psi, reg)


def test_ridge_scalar_closed_form_and_shrinkage():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(500, 1, generator=g, dtype=F64)
    y = 0.7 * x + 0.1 * torch.randn(500, 1, generator=g, dtype=F64)
    c_xx, c_yx = float((x * x).mean()), float((y * x).mean())
    values = []
    for reg in (0.0, 0.1, 1.0, 1e4):
        u = ridge_operator(x, y, reg)
        assert u.shape == (1, 1)
        assert float(u) == pytest.approx(c_yx / (c_xx + reg), rel=1e-12)
        values.append(float(u))
    assert values == sorted(values, reverse=True)  # larger reg shrinks toward 0
    assert abs(values[-1]) < 1e-3


def test_ridge_with_zero_reg_on_rank_deficient_features_is_the_min_norm_solution():
    phi, psi = _data(30, 3, 2)
    phi = torch.cat([phi, phi[:, :1]], dim=1)  # duplicated column: ΦᵀΦ singular
    u = ridge_operator(phi, psi, 0.0)
    torch.testing.assert_close(u, (torch.linalg.pinv(phi) @ psi).T, rtol=1e-8, atol=1e-8)


def test_ridge_respects_dtype_and_device(device):
    phi, psi = _data(20, 4, 3)
    u = ridge_operator(phi.float().to(device), psi.float().to(device), 1e-3)
    assert u.dtype == torch.float32 and u.device.type == device.type
    torch.testing.assert_close(u.double().cpu(), ridge_operator(phi, psi, 1e-3), rtol=1e-4, atol=1e-4)


def _sqrt_inv(c):
    w, v = torch.linalg.eigh(c)
    return (v * w.rsqrt()) @ v.mH


@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128])
def test_reduced_rank_matches_kostic_formula(dtype):
    phi, psi = _data(80, 6, 5, dtype)
    reg, rank = 0.1, 2
    n = phi.shape[0]
    c_g = phi.T @ phi.conj() / n + reg * torch.eye(6, dtype=dtype)
    c_yx = psi.T @ phi.conj() / n
    s_inv = _sqrt_inv(c_g)
    a, s, bh = torch.linalg.svd(c_yx @ s_inv)
    expected = (a[:, :rank] * s[:rank].to(dtype)) @ bh[:rank] @ s_inv  # [[C_yx C^-1/2]]_r C^-1/2
    torch.testing.assert_close(reduced_rank_operator(phi, psi, reg, rank), expected, rtol=1e-8, atol=1e-10)


def test_reduced_rank_has_rank_r_and_beats_other_rank_r_operators():
    phi, psi = _data(100, 6, 5)
    reg, rank = 0.2, 2
    ridge = ridge_operator(phi, psi, reg)
    rrr = reduced_rank_operator(phi, psi, reg, rank)
    s = torch.linalg.svdvals(rrr)
    assert (s[:rank] > 1e-3).all() and (s[rank:] < 1e-10 * s[0]).all()
    risk = lambda u: float(regularized_risk(u, phi, psi, reg))  # noqa: E731
    u_, s_, vh_ = torch.linalg.svd(ridge)
    truncated = (u_[:, :rank] * s_[:rank]) @ vh_[:rank]
    assert risk(ridge) <= risk(rrr) < risk(truncated)
    g = torch.Generator().manual_seed(9)
    for _ in range(5):  # random rank-r perturbations of the optimum never do better
        other = rrr + 0.05 * torch.randn(5, rank, generator=g, dtype=F64) @ torch.randn(rank, 6, generator=g, dtype=F64)
        other = (lambda q: (q[0][:, :rank] * q[1][:rank]) @ q[2][:rank])(torch.linalg.svd(other))
        assert risk(rrr) <= risk(other) + 1e-12


def test_reduced_rank_full_rank_equals_ridge():
    for dx, dy in [(6, 4), (3, 5)]:
        phi, psi = _data(50, dx, dy)
        torch.testing.assert_close(
            reduced_rank_operator(phi, psi, 1e-2, min(dx, dy)), ridge_operator(phi, psi, 1e-2), rtol=1e-8, atol=1e-10
        )


def test_kernel_forms_match_linear_ridge():
    phi, psi = _data(25, 8, 3)
    xq = torch.randn(4, 8, dtype=F64)
    reg = 0.03
    k_xx, k_x = phi @ phi.T, phi @ xq.T
    w = kernel_cme_predict(k_xx, k_x, reg)
    assert w.shape == (25, 4)
    torch.testing.assert_close(psi.T @ w, ridge_operator(phi, psi, reg) @ xq.T, rtol=1e-9, atol=1e-10)
    weights = kernel_ridge_weights(k_xx, reg)
    torch.testing.assert_close(weights @ (k_xx + 25 * reg * torch.eye(25, dtype=F64)), torch.eye(25, dtype=F64),
                               rtol=1e-8, atol=1e-8)
    torch.testing.assert_close(weights @ k_x, w, rtol=1e-8, atol=1e-10)


def test_estimators_reject_bad_input():
    phi, psi = _data(10, 3, 2)
    with pytest.raises(ShapeError, match=r"psi_y: expected shape \(10, Dy\), got \(9, 2\)"):
        ridge_operator(phi, psi[:9], 0.1)
    with pytest.raises(ShapeError, match=r"phi_x: expected shape \(n, Dx\)"):
        ridge_operator(phi[0], psi, 0.1)
    bad = phi.clone()
    bad[2, 1] = float("nan")
    with pytest.raises(ShapeError, match="phi_x: contains 1 NaN"):
        ridge_operator(bad, psi, 0.1)
    with pytest.raises(ValueError, match="reg: expected a finite non-negative"):
        ridge_operator(phi, psi, -1.0)
    with pytest.raises(ValueError, match="method: expected one of"):
        ridge_operator(phi, psi, 0.1, method="qr")
    with pytest.raises(ValueError, match=r"rank: expected an int in \[1, min\(Dx, Dy\)\] = \[1, 2\], got 3"):
        reduced_rank_operator(phi, psi, 0.1, 3)
    with pytest.raises(ShapeError, match=r"K_xx: expected a square shape"):
        kernel_cme_predict(torch.ones(3, 4, dtype=F64), torch.ones(3, 1, dtype=F64), 0.1)
    with pytest.raises(ShapeError, match=r"k_x: expected shape \(3, m\)"):
        kernel_cme_predict(torch.eye(3, dtype=F64), torch.ones(4, 1, dtype=F64), 0.1)
