"""Schedules: closed forms, derivatives against finite differences, the VP floor, bad parameters."""

from __future__ import annotations

import math

import pytest
import torch
from scipy.integrate import quad

import kernelops as ko
from kernelops.paths import OTSchedule, ScheduleOutput, VESchedule, VPSchedule

F64 = torch.float64
SCHEDULES = [
    OTSchedule(),
    OTSchedule(sigma_min=0.05),
    VPSchedule(),
    VPSchedule(beta_min=1.0, beta_max=5.0),
    VESchedule(),
    VESchedule(sigma_min=0.1, sigma_max=3.0),
]


@pytest.mark.parametrize("schedule", SCHEDULES, ids=repr)
def test_derivatives_equal_central_finite_differences(schedule):
    t = torch.linspace(0.02, 0.98, 25, dtype=F64)
    h = 1e-6
    out, plus, minus = schedule(t), schedule(t + h), schedule(t - h)
    fd_alpha = (plus.alpha - minus.alpha) / (2 * h)
    fd_sigma = (plus.sigma - minus.sigma) / (2 * h)
    torch.testing.assert_close(out.d_alpha, fd_alpha, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(out.d_sigma, fd_sigma, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("schedule", SCHEDULES, ids=repr)
def test_output_is_frozen_and_has_the_shape_and_dtype_of_t(schedule):
    for dtype in (torch.float32, F64):
        t = torch.rand(3, 4, dtype=dtype)
        out = schedule(t)
        assert isinstance(out, ScheduleOutput)
        for value in (out.alpha, out.sigma, out.d_alpha, out.d_sigma):
            assert value.shape == (3, 4) and value.dtype == dtype
    with pytest.raises(AttributeError):
        out.alpha = t  # frozen dataclass


def test_ot_closed_form():
    s = OTSchedule(sigma_min=0.01)
    t = torch.tensor([0.0, 0.25, 1.0], dtype=F64)
    out = s(t)
    torch.testing.assert_close(out.alpha, t)
    torch.testing.assert_close(out.sigma, torch.tensor([1.0, 1 - 0.99 * 0.25, 0.01], dtype=F64))
    torch.testing.assert_close(out.d_alpha, torch.ones(3, dtype=F64))
    torch.testing.assert_close(out.d_sigma, torch.full((3,), -0.99, dtype=F64))


@pytest.mark.parametrize("beta_min,beta_max", [(0.1, 20.0), (1.0, 5.0)])
def test_vp_alpha_is_exp_of_half_the_integrated_beta(beta_min, beta_max):
    """α_t = exp(−½ ∫₀^{1−t} β), integrated numerically here, and α_t² + σ_t² = 1."""
    s = VPSchedule(beta_min=beta_min, beta_max=beta_max)
    ts = [0.0, 0.2, 0.5, 0.9]
    out = s(torch.tensor(ts, dtype=F64))
    for i, t in enumerate(ts):
        integral, _ = quad(lambda u: beta_min + (beta_max - beta_min) * u, 0.0, 1.0 - t)
        assert float(out.alpha[i]) == pytest.approx(math.exp(-0.5 * integral), rel=1e-12)
    torch.testing.assert_close(out.alpha**2 + out.sigma**2, torch.ones(4, dtype=F64))


def test_vp_default_alpha_at_zero_is_about_6p6e_minus_3():
    assert float(VPSchedule()(0.0).alpha) == pytest.approx(math.exp(-5.025), rel=1e-6)
    assert 6.5e-3 < math.exp(-5.025) < 6.6e-3


def test_vp_is_finite_at_t_equal_1_with_the_documented_floor():
    s = VPSchedule()
    out = s(torch.tensor([1.0, 1.0 - 1e-9], dtype=F64))
    for value in (out.alpha, out.sigma, out.d_alpha, out.d_sigma):
        assert bool(torch.isfinite(value).all())
    floor = math.sqrt(VPSchedule.VAR_FLOOR)
    torch.testing.assert_close(out.sigma, torch.full((2,), floor, dtype=F64))
    torch.testing.assert_close(out.alpha, torch.ones(2, dtype=F64), rtol=0, atol=1e-9)
    # σ σ' = −α α' holds exactly, also where the floor acts (the marginal field relies on it)
    torch.testing.assert_close(out.sigma * out.d_sigma, -out.alpha * out.d_alpha)


def test_vp_sigma_near_t_1_is_accurate_in_float32():
    """1 − α² is computed with expm1: float32 keeps σ_t accurate where α_t rounds to 1."""
    s = VPSchedule()
    t32 = torch.tensor([1 - 1e-6, 1 - 1e-5, 1 - 1e-4], dtype=torch.float32)
    s64, s32 = s(t32.double()).sigma, s(t32).sigma  # same (float32-rounded) times
    torch.testing.assert_close(s32.double(), s64, rtol=1e-3, atol=0)
    t64 = torch.tensor([1 - 1e-6], dtype=F64)
    s64 = s(t64).sigma
    assert float(s64[0]) == pytest.approx(math.sqrt(0.1 * 1e-6), rel=1e-3)  # σ² ≈ β_min (1 − t)


def test_ve_is_geometric_between_sigma_max_and_sigma_min():
    s = VESchedule(sigma_min=0.01, sigma_max=10.0)
    out = s(torch.tensor([0.0, 0.5, 1.0], dtype=F64))
    torch.testing.assert_close(out.sigma, torch.tensor([10.0, math.sqrt(0.1), 0.01], dtype=F64))
    torch.testing.assert_close(out.alpha, torch.ones(3, dtype=F64))
    torch.testing.assert_close(out.d_alpha, torch.zeros(3, dtype=F64))
    torch.testing.assert_close(out.d_sigma, -math.log(1000.0) * out.sigma)


@pytest.mark.parametrize(
    "make,name",
    [
        (lambda: OTSchedule(sigma_min=-0.1), "sigma_min"),
        (lambda: OTSchedule(sigma_min=1.0), "sigma_min"),
        (lambda: OTSchedule(sigma_min=float("nan")), "sigma_min"),
        (lambda: OTSchedule(sigma_min="0.1"), "sigma_min"),
        (lambda: VPSchedule(beta_min=5.0, beta_max=1.0), "beta_max"),
        (lambda: VPSchedule(beta_min=-0.1), "beta_min"),
        (lambda: VPSchedule(beta_min=0.0, beta_max=0.0), "beta_max"),
        (lambda: VESchedule(sigma_min=-1.0), "sigma_min"),
        (lambda: VESchedule(sigma_min=0.0), "sigma_min"),
        (lambda: VESchedule(sigma_min=1.0, sigma_max=0.5), "sigma_max"),
        (lambda: VESchedule(sigma_max=True), "sigma_max"),
    ],
)
def test_bad_parameters_raise_value_error_naming_them(make, name):
    with pytest.raises(ValueError, match=name):
        make()


@pytest.mark.parametrize("t", [1.5, -0.1, float("nan"), torch.tensor([0.2, 1.01]), torch.tensor([0.5j])])
def test_times_outside_unit_interval_raise_value_error_naming_t(t):
    with pytest.raises(ValueError, match=r"^t:"):
        VPSchedule()(t)


def test_config_rebuilds_the_schedule():
    for s in SCHEDULES:
        clone = type(s)(**s.config())
        t = torch.rand(7, dtype=F64)
        torch.testing.assert_close(clone(t).sigma, s(t).sigma, rtol=0, atol=0)


@pytest.mark.parametrize("name", ["ot", "vp", "ve"])
def test_prediction_coefficients_turn_the_clean_window_into_the_conditional_velocity(name):
    """u_t(x | x₁) = a_t x + b_t x₁ with (a_t, b_t) = prediction_coefficients(schedule(t))."""
    from kernelops.paths import prediction_coefficients

    path = ko.path(name)
    g = torch.Generator().manual_seed(0)
    x1 = torch.randn(5, 4, 2, generator=g, dtype=torch.float64)
    x0 = torch.randn(5, 4, 2, generator=g, dtype=torch.float64)
    t = torch.linspace(0.1, 0.9, 5, dtype=torch.float64)
    sample = path.sample(x0, x1, t)
    a, b = prediction_coefficients(path.schedule.evaluate(t))
    torch.testing.assert_close(a[:, None, None] * sample.x_t + b[:, None, None] * x1, sample.u_t)
