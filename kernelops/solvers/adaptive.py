"""Adaptive embedded Runge–Kutta solvers, adapters to :func:`torchdiffeq.odeint`.

torchdiffeq does the step-size control; we add the common :class:`~kernelops.solvers.base.Solver`
interface, exact NFE counting (every call of f, including the initial step-size probe and
rejected steps), steps that land on every output time (torchdiffeq otherwise interpolates the
outputs, losing accuracy for dopri8 and bosh3), the t convention (0-d tensor of x0's dtype;
torchdiffeq itself passes float64 times), and a clear error when ``steps`` is passed.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import torch
import torchdiffeq

from kernelops.errors import UnknownOptionError
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

#: the options torchdiffeq's adaptive Runge-Kutta solvers read (anything else it ignores with a warning)
TORCHDIFFEQ_OPTIONS = ("first_step", "min_step", "max_step", "max_num_steps", "safety", "ifactor", "dfactor",
                       "step_t", "jump_t", "norm")


def _check_tol(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name}: expected a positive finite tolerance, got {value!r}")
    return float(value)


class AdaptiveSolver(Solver):
    """An adaptive solver backed by torchdiffeq; subclasses set ``name``, ``order`` and ``method``.

    Args:
        rtol: default relative tolerance (overridable per :meth:`solve` call).
        atol: default absolute tolerance (likewise).
        **options: passed to torchdiffeq as ``options`` (e.g. ``max_num_steps``,
            ``first_step``, ``min_step``, ``max_step``).
    """

    method: str
    is_adaptive = True

    def __init__(self, rtol: float = 1e-5, atol: float = 1e-5, **options: Any):
        self.rtol = _check_tol(rtol, "rtol")
        self.atol = _check_tol(atol, "atol")
        unknown = [k for k in options if k not in TORCHDIFFEQ_OPTIONS]
        if unknown:  # torchdiffeq would only warn, at the first solve, and ignore them
            raise UnknownOptionError(f"solver {self.name!r} takes no option {', '.join(repr(k) for k in unknown)}; "
                                     f"its options: rtol, atol, {', '.join(TORCHDIFFEQ_OPTIONS)}")
        self.options = dict(options)

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
        rtol: float | None = None,
        atol: float | None = None,
    ) -> SolveResult:
        """Integrate dx/dt = f(t, x) from t0 to t1 (or across ``grid``) to tolerance rtol/atol.

        Args:
            f: the vector field f(t, x); t is a 0-d tensor of x0's dtype on x0's device.
            x0: the state at the start.
            t0, t1: start and end (ignored when ``grid`` is given); t1 < t0 integrates backwards.
            steps: must be None: an adaptive solver picks its own steps.
            grid: output times (strictly monotonic); the solution is returned at each of them.
            return_trajectory: return the states at (t0, t1) — or at ``grid``, which always
                returns the trajectory.
            callback: ``callback(t, x)`` at every output time after the first.
            rtol, atol: tolerances for this call (default: the constructor's).

        Raises:
            ValueError: ``steps`` given, bad tolerances, t0 == t1, or a bad grid.

        Shape:
            x0: any. returns: SolveResult(x (x0.shape), nfe, trajectory (len(times), *x0.shape)
            or None, times (len(times),) or None).
        """
        if steps is not None:
            raise ValueError(f"{self.name} is adaptive: pass rtol/atol instead of steps (got steps={steps!r}); "
                             "use grid= to choose output times")
        x0 = check_state(x0)
        rtol = self.rtol if rtol is None else _check_tol(rtol, "rtol")
        atol = self.atol if atol is None else _check_tol(atol, "atol")
        if grid is not None:
            times = check_grid(grid, x0)
        else:
            start, end = as_time(t0, "t0", x0), as_time(t1, "t1", x0)
            if bool(start == end):
                raise ValueError(f"t0 and t1 must differ, got t0 = t1 = {float(start)}")
            times = torch.stack([start, end])
        field = CountedField(f, x0)
        options = dict(self.options)
        # Make the solver land on every output time instead of reading it off torchdiffeq's dense
        # interpolant, which for some methods (dopri8, bosh3) is less accurate than the steps
        # themselves (docs/concepts/paths.md, "Solvers").
        options.setdefault("step_t", times)
        states = torchdiffeq.odeint(field, x0, times, rtol=rtol, atol=atol, method=self.method, options=options)
        if callback is not None:
            for i in range(1, times.numel()):
                callback(times[i], states[i])
        keep = return_trajectory or grid is not None
        return SolveResult(x=states[-1], nfe=field.nfe,
                           trajectory=states if keep else None, times=times if keep else None)

    def config(self) -> dict[str, Any]:
        return {"rtol": self.rtol, "atol": self.atol, **self.options}


class Dopri5(AdaptiveSolver):
    """Dormand–Prince 5(4) (torchdiffeq "dopri5"): 6 new evaluations per step (FSAL)."""

    name, order, method = "dopri5", 5, "dopri5"


class Dopri8(AdaptiveSolver):
    """Dormand–Prince 8(5,3) (torchdiffeq "dopri8")."""

    name, order, method = "dopri8", 8, "dopri8"


class Bosh3(AdaptiveSolver):
    """Bogacki–Shampine 3(2) (torchdiffeq "bosh3")."""

    name, order, method = "bosh3", 3, "bosh3"


class AdaptiveHeun(AdaptiveSolver):
    """Adaptive Heun 2(1) (torchdiffeq "adaptive_heun")."""

    name, order, method = "adaptive_heun", 2, "adaptive_heun"
