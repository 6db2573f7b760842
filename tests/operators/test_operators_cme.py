"""CMEOperator on systems with known answers: a damped rotation, AR(1), observation operators."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from kernelops.errors import ShapeError
from kernelops.operators import CMEOperator, EigResult, NotFittedError, ridge_operator

RHO, THETA = 0.9, 0.3  # as in the rotation_trajectories fixture (conftest.py)
F64 = torch.float64


def test_damped_rotation_spectrum(rotation_trajectories):
    op = CMEOperator(reg=1e-8).fit_trajectories(rotation_trajectories)
    assert op.operator_.shape == (2, 2) and op.n_samples_ == 20 * 59
    res = op.eig()
    assert isinstance(res, EigResult) and res.rank == 2
    expected = RHO * torch.exp(torch.tensor([1j * THETA, -1j * THETA], dtype=torch.complex128))
    assert (res.eigvals - expected).abs().max() < 0.02
    torch.testing.assert_close(res.frequency, torch.tensor([THETA, -THETA], dtype=F64) / (2 * math.pi), atol=2e-3, rtol=0)
    torch.testing.assert_close(res.decay_time, torch.full((2,), -1 / math.log(RHO), dtype=F64), atol=0.3, rtol=0)
    u = op.operator_.to(torch.complex128)
    torch.testing.assert_close(u @ res.right, res.right * res.eigvals, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(res.left.mH @ res.right, torch.eye(2, dtype=torch.complex128), rtol=1e-10, atol=1e-10)


def test_fit_trajectories_pools_consecutive_pairs(rotation_trajectories):
    z = rotation_trajectories
    pairs = CMEOperator(reg=1e-3).fit(z[:, :-1].reshape(-1, 2), z[:, 1:].reshape(-1, 2))
    traj = CMEOperator(reg=1e-3).fit_trajectories(z)
    torch.testing.assert_close(traj.operator_, pairs.operator_, rtol=1e-12, atol=1e-12)
    single = CMEOperator(reg=1e-3).fit_trajectories(z[3])  # (N, d): one trajectory
    torch.testing.assert_close(single.operator_, CMEOperator(reg=1e-3).fit(z[3, :-1], z[3, 1:]).operator_)


def _ar1(n=2000, a=0.6, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, generator=g, dtype=F64)
    return x, a * x + 0.2 * torch.randn(n, 1, generator=g, dtype=F64)


def test_ar1_predict_is_the_conditional_mean_and_ridge_shrinks():
    x, y = _ar1()
    op = CMEOperator(reg=1e-6).fit(x, y)
    xq = torch.linspace(-2, 2, 9, dtype=F64)[:, None]
    torch.testing.assert_close(op.predict(xq), 0.6 * xq, atol=0.03, rtol=0)
    c_xx, c_yx = float((x * x).mean()), float((y * x).mean())
    for reg in (0.5, 100.0):
        u = float(CMEOperator(reg=reg).fit(x, y).operator_)
        assert u == pytest.approx(c_yx / (c_xx + reg), rel=1e-12)
    assert abs(float(CMEOperator(reg=100.0).fit(x, y).operator_)) < 0.01


def test_apply_pushes_mean_embeddings_forward():
    x, y = _ar1(200)
    op = CMEOperator(feature_map=lambda v: torch.cat([v, v**2, torch.ones_like(v)], -1), reg=1e-3).fit(x, y)
    phi = torch.cat([x, x**2, torch.ones_like(x)], -1)
    # μ_Y = U μ_X: the embedding of the input law pushed forward equals the mean prediction
    torch.testing.assert_close(op.apply(phi.mean(0)), op.predict(x).mean(0), rtol=1e-12, atol=1e-12)
    batch = torch.randn(4, 5, 3, dtype=F64)
    torch.testing.assert_close(op.apply(batch), torch.einsum("yx,abx->aby", op.operator_, batch))


def test_feature_map_learns_a_nonlinear_conditional_mean():
    g = torch.Generator().manual_seed(1)
    x = 2 * torch.rand(500, 1, generator=g, dtype=F64) - 1
    y = torch.cat([x**2 - 0.5 * x, torch.sin(3 * x)], -1)
    y = y + 0.05 * torch.randn(500, 2, generator=g, dtype=F64)
    poly = lambda v: torch.cat([v**k for k in range(8)], -1)  # noqa: E731
    op = CMEOperator(feature_map=poly, target_feature_map=lambda v: v, reg=1e-9).fit(x, y)
    assert op.operator_.shape == (2, 8)
    xq = torch.linspace(-0.9, 0.9, 7, dtype=F64)[:, None]
    torch.testing.assert_close(op.predict(xq), torch.cat([xq**2 - 0.5 * xq, torch.sin(3 * xq)], -1), atol=0.03, rtol=0)


def test_svd_of_non_square_observation_operator_and_eig_refuses():
    g = torch.Generator().manual_seed(2)
    z = torch.randn(300, 3, generator=g, dtype=F64)
    obs = torch.randn(5, 3, generator=g, dtype=F64)
    x = z @ obs.T + 0.01 * torch.randn(300, 5, generator=g, dtype=F64)
    op = CMEOperator(reg=1e-6).fit(z, x)
    assert op.operator_.shape == (5, 3)
    res = op.svd()
    assert res.rank == 3 and res.left.shape == (5, 3) and res.right.shape == (3, 3)
    np.testing.assert_allclose(res.singular_values.numpy(), np.linalg.svd(op.operator_.numpy(), compute_uv=False),
                               rtol=1e-12)
    torch.testing.assert_close(op.operator_, obs, atol=0.01, rtol=0)
    with pytest.raises(ShapeError, match=r"eig needs a square operator .* \(5, 3\); use svd\(\)"):
        op.eig()


def test_reduced_rank_operator_modes(rotation_trajectories):
    # embed the 2-d rotation in 4-d with two fast-decaying extra coordinates
    g = torch.Generator().manual_seed(3)
    z = rotation_trajectories
    extra = 0.05 * torch.randn(*z.shape[:2], 2, generator=g, dtype=F64)
    z4 = torch.cat([z, extra], -1)
    full = CMEOperator(reg=1e-8).fit_trajectories(z4)
    rrr = CMEOperator(reg=1e-8, rank=2, estimator="rrr").fit_trajectories(z4)
    s = torch.linalg.svdvals(rrr.operator_)
    assert (s[2:] < 1e-12 * s[0]).all() and (s[:2] > 0.5).all()
    res = rrr.eig()
    assert res.rank == 2
    dense = np.linalg.eigvals(rrr.operator_.numpy())
    for v in res.eigvals.numpy():  # the modes are the nonzero eigenvalues of operator_
        assert np.min(np.abs(dense - v)) < 1e-9
    torch.testing.assert_close(rrr.operator_.to(torch.complex128) @ res.right, res.right * res.eigvals)
    torch.testing.assert_close(res.left.mH @ res.right, torch.eye(2, dtype=torch.complex128))
    expected = RHO * torch.exp(torch.tensor([1j * THETA, -1j * THETA], dtype=torch.complex128))
    assert (res.eigvals - expected).abs().max() < 0.02
    assert (full.eig(k=2).eigvals - res.eigvals).abs().max() < 0.02
    assert rrr.svd().rank == 2
    full_rank = CMEOperator(reg=1e-8, rank=4, estimator="rrr").fit_trajectories(z4)
    torch.testing.assert_close(full_rank.operator_, full.operator_, rtol=1e-8, atol=1e-10)


def test_operator_follows_device_and_dtype(device, rotation_trajectories):
    z = rotation_trajectories.float().to(device)
    op = CMEOperator(reg=1e-6).fit_trajectories(z)
    assert op.operator_.dtype == torch.float32 and op.operator_.device.type == device.type
    res = op.eig()
    assert res.eigvals.dtype == torch.complex64 and res.eigvals.device.type == device.type
    assert op.predict(z[0, :3]).device.type == device.type
    ref = ridge_operator(rotation_trajectories[:, :-1].reshape(-1, 2), rotation_trajectories[:, 1:].reshape(-1, 2), 1e-6)
    torch.testing.assert_close(op.operator_.double().cpu(), ref, atol=1e-4, rtol=1e-4)


def test_cme_bad_input():
    x, y = _ar1(50)
    op = CMEOperator()
    for call in (lambda: op.predict(x), lambda: op.eig(), lambda: op.svd(), lambda: op.apply(x)):
        with pytest.raises(NotFittedError, match="call fit first"):
            call()
    assert isinstance(NotFittedError("x"), RuntimeError)
    with pytest.raises(ShapeError, match=r"Y: expected shape \(50, d'\), got \(49, 1\)"):
        op.fit(x, y[:49])
    with pytest.raises(ShapeError, match=r"X: expected shape \(n, d\), got \(50\)"):
        op.fit(x[:, 0], y)
    bad = y.clone()
    bad[7] = float("nan")
    with pytest.raises(ShapeError, match="Y: contains 1 NaN"):
        op.fit(x, bad)
    with pytest.raises(ShapeError, match=r"Z: expected at least 2 time steps"):
        op.fit_trajectories(torch.zeros(3, 1, 2, dtype=F64))
    with pytest.raises(ShapeError, match=r"Z: expected a 2 or 3-d tensor"):
        op.fit_trajectories(torch.zeros(5, dtype=F64))
    op.fit(x, y)
    with pytest.raises(ShapeError, match=r"x: expected shape \(m, 1\), got \(4, 2\)"):
        op.predict(torch.zeros(4, 2, dtype=F64))
    with pytest.raises(ShapeError, match=r"mu: expected shape \(\.\.\., 1\), got \(3, 2\)"):
        op.apply(torch.zeros(3, 2, dtype=F64))
    with pytest.raises(ShapeError, match=r"features of X: expected shape \(50, D\)"):
        CMEOperator(feature_map=lambda v: v[:10]).fit(x, y)
    with pytest.raises(ValueError, match="rank: estimator='rrr' needs a rank"):
        CMEOperator(estimator="rrr")
    with pytest.raises(ValueError, match="rank: only used by estimator='rrr'"):
        CMEOperator(rank=2)
    with pytest.raises(ValueError, match="estimator: expected one of"):
        CMEOperator(estimator="lasso")
    with pytest.raises(ValueError, match=r"rank: expected at most min\(Dx, Dy\) = 1"):
        CMEOperator(rank=2, estimator="rrr").fit(x, y)
    with pytest.raises(ValueError, match="reg: expected a finite non-negative"):
        CMEOperator(reg=float("nan"))


@pytest.mark.parametrize("complex_features", [False, True])
def test_registered_rff_features_learn_a_nonlinear_conditional_mean(complex_features):
    import kernelops as ko

    g = torch.Generator().manual_seed(0)
    x = 4 * torch.rand(800, 1, generator=g, dtype=F64) - 2
    y = torch.sin(2 * x) + 0.05 * torch.randn(800, 1, generator=g, dtype=F64)
    fm = ko.feature_map("rff", in_dim=1, out_dim=200, bandwidth=0.5, complex=complex_features, seed=0, dtype=F64)
    op = CMEOperator(feature_map=fm, target_feature_map=lambda v: v, reg=1e-6).fit(x, y)
    assert op.operator_.shape == (1, 200) and op.operator_.is_complex() == complex_features
    xq = torch.linspace(-1.8, 1.8, 13, dtype=F64)[:, None]
    pred = op.predict(xq)
    assert (pred.real - torch.sin(2 * xq)).abs().max() < 0.05
    if complex_features:  # E[Y|x] is real: the fitted embedding has (almost) no imaginary part
        assert pred.imag.abs().max() < 0.01


def test_affine_features_add_the_constant_mode(rotation_trajectories):
    import kernelops as ko

    fm = ko.feature_map("linear", in_dim=2, constant=1.0)
    res = CMEOperator(feature_map=fm, reg=1e-8).fit_trajectories(rotation_trajectories).eig()
    expected = torch.tensor([1.0, RHO * np.exp(1j * THETA), RHO * np.exp(-1j * THETA)], dtype=torch.complex128)
    assert (res.eigvals - expected).abs().max() < 0.02
    assert math.isinf(res.decay_time[0]) or res.decay_time[0] > 1e4
