"""Adaptive torchdiffeq-backed solvers: accuracy at tolerance, NFE counting, output grids, errors."""

from __future__ import annotations

import math

import pytest
import torch

import kernelops as ko
from kernelops.solvers import AdaptiveHeun, Bosh3, Dopri5, Dopri8

F64 = torch.float64
A = torch.tensor([[-0.3, -2.0, 0.5], [2.0, -0.3, 0.0], [0.1, 0.4, -1.0]], dtype=F64)
ADAPTIVE = {"dopri5": Dopri5, "dopri8": Dopri8, "bosh3": Bosh3, "adaptive_heun": AdaptiveHeun}
# tight tolerances per method: the low-order ones need thousands of tiny torchdiffeq steps (~2 ms each) below these
TIGHT = {"dopri5": 1e-8, "dopri8": 1e-8, "bosh3": 1e-7, "adaptive_heun": 1e-5}


class Counted:
    """dx/dt = Ax, counting calls and recording what t looks like."""

    def __init__(self):
        self.calls = 0
        self.ts = []

    def __call__(self, t, x):
        self.calls += 1
        self.ts.append(t)
        return x @ A.T.to(x.dtype)


def _x0(dtype=F64):
    return torch.randn(5, 3, generator=torch.Generator().manual_seed(0), dtype=dtype)


def _expm(t=1.0):
    return torch.linalg.matrix_exp(t * A)


@pytest.mark.parametrize("name", list(ADAPTIVE))
def test_registry_and_attributes(name):
    solver = ko.solver(name)
    assert type(solver) is ADAPTIVE[name] and solver.name == name and solver.is_adaptive is True
    assert (solver.rtol, solver.atol) == (1e-5, 1e-5)
    assert type(ko.solver(name, **solver.config())) is type(solver)


def test_dopri5_reaches_1e_minus_6_and_counts_nfe_exactly():
    f = Counted()
    x0 = _x0()
    result = ko.solver("dopri5").solve(f, x0, rtol=1e-8, atol=1e-8)
    assert float((result.x - x0 @ _expm().T).abs().max()) < 1e-6
    assert result.nfe == f.calls > 0
    assert result.trajectory is None and result.times is None


@pytest.mark.parametrize("name", list(ADAPTIVE))
def test_error_follows_the_tolerance(name):
    solver = ko.solver(name)
    x0, exact = _x0(), _x0() @ _expm().T
    loose, tight = (solver.solve(Counted(), x0, rtol=tol, atol=tol) for tol in (1000 * TIGHT[name], TIGHT[name]))
    e_loose, e_tight = (float((r.x - exact).abs().max()) for r in (loose, tight))
    assert e_tight < 100 * TIGHT[name] and e_loose < 1e5 * TIGHT[name]
    assert e_tight < e_loose / 20  # a thousand-fold tighter tolerance buys a real improvement
    assert tight.nfe > loose.nfe


@pytest.mark.parametrize("name", list(ADAPTIVE))
def test_output_grid_returns_the_trajectory_at_those_times(name):
    solver = ko.solver(name, rtol=TIGHT[name], atol=TIGHT[name])
    grid = torch.tensor([0.0, 0.13, 0.5, 0.51, 1.0], dtype=F64)
    x0 = _x0()
    f = Counted()
    seen = []
    result = solver.solve(f, x0, grid=grid, callback=lambda t, x: seen.append(float(t)))
    assert result.trajectory.shape == (5, 5, 3) and torch.equal(result.times, grid)
    for i, t in enumerate(grid.tolist()):
        assert float((result.trajectory[i] - x0 @ _expm(t).T).abs().max()) < 100 * TIGHT[name]
    assert result.nfe == f.calls
    assert seen == grid[1:].tolist()
    traj = solver.solve(Counted(), x0, 0.0, 0.5, return_trajectory=True)
    torch.testing.assert_close(traj.times, torch.tensor([0.0, 0.5], dtype=F64))
    assert torch.equal(traj.trajectory[0], x0) and torch.equal(traj.trajectory[-1], traj.x)


@pytest.mark.parametrize("name", list(ADAPTIVE))
def test_backward_integration(name):
    solver = ko.solver(name, rtol=TIGHT[name], atol=TIGHT[name])
    x0 = _x0()
    back = solver.solve(Counted(), x0 @ _expm().T, 1.0, 0.0)
    assert float((back.x - x0).abs().max()) < 100 * TIGHT[name]
    grid = torch.linspace(1.0, 0.0, 3, dtype=F64)
    res = solver.solve(Counted(), x0 @ _expm().T, grid=grid)
    assert float((res.trajectory[1] - x0 @ _expm(0.5).T).abs().max()) < 100 * TIGHT[name]


@pytest.mark.parametrize("name", list(ADAPTIVE))
def test_f_gets_t_as_0d_tensor_of_x0_dtype(name, device):
    f = Counted()
    x0 = _x0(torch.float32).to(device)
    result = ko.solver(name).solve(f, x0)
    assert result.x.dtype == torch.float32 and result.x.device.type == device.type
    assert {(t.dim(), t.dtype, t.device.type) for t in f.ts} == {(0, torch.float32, device.type)}
    assert float((result.x.double().cpu() - _x0() @ _expm().T).abs().max()) < 1e-3


@pytest.mark.parametrize("name", list(ADAPTIVE))
def test_passing_steps_is_an_error_that_says_what_to_do(name):
    with pytest.raises(ValueError, match=f"^{name} is adaptive: pass rtol/atol instead of steps"):
        ko.solver(name).solve(Counted(), _x0(), 0.0, 1.0, 10)


def test_bad_tolerances_and_times():
    with pytest.raises(ValueError, match="rtol"):
        Dopri5(rtol=-1.0)
    with pytest.raises(ValueError, match="atol"):
        Dopri5(atol=0.0)
    with pytest.raises(ValueError, match="rtol"):
        Dopri5().solve(Counted(), _x0(), rtol=float("nan"))
    with pytest.raises(ValueError, match="t0 and t1 must differ"):
        Dopri5().solve(Counted(), _x0(), 0.3, 0.3)
    with pytest.raises(ValueError, match="grid"):
        Dopri5().solve(Counted(), _x0(), grid=torch.tensor([0.0, 1.0, 0.5]))


def test_options_reach_torchdiffeq():
    """max_num_steps is a torchdiffeq option: with 2 allowed steps the stiff-ish solve must stop."""
    solver = Dopri5(rtol=1e-10, atol=1e-10, max_num_steps=2)
    assert solver.config()["max_num_steps"] == 2
    with pytest.raises(AssertionError, match="max_num_steps"):
        solver.solve(Counted(), _x0())


def test_gradients_flow_through_an_adaptive_solve():
    x0 = _x0().requires_grad_(True)
    result = Dopri5(rtol=1e-9, atol=1e-9).solve(Counted(), x0)
    result.x.sum().backward()
    torch.testing.assert_close(x0.grad, torch.ones(5, 3, dtype=F64) @ _expm(), rtol=1e-6, atol=1e-6)


def test_nfe_of_an_exponential_decay_matches_the_counter_and_the_answer():
    calls = []

    def f(t, x):
        calls.append(1)
        return -x

    x0 = torch.ones(2, dtype=F64)
    result = Dopri8(rtol=1e-10, atol=1e-10).solve(f, x0)
    torch.testing.assert_close(result.x, x0 * math.exp(-1.0), rtol=1e-9, atol=0)
    assert result.nfe == len(calls)
