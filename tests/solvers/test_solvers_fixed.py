"""Fixed-step Runge–Kutta solvers: convergence order, exact per-step polynomials, NFE, grids, errors, autograd."""

from __future__ import annotations

import math

import pytest
import torch

import kernelops as ko
from kernelops.errors import ShapeError
from kernelops.solvers import RK4, ButcherTableau, Euler, FixedStepSolver, Heun, Midpoint, SolveResult

F64 = torch.float64
# rotation at angular speed 2 with decay, plus a coupled decaying third coordinate
A = torch.tensor([[-0.3, -2.0, 0.5], [2.0, -0.3, 0.0], [0.1, 0.4, -1.0]], dtype=F64)
FIXED = {"euler": (Euler, 1, 1), "midpoint": (Midpoint, 2, 2), "heun": (Heun, 2, 2), "rk4": (RK4, 4, 4)}


def linear(t, x):
    return x @ A.T.to(x.dtype)


def nonautonomous(t, x):
    """dx/dt = (cos 3t + t) x, so x(1) = x0 exp(sin(3)/3 + 1/2): checks that stages use their times."""
    return (torch.cos(3 * t) + t) * x


def _x0(shape=(5, 3), dtype=F64):
    return torch.randn(shape, generator=torch.Generator().manual_seed(0), dtype=dtype)


def _expm(t=1.0):
    return torch.linalg.matrix_exp(t * A)


@pytest.mark.parametrize("name", list(FIXED))
def test_registry_and_attributes(name):
    cls, order, stages = FIXED[name]
    solver = ko.solver(name)
    assert type(solver) is cls and solver.name == name
    assert solver.order == order and solver.stages == stages and solver.is_adaptive is False


@pytest.mark.parametrize("name", list(FIXED))
def test_error_ratio_when_halving_the_step_is_two_to_the_order(name):
    solver = ko.solver(name)
    x0 = _x0()
    n = {1: 64, 2: 32, 4: 32}[solver.order]
    problems = [(linear, x0 @ _expm().T), (nonautonomous, x0 * math.exp(math.sin(3) / 3 + 0.5))]
    for f, exact in problems:
        e1 = float((solver.solve(f, x0, steps=n).x - exact).abs().max())
        e2 = float((solver.solve(f, x0, steps=2 * n).x - exact).abs().max())
        ratio, expected = e1 / e2, 2.0**solver.order
        assert 0.7 * expected < ratio < 1.5 * expected, (f.__name__, e1, e2, ratio)


@pytest.mark.parametrize("name", list(FIXED))
def test_one_step_on_a_linear_system_is_the_taylor_polynomial_of_the_order(name):
    """For dx/dt = Ax an explicit RK method with s = p ≤ 4 stages maps x to Σ_{k≤p} (hA)^k/k! x."""
    solver = ko.solver(name)
    x0, h = _x0(), 0.3
    poly = torch.zeros(3, 3, dtype=F64)
    term = torch.eye(3, dtype=F64)
    for k in range(solver.order + 1):
        poly = poly + term / math.factorial(k)
        term = term @ (h * A)
    result = solver.solve(linear, x0, 0.0, h, steps=1)
    torch.testing.assert_close(result.x, x0 @ poly.T, rtol=1e-14, atol=1e-14)


def test_euler_with_n_steps_is_the_matrix_power():
    n = 7
    step = torch.eye(3, dtype=F64) + A / n
    x0 = _x0()
    result = Euler().solve(linear, x0, steps=n)
    torch.testing.assert_close(result.x, x0 @ torch.linalg.matrix_power(step, n).T)


@pytest.mark.parametrize("name", list(FIXED))
def test_nfe_is_stages_times_steps_and_counts_every_call(name):
    solver = ko.solver(name)
    calls = []

    def f(t, x):
        calls.append(t)
        return linear(t, x)

    for steps in (1, 3, 10):
        calls.clear()
        result = solver.solve(f, _x0(), steps=steps)
        assert isinstance(result, SolveResult)
        assert result.nfe == len(calls) == solver.stages * steps
    calls.clear()
    grid = torch.tensor([0.0, 0.1, 0.5, 0.55, 1.0], dtype=F64)
    assert solver.solve(f, _x0(), grid=grid).nfe == len(calls) == solver.stages * 4


@pytest.mark.parametrize("dtype", [torch.float32, F64])
@pytest.mark.parametrize("name", list(FIXED))
def test_f_gets_t_as_a_0d_tensor_of_x0_dtype_and_device(name, dtype, device):
    seen = []

    def f(t, x):
        seen.append((t.dim(), t.dtype, t.device.type, x.dtype))
        return -x

    x0 = _x0(dtype=dtype).to(device)
    result = ko.solver(name).solve(f, x0, steps=2)
    assert result.x.dtype == dtype and result.x.device.type == device.type
    assert set(seen) == {(0, dtype, device.type, dtype)}


def test_stage_times_follow_the_tableau():
    seen = []
    RK4().solve(lambda t, x: seen.append(float(t)) or x, _x0(), 0.0, 1.0, steps=2)
    assert seen == pytest.approx([0.0, 0.25, 0.25, 0.5, 0.5, 0.75, 0.75, 1.0])
    seen.clear()
    Midpoint().solve(lambda t, x: seen.append(float(t)) or x, _x0(), 1.0, 0.0, steps=1)
    assert seen == pytest.approx([1.0, 0.5])  # backwards: nodes at t0 + c h with h = −1


@pytest.mark.parametrize("name", list(FIXED))
def test_irregular_grid_trajectory_and_callback(name):
    solver = ko.solver(name)
    g = torch.Generator().manual_seed(2)
    inner = torch.sort(torch.rand(400, generator=g, dtype=F64)).values
    grid = torch.cat([torch.zeros(1, dtype=F64), inner, torch.ones(1, dtype=F64)])
    x0 = _x0()
    seen = []
    result = solver.solve(linear, x0, grid=grid, return_trajectory=True,
                          callback=lambda t, x: seen.append((float(t), x)))
    assert result.trajectory.shape == (402, 5, 3) and torch.equal(result.times, grid)
    tol = {1: 2e-2, 2: 1e-4, 4: 1e-8}[solver.order]
    for i in (0, 100, 250, 401):
        exact = x0 @ _expm(float(grid[i])).T
        assert float((result.trajectory[i] - exact).abs().max()) < tol
    assert torch.equal(result.trajectory[-1], result.x) and torch.equal(result.trajectory[0], x0)
    assert [t for t, _ in seen] == grid[1:].tolist()
    assert all(torch.equal(x, result.trajectory[i + 1]) for i, (_, x) in enumerate(seen))


def test_euler_on_an_irregular_grid_uses_each_step_size():
    grid = torch.tensor([0.0, 0.05, 0.3, 0.31, 0.7, 1.0], dtype=F64)
    x = x0 = _x0()
    for a, b in zip(grid[:-1], grid[1:]):
        x = x + (b - a) * linear(a, x)
    torch.testing.assert_close(Euler().solve(linear, x0, grid=grid).x, x, rtol=1e-15, atol=1e-15)


@pytest.mark.parametrize("name", list(FIXED))
def test_backward_integration_recovers_the_start(name):
    solver = ko.solver(name)
    x0 = _x0()
    x1 = x0 @ _expm().T
    tol = {1: 2e-2, 2: 4e-5, 4: 1e-9}[solver.order]
    back = solver.solve(linear, x1, 1.0, 0.0, steps=400)
    assert float((back.x - x0).abs().max()) < tol
    grid = torch.linspace(1.0, 0.0, 401, dtype=F64)
    torch.testing.assert_close(solver.solve(linear, x1, grid=grid).x, back.x, rtol=1e-12, atol=1e-12)
    # non-autonomous: from x(1) back to x(0)
    exact_end = x0 * math.exp(math.sin(3) / 3 + 0.5)
    assert float((solver.solve(nonautonomous, exact_end, 1.0, 0.0, steps=400).x - x0).abs().max()) < 10 * tol


def test_gradients_flow_through_the_solve():
    """RK4 on dx/dt = Ax is x ↦ P^n x with P the 4th-order Taylor polynomial of hA: the gradient
    of Σ x(1) with respect to x0 is 1ᵀ P^n exactly (and ≈ 1ᵀ expm(A))."""
    x0 = _x0().requires_grad_(True)
    n = 20
    result = RK4().solve(linear, x0, steps=n)
    result.x.sum().backward()
    h_a = A / n
    poly = sum(torch.linalg.matrix_power(h_a, k) / math.factorial(k) for k in range(5))
    ones = torch.ones(5, 3, dtype=F64)
    torch.testing.assert_close(x0.grad, ones @ torch.linalg.matrix_power(poly, n), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(x0.grad, ones @ _expm(), rtol=1e-5, atol=1e-5)


def test_solver_leaves_autograd_to_the_caller():
    """A field that differentiates a potential inside f (as the spectral mean flow does) works under
    the caller's torch.no_grad(), and the solver itself never switches autograd off."""
    p = torch.tensor([[2.0, 0.5], [0.5, 1.0]], dtype=F64)
    grad_modes = []

    def f(t, x):
        grad_modes.append(torch.is_grad_enabled())
        with torch.enable_grad():
            z = x.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(0.5 * ((z @ p) * z).sum(), z)
        return -g

    x0 = torch.randn(4, 2, dtype=F64)
    exact = x0 @ torch.linalg.matrix_exp(-p).T
    with torch.no_grad():
        result = RK4().solve(f, x0, steps=50)
    torch.testing.assert_close(result.x, exact, rtol=1e-7, atol=1e-7)
    assert not any(grad_modes)
    grad_modes.clear()
    RK4().solve(f, x0, steps=2)
    assert all(grad_modes)


def test_a_new_method_is_just_a_tableau():
    class Ralston(FixedStepSolver):
        name, order = "ralston", 2
        tableau = ButcherTableau(c=(0.0, 2 / 3), a=((), (2 / 3,)), b=(0.25, 0.75))

    x0, exact = _x0(), _x0() @ _expm().T
    e1 = float((Ralston().solve(linear, x0, steps=32).x - exact).abs().max())
    e2 = float((Ralston().solve(linear, x0, steps=64).x - exact).abs().max())
    assert 0.7 * 4 < e1 / e2 < 1.5 * 4
    assert Ralston().solve(nonautonomous, x0, steps=5).nfe == 10
    seen = []
    Ralston().solve(lambda t, x: seen.append(float(t)) or x, x0, steps=1)
    assert seen == pytest.approx([0.0, 2 / 3])


def test_inconsistent_tableaux_are_rejected():
    with pytest.raises(ValueError, match="sum to 1"):
        ButcherTableau(c=(0.0, 0.5), a=((), (0.5,)), b=(0.5, 0.4))
    with pytest.raises(ValueError, match="row 1"):
        ButcherTableau(c=(0.0, 0.5), a=((), (0.4,)), b=(0.0, 1.0))
    with pytest.raises(ValueError, match="rows"):
        ButcherTableau(c=(0.0,), a=((0.0,),), b=(1.0,))


def test_steps_and_grid_errors():
    solver, x0 = RK4(), _x0()
    with pytest.raises(ValueError, match="exactly one of steps .* or grid .*got both"):
        solver.solve(linear, x0, steps=4, grid=torch.linspace(0, 1, 5))
    with pytest.raises(ValueError, match="exactly one of steps .* or grid .*got neither"):
        solver.solve(linear, x0)
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="steps"):
            solver.solve(linear, x0, steps=bad)
    with pytest.raises(ValueError, match="grid: expected strictly increasing or strictly decreasing"):
        solver.solve(linear, x0, grid=torch.tensor([0.0, 0.5, 0.4, 1.0]))
    with pytest.raises(ValueError, match="grid: expected at least 2"):
        solver.solve(linear, x0, grid=torch.tensor([0.0]))
    with pytest.raises(ShapeError, match="grid"):
        solver.solve(linear, x0, grid=torch.zeros(2, 2))
    with pytest.raises(ValueError, match="t0 and t1 must differ"):
        solver.solve(linear, x0, 0.5, 0.5, steps=3)
    with pytest.raises(ValueError, match="t1"):
        solver.solve(linear, x0, 0.0, float("inf"), steps=3)


def test_bad_state_and_field_errors():
    solver = Heun()
    with pytest.raises(ShapeError, match="x0"):
        solver.solve(lambda t, x: x, torch.arange(3), steps=2)
    with pytest.raises(ShapeError, match="x0"):
        solver.solve(lambda t, x: x, [1.0, 2.0], steps=2)
    with pytest.raises(ShapeError, match=r"f\(t, x\) must return dx/dt of the state's shape \(5, 3\), got \(5,\)"):
        solver.solve(lambda t, x: x[:, 0], _x0(), steps=2)
    with pytest.raises(ValueError, match="f: expected a callable"):
        solver.solve("f", _x0(), steps=2)


def test_trajectory_is_none_unless_asked():
    result = Midpoint().solve(linear, _x0(), steps=3)
    assert result.trajectory is None and result.times is None
    result = Midpoint().solve(linear, _x0(), 0.2, 0.8, steps=3, return_trajectory=True)
    torch.testing.assert_close(result.times, torch.tensor([0.2, 0.4, 0.6, 0.8], dtype=F64))
