"""The pendulum generator: conserved energy, the small-angle closed form, scaling and input checks."""

from __future__ import annotations

import numpy as np
import pytest

from kernelops.data import Pendulum, make_pendulum, pendulum_energy


def test_shape_seed_and_initial_ranges():
    x = make_pendulum(200, seq_len=40, seed=3)
    assert x.shape == (200, 40, 2) and x.dtype == np.float64
    np.testing.assert_array_equal(x, make_pendulum(200, seq_len=40, seed=3))
    assert not np.array_equal(x, make_pendulum(200, seq_len=40, seed=4))
    assert np.abs(x[:, 0, 0]).max() <= 2.0 and np.abs(x[:, 0, 1]).max() <= 1.0
    assert np.abs(x[:, 0, 0]).max() > 1.8  # the range is used, not only small angles


def test_energy_is_conserved_and_below_the_separatrix():
    x = make_pendulum(300, seed=0)
    energy = pendulum_energy(x)
    assert np.abs(energy - energy[:, :1]).max() < 1e-7  # RK4 at h = 0.02
    assert energy.max() < 1.0  # no full turns


def test_small_angles_follow_the_harmonic_closed_form():
    x = make_pendulum(20, seq_len=40, dt=0.2, theta_max=1e-3, omega_max=1e-3, seed=1)
    t = 0.2 * np.arange(40)
    theta0, omega0 = x[:, :1, 0], x[:, :1, 1]
    harmonic = theta0 * np.cos(t) + omega0 * np.sin(t)  # θ'' = −θ
    np.testing.assert_allclose(x[:, :, 0], harmonic, atol=1e-9)  # sin θ − θ = O(θ³) ≈ 1e-10


def test_quarter_period_from_rest_is_the_complete_elliptic_integral():
    # released from rest at θ0 (g/ℓ = 1), the bob first passes θ = 0 after K(m), m = sin²(θ0/2)
    from scipy.special import ellipk

    x = make_pendulum(6, seq_len=300, dt=0.01, theta_max=2.0, omega_max=1e-12, seed=5)
    theta = x[:, :, 0]
    for row in theta:
        k = int(np.argmax(np.sign(row) != np.sign(row[0])))
        crossing = 0.01 * (k - 1 + row[k - 1] / (row[k - 1] - row[k]))  # linear interpolation
        assert crossing == pytest.approx(ellipk(np.sin(row[0] / 2) ** 2), abs=1e-4)
    assert np.abs(theta[:, 0]).max() > 1.5  # large swings are among them (K grows with θ0)


def test_dataset_is_scaled_to_unit_interval_and_scales_back():
    data = Pendulum(num=100, seed=2)
    assert data.windows.shape == (100, 40, 2) and data.windows.dtype == np.float32
    assert data.windows.min() == pytest.approx(0.0, abs=1e-6) and data.windows.max() == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(data.raw_windows(), make_pendulum(100, seed=2), atol=1e-5)
    assert data.feature_names == ["angle", "angular_velocity"]


@pytest.mark.parametrize("kwargs, name", [({"num": 0}, "num"), ({"seq_len": 1.5}, "seq_len"), ({"dt": -0.1}, "dt"),
                                          ({"theta_max": float("nan")}, "theta_max"), ({"substeps": 0}, "substeps")])
def test_bad_arguments_are_named(kwargs, name):
    with pytest.raises(ValueError, match=f"^{name}: expected"):
        make_pendulum(**kwargs)
