"""Fixed-step explicit Runge–Kutta solvers driven by Butcher tableaux (adding a method = adding a tableau).

A step from t to t + h with tableau (c, A, b) computes the stages
k_i = f(t + c_i h, x + h Σ_{j<i} A_ij k_j) and returns x + h Σ_i b_i k_i; every stage is one
evaluation of f, so NFE = stages × steps. Steps may be uniform (``steps``) or any monotonic
grid (``grid``), forwards or backwards in time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from kernelops.solvers.base import (
    Callback,
    CountedField,
    Solver,
    SolveResult,
    VectorField,
    as_time,
    check_grid,
    check_state,
)


@dataclass(frozen=True)
class ButcherTableau:
    """An explicit Runge–Kutta method: nodes c, lower-triangular A (row i has i entries), weights b.

    Raises:
        ValueError: if the rows do not fit, or the method is inconsistent (Σ b ≠ 1, Σ_j A_ij ≠ c_i).
    """

    c: tuple[float, ...]
    a: tuple[tuple[float, ...], ...]
    b: tuple[float, ...]

    def __post_init__(self) -> None:
        s = len(self.b)
        if len(self.c) != s or len(self.a) != s or any(len(row) != i for i, row in enumerate(self.a)):
            raise ValueError("tableau: expected c and b of length s and A with rows of length 0, 1, ..., s-1")
        if not math.isclose(sum(self.b), 1.0, abs_tol=1e-12):
            raise ValueError(f"tableau: weights b must sum to 1, got {sum(self.b)}")
        for i, row in enumerate(self.a):
            if not math.isclose(sum(row), self.c[i], abs_tol=1e-12):
                raise ValueError(f"tableau: row {i} of A must sum to c[{i}] = {self.c[i]}, got {sum(row)}")

    @property
    def stages(self) -> int:
        return len(self.b)


def rk_step(f: VectorField, t: torch.Tensor, h: torch.Tensor, x: torch.Tensor, tableau: ButcherTableau) -> torch.Tensor:
    """One explicit Runge–Kutta step of size h (negative h steps backwards).

    Shape:
        t, h: (). x: any. returns: x's shape.
    """
    ks: list[torch.Tensor] = []
    for ci, row in zip(tableau.c, tableau.a):
        xi = x
        for aij, kj in zip(row, ks):
            if aij != 0.0:  # skip structural zeros (e.g. RK4's A_31): saves a tensor op per stage
                xi = xi + (aij * h) * kj
        ks.append(f(t + ci * h, xi))
    terms = [ki if bi == 1.0 else bi * ki for bi, ki in zip(tableau.b, ks) if bi != 0.0]
    incr = terms[0]
    for term in terms[1:]:
        incr = incr + term
    return x + h * incr


class FixedStepSolver(Solver):
    """A fixed-step explicit Runge–Kutta solver; subclasses only set ``name``, ``order`` and ``tableau``."""

    tableau: ButcherTableau
    is_adaptive = False

    @property
    def stages(self) -> int:
        """Evaluations of f per step."""
        return self.tableau.stages

    def solve(
        self,
        f: VectorField,
        x0: torch.Tensor,
        t0: float | torch.Tensor = 0.0,
        t1: float | torch.Tensor = 1.0,
        steps: int | None = None,
        *,
        grid: torch.Tensor | Sequence[float] | None = None,
        return_trajectory: bool = False,
        callback: Callback | None = None,
    ) -> SolveResult:
        """Integrate dx/dt = f(t, x) with exactly one of ``steps`` (uniform from t0 to t1) or ``grid``.

        Args:
            f: the vector field f(t, x); t is a 0-d tensor of x0's dtype on x0's device.
            x0: the state at the start.
            t0, t1: start and end (used with ``steps``; t1 < t0 integrates backwards).
            steps: number of uniform steps, an int ≥ 1.
            grid: a strictly monotonic 1-d tensor of step times, irregular allowed; its first and
                last entries are the start and end (t0, t1 are then ignored).
            return_trajectory: also return the state at every grid time.
            callback: ``callback(t, x)`` after every step.

        Raises:
            ValueError: neither or both of steps and grid, steps < 1, t0 == t1, a bad grid.

        Shape:
            x0: any. returns: SolveResult(x (x0.shape), nfe = stages × steps,
            trajectory (steps + 1, *x0.shape) or None, times (steps + 1,) or None).
        """
        x0 = check_state(x0)
        times = self._grid(x0, t0, t1, steps, grid)
        field = CountedField(f, x0)
        x = x0
        states = [x0] if return_trajectory else None
        for i in range(times.numel() - 1):
            t, t_next = times[i], times[i + 1]
            x = rk_step(field, t, t_next - t, x, self.tableau)
            if states is not None:
                states.append(x)
            if callback is not None:
                callback(t_next, x)
        if states is None:
            return SolveResult(x=x, nfe=field.nfe)
        return SolveResult(x=x, nfe=field.nfe, trajectory=torch.stack(states), times=times)

    def _grid(
        self,
        x0: torch.Tensor,
        t0: float | torch.Tensor,
        t1: float | torch.Tensor,
        steps: int | None,
        grid: torch.Tensor | Sequence[float] | None,
    ) -> torch.Tensor:
        if (steps is None) == (grid is None):
            given = "both" if steps is not None else "neither"
            raise ValueError(f"{self.name}: pass exactly one of steps (number of uniform steps from t0 to t1) "
                             f"or grid (1-d tensor of step times); got {given}")
        if grid is not None:
            return check_grid(grid, x0)
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(f"steps: expected an int >= 1, got {steps!r}")
        start, end = as_time(t0, "t0", x0), as_time(t1, "t1", x0)
        if bool(start == end):
            raise ValueError(f"t0 and t1 must differ, got t0 = t1 = {float(start)}")
        return torch.linspace(float(start), float(end), steps + 1, dtype=x0.dtype, device=x0.device)


class Euler(FixedStepSolver):
    """Explicit Euler, order 1, 1 evaluation per step."""

    name, order = "euler", 1
    tableau = ButcherTableau(c=(0.0,), a=((),), b=(1.0,))


class Midpoint(FixedStepSolver):
    """Explicit midpoint rule, order 2, 2 evaluations per step."""

    name, order = "midpoint", 2
    tableau = ButcherTableau(c=(0.0, 0.5), a=((), (0.5,)), b=(0.0, 1.0))


class Heun(FixedStepSolver):
    """Heun's method (explicit trapezoidal rule), order 2, 2 evaluations per step."""

    name, order = "heun", 2
    tableau = ButcherTableau(c=(0.0, 1.0), a=((), (1.0,)), b=(0.5, 0.5))


class RK4(FixedStepSolver):
    """The classical 4th-order Runge–Kutta method, 4 evaluations per step."""

    name, order = "rk4", 4
    tableau = ButcherTableau(
        c=(0.0, 0.5, 0.5, 1.0),
        a=((), (0.5,), (0.0, 0.5), (0.0, 0.0, 1.0)),
        b=(1 / 6, 1 / 3, 1 / 3, 1 / 6),
    )
