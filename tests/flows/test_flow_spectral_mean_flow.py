"""SpectralMeanFlow: curl-free field, flow-matching loss, training, sampling, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import kernelops as ko
from kernelops.errors import ShapeError, UnknownPluginError
from kernelops.features.kernels import rbf_kernel
from kernelops.flows import SpectralMeanFlow


def _tiny(path="ot", **kw):
    args = dict(path=path, depth=1, width=4, time_features=2, dtype=torch.float64, seed=0)
    args.update(kw)
    return SpectralMeanFlow(**args)


def _data(n=64, N=3, d=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return 0.5 + 0.2 * torch.rand(n, N, d, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("path", ["ot", "vp", "ve"])
def test_jacobian_of_trained_field_is_symmetric(path):
    """v_t = −∇f_t: after a little training, ∂v/∂x is symmetric (curl-free) on every path."""
    model = _tiny(path).fit(_data(), steps=3, batch_size=8, lr=1e-2, warmup=0, progress=False)
    assert model.step == 3
    x = torch.randn(1, 3, 2, dtype=torch.float64)
    for t in (0.2, 0.8):
        jac = torch.autograd.functional.jacobian(lambda z: model.velocity(z, t, create_graph=True), x)
        jac = jac.reshape(6, 6)
        assert jac.abs().max() > 1e-8
        torch.testing.assert_close(jac, jac.T, atol=1e-10, rtol=1e-8)
        # and it is −(Hessian of f) computed independently
        hess = torch.autograd.functional.hessian(lambda z: model.potential(z, t).sum(), x).reshape(6, 6)
        torch.testing.assert_close(jac, -hess, atol=1e-10, rtol=1e-8)


def test_loss_is_flow_matching_objective():
    """loss(x1, g) = mean (v_t(x_t) − u_t)² with t, x0 drawn from g in that order."""
    model = _tiny("vp", in_dim=2, seq_len=3)
    x1 = _data(5)
    loss = model.loss(x1, generator=torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(3)
    t = model.path.sample_t(5, generator=g, dtype=torch.float64)
    x0 = model.path.sample_source((5, 3, 2), generator=g, dtype=torch.float64)
    ps = model.path.sample(x0, model.to_model(x1), t)
    v = model.velocity(ps.x_t, t, create_graph=False)
    torch.testing.assert_close(loss.detach(), (v - ps.u_t).square().mean())
    loss.backward()  # differentiable in the parameters through the gradient
    assert model.net.heads.L.grad.abs().max() > 0


def test_raw_chain_design_scaling_starts_near_zero_velocity():
    """The design's scaling with the raw chain (depth 4, width 64, N = 24): loss ≈ E[u²], not 10¹¹."""
    model = SpectralMeanFlow(path="ot", depth=4, width=64, seed=0, chain_norm="none", field_scale=None,
                             in_dim=5, seq_len=24)
    x1 = 0.5 + 0.5 * torch.rand(32, 24, 5, generator=torch.Generator().manual_seed(0))
    loss = float(model.loss(x1, generator=torch.Generator().manual_seed(0)).detach())
    g = torch.Generator().manual_seed(0)
    t = model.path.sample_t(32, generator=g)
    x0 = model.path.sample_source((32, 24, 5), generator=g)
    zero_v = float(model.path.sample(x0, model.to_model(x1), t).u_t.square().mean())
    assert abs(loss - zero_v) < 0.15 * zero_v, (loss, zero_v)


@pytest.mark.parametrize("chain_norm", ["pair", "none"])
def test_calibration_sets_the_initial_velocity_scale_exactly(chain_norm):
    model = _tiny("vp", chain_norm=chain_norm, init_velocity=0.7, in_dim=2, seq_len=3)
    data = _data(50)
    x = model.to_model(data[:8])
    v_before = model.velocity(x, 0.4, create_graph=False)
    factor = model.calibrate(data, batch=16)
    # v is linear in H: the whole field is multiplied by the factor (also in the EMA copy)
    torch.testing.assert_close(model.velocity(x, 0.4, create_graph=False), factor * v_before)
    torch.testing.assert_close(model.velocity(x, 0.4, ema=True), factor * v_before)
    # and on the calibration batch (same seeded draws) its rms is the target
    g = torch.Generator().manual_seed(model.seed + 104729)
    idx = torch.randint(50, (16,), generator=g)
    x1 = model.to_model(data[idx])
    t = model.path.sample_t(16, generator=g, dtype=torch.float64)
    x0 = model.path.sample_source((16, 3, 2), generator=g, dtype=torch.float64)
    v = model.velocity(model.path.sample(x0, x1, t).x_t, t, create_graph=False)
    assert abs(float(v.square().mean().sqrt()) - 0.7) < 1e-10
    # fit calibrates once, before the first step only
    expected = _tiny("vp", chain_norm=chain_norm, init_velocity=0.7).calibrate(data)
    fresh = _tiny("vp", chain_norm=chain_norm, init_velocity=0.7)
    fresh.fit(data, steps=1, batch_size=8, progress=False)
    assert fresh.calibration == pytest.approx(expected)
    fresh.fit(data, steps=2, progress=False)
    assert fresh.calibration == pytest.approx(expected)
    assert _tiny("vp", init_velocity=None).fit(data, steps=1, batch_size=8, progress=False).calibration is None


@pytest.mark.parametrize("t", [0.0, 0.3, 0.9, 0.999])
def test_path_field_scale_closed_forms(t):
    """c(t) = |a_t| + |b_t| of u_t = a_t x + b_t x₁: 2/σ_t for OT (σ floored), 2·log(σmax/σmin) for VE."""
    from kernelops.flows.spectral_mean_flow import SIGMA_FLOOR, path_field_scale

    tt = torch.tensor([t], dtype=torch.float64)
    ot = ko.path("ot", sigma_min=0.0)
    sigma = max(1 - t, SIGMA_FLOOR)
    # a = −1/σ, b = 1 + t/σ: c = (1 + σ + t)/σ, = 2/σ_t above the floor
    assert float(path_field_scale(ot.schedule, tt)) == pytest.approx((1 + sigma + t) / sigma, rel=1e-12)
    if 1 - t >= SIGMA_FLOOR:
        assert float(path_field_scale(ot.schedule, tt)) == pytest.approx(2 / (1 - t), rel=1e-12)
    ve = ko.path("ve", sigma_min=0.01, sigma_max=10.0)
    assert float(path_field_scale(ve.schedule, tt)) == pytest.approx(2 * np.log(1000.0), rel=1e-10)
    # and the two coefficients reproduce the path's own conditional target
    for path in (ot, ve, ko.path("vp")):
        g = torch.Generator().manual_seed(0)
        x1, x0 = torch.randn(2, 3, 2, generator=g, dtype=torch.float64), torch.randn(2, 3, 2, generator=g, dtype=torch.float64)
        ps = path.sample(x0, x1, torch.full((2,), min(t, 0.98), dtype=torch.float64))
        out = path.schedule.evaluate(torch.tensor(min(t, 0.98), dtype=torch.float64))
        a = out.d_sigma / out.sigma
        torch.testing.assert_close(ps.u_t, a * ps.x_t + (out.d_alpha - a * out.alpha) * x1)


def test_field_scale_multiplies_the_unscaled_field_and_stays_a_gradient():
    """field_scale="path": v = c(t)·(−∇f) with the same network; −∇ of potential() is v."""
    scaled = _tiny("ot", in_dim=2, seq_len=3, init_velocity=None, field_scale="path")
    plain = _tiny("ot", in_dim=2, seq_len=3, init_velocity=None, field_scale=None)
    plain.net.load_state_dict(scaled.net.state_dict())
    from kernelops.flows.spectral_mean_flow import path_field_scale

    x = torch.randn(4, 3, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    t = torch.tensor([0.1, 0.5, 0.9, 0.97], dtype=torch.float64)
    c = path_field_scale(scaled.path.schedule, t)
    assert c[-1] > 10 * c[0]
    torch.testing.assert_close(scaled.velocity(x, t), c[:, None, None] * plain.velocity(x, t))
    xg = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(scaled.potential(xg, t).sum(), xg)
    torch.testing.assert_close(scaled.velocity(x, t), -grad)
    with pytest.raises(ValueError, match="field_scale"):
        _tiny("ot", field_scale="sigma")


def test_field_scale_is_kept_by_checkpoints_and_old_ones_load_unscaled(tmp_path):
    model = _tiny("ot", field_scale="path").fit(_data(), steps=2, batch_size=8, progress=False)
    path = model.save(tmp_path / "m.pt")
    assert SpectralMeanFlow.load(path).field_scale == "path"
    state = torch.load(path, weights_only=False)
    del state["config"]["field_scale"]  # written before the option existed
    torch.save(state, tmp_path / "old.pt")
    old = SpectralMeanFlow.load(tmp_path / "old.pt")
    assert old.field_scale is None
    x = model.to_model(_data(3))
    plain = model.velocity(x, 0.5, ema=True) / float(path_scale(model, 0.5))
    torch.testing.assert_close(old.velocity(x, 0.5, ema=True), plain)


def path_scale(model, t):
    from kernelops.flows.spectral_mean_flow import path_field_scale

    return path_field_scale(model.path.schedule, torch.tensor([t], dtype=torch.float64))


@pytest.mark.slow
def test_flow_matching_moves_samples_onto_a_gaussian_target():
    """N = 2 steps × d = 1: a correlated 2-D Gaussian. MMD to the target falls far below the source's."""
    g = torch.Generator().manual_seed(0)
    n = 2000
    mean = torch.tensor([0.7, 0.3], dtype=torch.float64)
    chol = torch.tensor([[0.08, 0.0], [0.06, 0.03]], dtype=torch.float64)
    data = (mean + torch.randn(n, 2, generator=g, dtype=torch.float64) @ chol.T).reshape(n, 2, 1)
    model = SpectralMeanFlow(path="ot", depth=1, width=8, dtype=torch.float64, seed=0)
    model.fit(data, steps=250, batch_size=128, lr=2e-2, warmup=20, progress=False)
    fake = model.sample(500, steps=16, seed=1).reshape(500, 2)
    source = model.from_model(model.path.sample_source((500, 2), generator=torch.Generator().manual_seed(2),
                                                       dtype=torch.float64))
    target = data[:500].reshape(500, 2)

    def mmd(a, b):
        return float((rbf_kernel(a, a, 0.1).mean() + rbf_kernel(b, b, 0.1).mean()
                      - 2 * rbf_kernel(a, b, 0.1).mean()).clamp_min(0).sqrt())

    before, after = mmd(source, target), mmd(fake, target)
    assert after < before / 5, (before, after)
    # the sample mean and correlation are those of the target
    assert (fake.mean(0) - mean).abs().max() < 0.05
    assert np.corrcoef(fake.T.numpy())[0, 1] > 0.5


def test_sample_shapes_lengths_nfe_and_determinism():
    model = _tiny("ot", in_dim=2, seq_len=3)
    out, nfe = model.sample(5, steps=3, solver="midpoint", batch_size=2, return_nfe=True, seed=4)
    assert out.shape == (5, 3, 2) and nfe == 6
    torch.testing.assert_close(model.sample(5, steps=3, solver="midpoint", batch_size=5, seed=4), out)
    assert model.sample(2, steps=2, seq_len=7, seed=0).shape == (2, 7, 2)  # any length
    _, nfe_e = model.sample(2, steps=4, solver="euler", return_nfe=True, seed=0)
    assert nfe_e == 4
    # sampling is the solver's integral of the velocity: Euler by hand gives the same result
    g = torch.Generator().manual_seed(9)
    x = model.path.sample_source((2, 3, 2), generator=g, dtype=torch.float64)
    for i in range(4):
        x = x + 0.25 * model.velocity(x, torch.tensor(i * 0.25, dtype=torch.float64), ema=True)
    torch.testing.assert_close(model.sample(2, steps=4, solver="euler", seed=9), model.from_model(x))


def test_sample_with_adaptive_solver_refuses_steps():
    model = _tiny("ot", in_dim=2, seq_len=3)
    out, nfe = model.sample(2, solver="dopri5", seed=0, return_nfe=True, solver_kwargs={"rtol": 1e-3, "atol": 1e-3})
    assert out.shape == (2, 3, 2) and nfe > 0
    with pytest.raises(ValueError, match="adaptive"):
        model.sample(2, steps=4, solver="dopri5")


def test_ema_weights_are_used_for_sampling():
    model = _tiny("ot").fit(_data(), steps=4, batch_size=8, lr=5e-2, warmup=0, progress=False)
    assert model.ema.updates == 4
    raw = model.sample(3, steps=2, seed=1, ema=False)
    ema = model.sample(3, steps=2, seed=1)
    assert (raw - ema).abs().max() > 0
    with torch.no_grad():
        for p_ema, p in zip(model.ema.module.parameters(), model.net.parameters()):
            p_ema.copy_(p)
    torch.testing.assert_close(model.sample(3, steps=2, seed=1), raw)


def test_rank_mode_and_bad_arguments():
    model = SpectralMeanFlow(path="ot", depth=2, width=8, rank=6, mode="svd", in_dim=3, seq_len=4)
    assert model.net.heads.block_rank == 3 and not model.net.heads.eigvals().is_complex()
    with pytest.raises(UnknownPluginError, match="known paths"):
        SpectralMeanFlow(path="nope")
    with pytest.raises(UnknownPluginError, match="known solvers"):
        SpectralMeanFlow(solver="nope")
    with pytest.raises(ValueError, match="rank"):
        SpectralMeanFlow(depth=2, rank=3)
    with pytest.raises(ValueError, match="mode"):
        SpectralMeanFlow(mode="eig")
    with pytest.raises(ValueError, match="width"):
        SpectralMeanFlow(width=7)
    fitted = _tiny(in_dim=2, seq_len=3)
    with pytest.raises(ShapeError, match="data"):
        fitted.fit(torch.rand(4, 3, 5, dtype=torch.float64), steps=1, progress=False)
    with pytest.raises(ShapeError, match="data"):
        fitted.fit(torch.rand(4, 3), steps=1, progress=False)
    with pytest.raises(ShapeError, match="NaN"):
        fitted.fit(torch.full((4, 3, 2), float("nan"), dtype=torch.float64), steps=1, progress=False)
    with pytest.raises(ValueError, match="steps"):
        fitted.fit(_data(), steps=-1, progress=False)
    with pytest.raises(ValueError, match="seq_len"):
        fitted.sample(2, seq_len=1)


def test_registered_paths_and_solvers_by_name():
    for path in ko.list_plugins("paths")["paths"]:
        model = SpectralMeanFlow(path=path, depth=1, width=4, in_dim=1, seq_len=2, dtype=torch.float64)
        assert model.path_name == path and model.config()["path"] == path


def test_posterior_target_loss_is_the_conditional_loss_less_the_target_variance():
    """Same model, same t and noise: E(v − u_c)² = E(v − u_post)² + E(u_c − u_post)² up to the
    cross term, which vanishes in expectation; on 4096 draws it is small next to both."""
    model = _tiny("ot", in_dim=2, seq_len=3)
    reference = model.to_model(_data(64))  # the training set the windows are drawn from
    x1 = reference[torch.randint(64, (4096,), generator=torch.Generator().manual_seed(6))]
    with torch.no_grad():
        cond = model._flow_matching_loss(x1, torch.Generator().manual_seed(7), torch.Generator().manual_seed(8))
        post = model._flow_matching_loss(x1, torch.Generator().manual_seed(7), torch.Generator().manual_seed(8),
                                         reference)
        g = torch.Generator().manual_seed(7)
        t = model.path.sample_t(4096, generator=g, dtype=torch.float64)
        x0 = model.path.sample_source(tuple(x1.shape), generator=torch.Generator().manual_seed(8), dtype=torch.float64)
        ps = model.path.sample(x0, x1, t)
        variance = (ps.u_t - model.path.posterior_velocity(ps.x_t, t, reference)).square().mean()
    assert post < cond
    torch.testing.assert_close(cond, post + variance, rtol=0.03, atol=0.0)


def test_fit_with_the_posterior_target_trains_resumes_and_is_checked(tmp_path):
    data = _data()
    full = _tiny("vp").fit(data, steps=4, batch_size=8, target="posterior", progress=False)
    assert full.train_config["target"] == "posterior" and np.isfinite(full.history[-1][1])
    half = _tiny("vp").fit(data, steps=2, batch_size=8, target="posterior", progress=False)
    resumed = SpectralMeanFlow.load(half.save(tmp_path / "m.pt")).fit(data, steps=4, progress=False)
    assert resumed.train_config["target"] == "posterior"  # the checkpoint's setting carries on
    torch.testing.assert_close(resumed.net.heads.H, full.net.heads.H)
    plain = _tiny("vp").fit(data, steps=4, batch_size=8, progress=False)
    assert not torch.allclose(plain.net.heads.H, full.net.heads.H)
    with pytest.raises(ValueError, match="target: expected one of"):
        _tiny("ot").fit(data, steps=1, target="marginal", progress=False)


def test_a_large_data_set_uses_a_reference_subset_that_contains_the_batch(monkeypatch):
    import kernelops.flows.spectral_mean_flow as smf

    monkeypatch.setattr(smf, "POSTERIOR_MAX_REFERENCE", 10)
    model = _tiny("ot")
    x = torch.arange(40 * 6, dtype=torch.float64).reshape(40, 3, 2)
    idx = torch.tensor([3, 17, 39])
    ref = model._posterior_reference(x, idx, torch.Generator().manual_seed(0))
    assert ref.shape == (13, 3, 2)
    torch.testing.assert_close(ref[-3:], x[idx])
    assert model._posterior_reference(x[:10], idx[:1], torch.Generator()).shape == (10, 3, 2)
