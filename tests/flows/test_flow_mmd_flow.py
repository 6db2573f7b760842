"""MMDFlow, the classical fixed-kernel MMD gradient flow."""

from __future__ import annotations

import pytest
import torch

from kernelops.errors import ShapeError
from kernelops.flows import MMDFlow


def _gauss(n, shift, seed, d=2):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) + shift


def test_velocity_is_the_closed_form_rbf_witness_gradient():
    target = _gauss(30, 2.0, 0)
    flow = MMDFlow(bandwidth=1.3).fit(target)
    x = _gauss(20, 0.0, 1)
    v = flow.velocity(x)

    def grad_mean_k(points):  # ∇ₓ mean_j k(x, p_j), k = exp(−‖x − p‖²/(2ℓ²))
        diff = x[:, None, :] - points[None, :, :]
        k = torch.exp(-(diff**2).sum(-1) / (2 * 1.3**2))
        return (-(diff / 1.3**2) * k[..., None]).mean(1)

    torch.testing.assert_close(v, -(grad_mean_k(x) - grad_mean_k(target)))


def test_transport_reduces_mmd_to_a_shifted_gaussian_by_a_large_factor():
    target = _gauss(200, torch.tensor([3.0, -2.0], dtype=torch.float64), 0)
    source = _gauss(200, 0.0, 1)
    flow = MMDFlow(step_size=2.0).fit(target)
    result = flow.transport(source, steps=300, return_trajectory=True)
    x, mmd, traj = result
    assert mmd.shape == (301,) and traj.shape == (301, 200, 2)
    torch.testing.assert_close(traj[0], source)
    torch.testing.assert_close(traj[-1], x)
    torch.testing.assert_close(mmd[0], flow.mmd(source))
    assert float(mmd[-1]) < float(mmd[0]) / 10
    assert (x.mean(0) - target.mean(0)).abs().max() < 0.2


def test_noise_injection_and_trailing_shapes():
    target = _gauss(60, 2.0, 0, d=6).reshape(60, 3, 2)
    flow = MMDFlow(noise=0.1, step_size=2.0, seed=3).fit(target)
    out = flow.transport(_gauss(40, 0.0, 1, d=6).reshape(40, 3, 2), steps=50, record_mmd=True)
    assert out.x.shape == (40, 3, 2) and out.trajectory is None
    assert float(out.mmd[-1]) < float(out.mmd[0]) / 2
    again = MMDFlow(noise=0.1, step_size=2.0, seed=3).fit(target).transport(_gauss(40, 0.0, 1, d=6).reshape(40, 3, 2), steps=50)
    torch.testing.assert_close(again.x, out.x)  # seeded noise: reproducible


def test_mmd_flow_errors():
    with pytest.raises(ValueError, match="kernel"):
        MMDFlow(kernel="poly")
    with pytest.raises(ValueError, match="step_size"):
        MMDFlow(step_size=0)
    flow = MMDFlow().fit(_gauss(5, 0.0, 0))
    with pytest.raises(ShapeError, match="x0"):
        flow.transport(torch.zeros(4, 3, dtype=torch.float64))
    with pytest.raises(RuntimeError, match="fit"):
        MMDFlow().velocity(torch.zeros(3, 2))
