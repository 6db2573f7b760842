"""Affine paths OT/VP/VE: endpoints, velocities against finite differences and closed forms, broadcasting, errors."""

from __future__ import annotations

import math

import pytest
import torch

import kernelops as ko
from kernelops.errors import ShapeError
from kernelops.paths import AffinePath, OTPath, PathSample, ProbPath, VEPath, VPPath, VPSchedule

F64 = torch.float64
NAMES = ["ot", "vp", "ve"]
SHAPE = (6, 5, 3)  # (batch, N, d)


def _pair(path, dtype=F64, device="cpu", seed=0):
    g = torch.Generator(device=device).manual_seed(seed)
    x0 = path.sample_source(SHAPE, generator=g, dtype=dtype, device=device)
    x1 = torch.rand(SHAPE, generator=g, dtype=dtype, device=device)  # data in [0, 1]
    return x0, x1


@pytest.mark.parametrize("name", NAMES)
def test_registry_builds_the_right_classes(name):
    path = ko.path(name)
    assert type(path) is {"ot": OTPath, "vp": VPPath, "ve": VEPath}[name]
    assert path.name == name
    assert isinstance(path, ProbPath)
    assert type(ko.path("cond_ot")) is OTPath


@pytest.mark.parametrize("name", NAMES)
def test_t1_returns_the_data_within_sigma_min(name):
    path = ko.path(name)
    x0, x1 = _pair(path)
    x_t = path.interpolate(x0, x1, 1.0)
    sigma_1 = float(path.schedule(torch.tensor(1.0, dtype=F64)).sigma)
    assert sigma_1 <= 0.01 * (1 + 1e-12)  # 1e-4 for OT and VP (floor), σ_min = 0.01 for VE
    eps = x0 / path.source_std
    assert (x_t - x1).abs().max() <= sigma_1 * eps.abs().max() * (1 + 1e-9)
    torch.testing.assert_close(x_t - x1, sigma_1 * eps)


def test_t0_is_the_source_draw_for_ot_and_vp():
    ot = OTPath()
    x0, x1 = _pair(ot)
    torch.testing.assert_close(ot.interpolate(x0, x1, 0.0), x0, rtol=0, atol=0)
    vp = VPPath()
    x0, x1 = _pair(vp)
    alpha_0 = math.exp(-0.5 * (0.1 + 0.5 * 19.9))  # ≈ 6.57e-3
    assert vp.source_std == pytest.approx(math.sqrt(1 - alpha_0**2), rel=1e-12)
    diff = vp.interpolate(x0, x1, 0.0) - x0
    torch.testing.assert_close(diff, alpha_0 * x1)  # the source draw plus α₀ x1
    assert bool((diff.abs() <= 6.6e-3 * x1.abs() + 1e-15).all())


def test_ve_at_t0_has_the_source_std():
    ve = VEPath()
    assert ve.source_std == 10.0
    g = torch.Generator().manual_seed(3)
    x0 = ve.sample_source((20000, 4), generator=g, dtype=F64)
    x1 = torch.rand(20000, 4, generator=g, dtype=F64)
    x_0 = ve.interpolate(x0, x1, 0.0)
    torch.testing.assert_close(x_0 - x1, x0)  # x_0 = x1 + σ_max ε
    # std of x_0 = sqrt(σ_max² + Var U[0,1]) = 10.004, within Monte-Carlo error (~0.3 %)
    assert float(x_0.std()) == pytest.approx(math.sqrt(100 + 1 / 12), rel=0.01)
    assert float(x0.std()) == pytest.approx(10.0, rel=0.01)


@pytest.mark.parametrize("name", NAMES)
def test_velocity_is_the_time_derivative_of_interpolate(name):
    path = ko.path(name)
    x0, x1 = _pair(path)
    h = 1e-6
    for t in (0.05, 0.3, 0.5, 0.75, 0.95):
        fd = (path.interpolate(x0, x1, t + h) - path.interpolate(x0, x1, t - h)) / (2 * h)
        v = path.velocity(x0, x1, t)
        torch.testing.assert_close(v, fd, rtol=1e-6, atol=1e-6 * float(v.abs().max()))
    # per-sample times too
    t = torch.linspace(0.1, 0.9, SHAPE[0], dtype=F64)
    fd = (path.interpolate(x0, x1, t + h) - path.interpolate(x0, x1, t - h)) / (2 * h)
    v = path.velocity(x0, x1, t)
    torch.testing.assert_close(v, fd, rtol=1e-6, atol=1e-6 * float(v.abs().max()))


@pytest.mark.parametrize("name", NAMES)
def test_velocity_equals_conditional_velocity_at_x_t(name):
    path = ko.path(name)
    x0, x1 = _pair(path)
    for t in (0.0, 0.2, 0.6, 0.99, torch.rand(SHAPE[0], dtype=F64)):
        x_t = path.interpolate(x0, x1, t)
        torch.testing.assert_close(path.conditional_velocity(x_t, x1, t), path.velocity(x0, x1, t))


def test_ot_closed_forms():
    sigma_min = 0.02
    path = OTPath(sigma_min=sigma_min)
    x0, x1 = _pair(path)
    t = 0.3
    x_t = path.interpolate(x0, x1, t)
    torch.testing.assert_close(x_t, t * x1 + (1 - (1 - sigma_min) * t) * x0)
    torch.testing.assert_close(path.velocity(x0, x1, t), x1 - (1 - sigma_min) * x0)
    # docs/theory.md: u_t(x | x1) = (x1 − (1 − σ_min) x) / (1 − (1 − σ_min) t)
    x = torch.randn(SHAPE, dtype=F64)
    torch.testing.assert_close(path.conditional_velocity(x, x1, t),
                               (x1 - (1 - sigma_min) * x) / (1 - (1 - sigma_min) * t))


def test_ve_conditional_velocity_pulls_towards_the_data_at_log_ratio_rate():
    """docs/theory.md: u_t(x | x1) = −σ'(s)/σ(s) (x − x1) with s = 1 − t, here −ln(σ_max/σ_min)(x − x1)."""
    path = VEPath(sigma_min=0.05, sigma_max=4.0)
    x1 = torch.rand(SHAPE, dtype=F64)
    x = torch.randn(SHAPE, dtype=F64)
    for t in (0.1, 0.7):
        torch.testing.assert_close(path.conditional_velocity(x, x1, t), -math.log(4.0 / 0.05) * (x - x1))


def test_vp_velocity_closed_form():
    """u = α' x1 + σ' ε with α' = ½ β(1 − t) α and σ' = −α α' / σ."""
    path = VPPath(beta_min=0.5, beta_max=8.0)
    x0, x1 = _pair(path)
    t = 0.4
    s = 1 - t
    alpha = math.exp(-0.5 * (0.5 * s + 0.5 * 7.5 * s * s))
    d_alpha = 0.5 * (0.5 + 7.5 * s) * alpha
    sigma = math.sqrt(1 - alpha**2)
    eps = x0 / path.source_std
    torch.testing.assert_close(path.interpolate(x0, x1, t), alpha * x1 + sigma * eps)
    torch.testing.assert_close(path.velocity(x0, x1, t), d_alpha * x1 - alpha * d_alpha / sigma * eps)


@pytest.mark.parametrize("name", NAMES)
def test_per_sample_t_broadcasts_over_trailing_dims(name):
    path = ko.path(name)
    x0, x1 = _pair(path)
    t = torch.tensor([0.0, 0.1, 0.35, 0.5, 0.8, 1.0], dtype=F64)
    x_t, v = path.interpolate(x0, x1, t), path.velocity(x0, x1, t)
    for i in range(SHAPE[0]):
        torch.testing.assert_close(x_t[i], path.interpolate(x0[i], x1[i], float(t[i])), rtol=1e-14, atol=0)
        torch.testing.assert_close(v[i], path.velocity(x0[i], x1[i], float(t[i])), rtol=1e-14, atol=0)
    # an explicitly shaped (batch, 1, 1) t and a 0-d tensor t mean the same
    torch.testing.assert_close(path.interpolate(x0, x1, t.reshape(-1, 1, 1)), x_t, rtol=0, atol=0)
    torch.testing.assert_close(path.interpolate(x0, x1, torch.tensor(0.35)), path.interpolate(x0, x1, 0.35))


@pytest.mark.parametrize("name", NAMES)
def test_sample_matches_interpolate_and_velocity(name):
    path = ko.path(name)
    x0, x1 = _pair(path)
    t = path.sample_t(SHAPE[0], dtype=F64, generator=torch.Generator().manual_seed(1))
    s = path.sample(x0, x1, t)
    assert isinstance(s, PathSample)
    torch.testing.assert_close(s.x_t, path.interpolate(x0, x1, t))
    torch.testing.assert_close(s.u_t, path.velocity(x0, x1, t))
    assert s.t.shape == (SHAPE[0],) and torch.equal(s.t, t)
    assert s.x0 is x0 and s.x1 is x1
    with pytest.raises(AttributeError):
        s.x_t = x0
    assert path.sample(x0, x1, 0.5).t.shape == ()


@pytest.mark.parametrize("name", NAMES)
def test_sample_source_shape_dtype_std_and_reproducibility(name, device):
    path = ko.path(name)
    g = torch.Generator(device=device).manual_seed(5)
    x = path.sample_source((50000, 2), generator=g, device=device)
    assert x.shape == (50000, 2) and x.dtype == torch.float32 and x.device.type == device.type
    assert float(x.std()) == pytest.approx(path.source_std, rel=0.02)
    assert abs(float(x.mean())) < 0.02 * path.source_std
    again = path.sample_source((50000, 2), generator=torch.Generator(device=device).manual_seed(5), device=device)
    assert torch.equal(x, again)
    assert path.sample_source(7, dtype=F64).shape == (7,)
    with pytest.raises(ValueError, match="dtype"):
        path.sample_source((2,), dtype=torch.int64)


def test_sample_t_range_shape_and_eps():
    path = OTPath()
    g = torch.Generator().manual_seed(0)
    t = path.sample_t(20000, generator=g, eps=0.1)
    assert t.shape == (20000,) and t.dtype == torch.float32
    assert float(t.min()) >= 0.1 and float(t.max()) <= 0.9
    assert float(t.mean()) == pytest.approx(0.5, abs=0.01)
    t0 = path.sample_t(20000, generator=g, eps=0.0)
    assert float(t0.min()) < 1e-3 and float(t0.max()) > 1 - 1e-3
    assert float(path.sample_t(1000).min()) >= 1e-5  # default eps
    for bad in (-1, 2.5, True):
        with pytest.raises(ValueError, match="batch"):
            path.sample_t(bad)
    with pytest.raises(ValueError, match="eps"):
        path.sample_t(3, eps=0.5)


@pytest.mark.parametrize("name", NAMES)
def test_paths_follow_input_dtype_and_device(name, device):
    path = ko.path(name)
    x0, x1 = _pair(path, dtype=torch.float32, device=device)
    t = torch.rand(SHAPE[0], device=device)
    for out in (path.interpolate(x0, x1, t), path.velocity(x0, x1, 0.5), path.sample(x0, x1, t).u_t):
        assert out.dtype == torch.float32 and out.device.type == device.type


@pytest.mark.parametrize("t", [1.2, -0.5, float("nan"), torch.tensor([0.1, 0.2, 0.3, 0.4, 0.5, 1.5])])
def test_times_outside_unit_interval_raise_value_error_naming_t(t):
    path = VPPath()
    x0, x1 = _pair(path)
    for call in (path.interpolate, path.velocity, path.sample, path.conditional_velocity):
        with pytest.raises(ValueError, match=r"^t: expected times in \[0, 1\]"):
            call(x0, x1, t)


def test_bad_shapes_raise_shape_error_naming_the_argument():
    path = OTPath()
    x0, x1 = _pair(path)
    with pytest.raises(ShapeError, match="x0 and x1"):
        path.interpolate(x0, x1[:, :2], 0.5)
    with pytest.raises(ShapeError, match=r"^t:"):
        path.interpolate(x0, x1, torch.rand(SHAPE[0] + 1))
    with pytest.raises(ShapeError, match="x1"):
        path.velocity(x0, x1.numpy(), 0.5)
    with pytest.raises(ValueError, match=r"^t:"):
        path.interpolate(x0, x1, "0.5")
    with pytest.raises(ShapeError, match="mean"):
        path.marginal_velocity(x0[..., :2], 0.5, torch.zeros(3), torch.eye(2))


@pytest.mark.parametrize("name,kwargs", [("ot", {"sigma_min": 0.01}), ("vp", {"beta_min": 0.2, "beta_max": 10.0}),
                                         ("ve", {"sigma_min": 0.05, "sigma_max": 3.0})])
def test_config_rebuilds_the_path(name, kwargs):
    path = ko.path(name, **kwargs)
    assert path.config() == kwargs
    clone = ko.path(path.name, **path.config())
    x0, x1 = _pair(path)
    torch.testing.assert_close(clone.velocity(x0, x1, 0.3), path.velocity(x0, x1, 0.3), rtol=0, atol=0)
    assert repr(path).startswith(type(path).__name__)


def test_affine_path_accepts_any_schedule_and_rejects_non_schedules():
    path = AffinePath(VPSchedule(beta_min=1.0, beta_max=2.0))
    x0, x1 = _pair(path)
    torch.testing.assert_close(path.velocity(x0, x1, 0.4), VPPath(1.0, 2.0).velocity(x0, x1, 0.4))
    with pytest.raises(ValueError, match="schedule"):
        AffinePath("vp")
