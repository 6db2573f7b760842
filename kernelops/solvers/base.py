"""The ODE solver interface: :class:`Solver`, :class:`SolveResult` and the NFE-counting wrapper.

Solvers integrate dx/dt = f(t, x) with the torchdiffeq calling convention: ``f(t, x)`` where
``t`` is a 0-d tensor of x0's dtype on x0's device. Every call of ``f`` is counted (NFE, the
cost that matters for sampling). Solvers never switch autograd off: a spectral mean flow
computes its velocity by autograd inside ``f``, so the caller decides (e.g. wraps the solve
in ``torch.no_grad()`` and enables grad inside ``f``).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from kernelops.errors import ShapeError
from kernelops.utils.validation import check_tensor

#: f(t, x) -> dx/dt
VectorField = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
#: callback(t, x), called as the solution reaches each step / output time
Callback = Callable[[torch.Tensor, torch.Tensor], None]


@dataclass(frozen=True)
class SolveResult:
    """The state at the final time, the number of function evaluations, and optionally the path.

    Attributes:
        x: the state at the last time.
        nfe: how many times f was called.
        trajectory: states at ``times`` (first row = x0), or None if not asked for.
        times: the times of the trajectory rows, or None.

    Shape:
        x: as x0. trajectory: (len(times), *x0.shape). times: (len(times),).
    """

    x: torch.Tensor
    nfe: int
    trajectory: torch.Tensor | None = None
    times: torch.Tensor | None = None


class CountedField:
    """Wraps f: counts calls, hands it t as a 0-d tensor of the state's dtype and device, checks shapes."""

    def __init__(self, f: VectorField, x0: torch.Tensor):
        if not callable(f):
            raise ValueError(f"f: expected a callable f(t, x) -> dx/dt, got {type(f).__name__}")
        self.f = f
        self.dtype, self.device, self.shape = x0.dtype, x0.device, x0.shape
        self.nfe = 0

    def __call__(self, t: torch.Tensor | float, x: torch.Tensor) -> torch.Tensor:
        t = torch.as_tensor(t).to(dtype=self.dtype, device=self.device).reshape(())
        self.nfe += 1
        out = self.f(t, x)
        if not isinstance(out, torch.Tensor) or out.shape != self.shape:
            got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ShapeError(f"f(t, x) must return dx/dt of the state's shape {tuple(self.shape)}, got {got}")
        return out


def check_state(x0: Any) -> torch.Tensor:
    """Validate the initial state: a real floating tensor (NaNs are let through: they are the field's business)."""
    check_tensor(x0, "x0", finite=False, allow_complex=False)
    if not x0.is_floating_point():
        raise ShapeError(f"x0: expected a floating-point tensor, got dtype {x0.dtype}")
    return x0


def as_time(value: Any, name: str, like: torch.Tensor) -> torch.Tensor:
    """A finite scalar time as a 0-d tensor of ``like``'s dtype and device."""
    if isinstance(value, torch.Tensor):
        if value.numel() != 1 or value.is_complex():
            raise ValueError(f"{name}: expected a real scalar time, got a tensor of shape {tuple(value.shape)}")
        scalar = float(value)
    elif isinstance(value, numbers.Real) and not isinstance(value, bool):
        scalar = float(value)
    else:
        raise ValueError(f"{name}: expected a real number, got {value!r}")
    if not math.isfinite(scalar):
        raise ValueError(f"{name}: expected a finite time, got {scalar}")
    return torch.tensor(scalar, dtype=like.dtype, device=like.device)


def check_grid(grid: torch.Tensor | Sequence[float], like: torch.Tensor) -> torch.Tensor:
    """Validate output/step times: 1-d, at least two, finite, strictly increasing or strictly decreasing.

    Shape:
        grid: (n,), n ≥ 2. returns: (n,) in ``like``'s dtype on its device.
    """
    if not isinstance(grid, torch.Tensor):
        try:
            grid = torch.as_tensor(grid, dtype=like.dtype, device=like.device)
        except (TypeError, ValueError, RuntimeError):
            raise ValueError(f"grid: expected a 1-d tensor of times, got {type(grid).__name__}") from None
    check_tensor(grid, "grid", ndim=1, allow_complex=False)
    grid = grid.to(dtype=like.dtype, device=like.device)
    if grid.numel() < 2:
        raise ValueError(f"grid: expected at least 2 times (start and end), got {grid.numel()}")
    diffs = grid[1:] - grid[:-1]
    if not (bool((diffs > 0).all()) or bool((diffs < 0).all())):
        raise ValueError("grid: expected strictly increasing or strictly decreasing times, "
                         f"got {grid.tolist() if grid.numel() <= 8 else 'a non-monotonic grid'}")
    return grid


class Solver:
    """Base class of ODE solvers. Subclasses set ``name``, ``order``, ``is_adaptive`` and implement :meth:`solve`.

    Attributes:
        name: the registry name.
        order: the order of accuracy (global error O(h^order)).
        is_adaptive: whether step sizes are chosen from error estimates (then pass rtol/atol,
            not steps).
    """

    name: str = "solver"
    order: int = 0
    is_adaptive: bool = False

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
        """Integrate dx/dt = f(t, x) from t0 to t1 (backwards if t1 < t0).

        Args:
            f: the vector field f(t, x), t a 0-d tensor of x0's dtype on x0's device.
            x0: the state at t0.
            t0, t1: start and end times (ignored when ``grid`` is given).
            steps: number of uniform steps (fixed-step solvers).
            grid: monotonic 1-d tensor of times: the steps of a fixed-step solver, the output
                times of an adaptive one. Its first and last entries are the start and end.
            return_trajectory: also return the states at every grid time.
            callback: called as ``callback(t, x)`` each time the solution reaches a step
                (fixed-step) or output time (adaptive).

        Shape:
            x0: any. returns: SolveResult with x of x0's shape.
        """
        raise NotImplementedError

    def config(self) -> dict[str, Any]:
        """Constructor keyword arguments that rebuild this solver."""
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"
