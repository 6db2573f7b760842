"""ODE solvers for sampling flows: fixed-step Runge–Kutta and adaptive torchdiffeq adapters.

Every solver has ``solve(f, x0, t0=0.0, t1=1.0, steps=None, *, grid=None,
return_trajectory=False, callback=None) -> SolveResult(x, nfe, trajectory, times)`` with
``f(t, x)`` in the torchdiffeq convention. Registered names: "euler", "midpoint", "heun",
"rk4" (fixed-step) and "dopri5", "dopri8", "bosh3", "adaptive_heun" (adaptive).
"""

from __future__ import annotations

from kernelops.solvers.adaptive import AdaptiveHeun, AdaptiveSolver, Bosh3, Dopri5, Dopri8
from kernelops.solvers.base import CountedField, Solver, SolveResult
from kernelops.solvers.fixed import RK4, ButcherTableau, Euler, FixedStepSolver, Heun, Midpoint, rk_step

__all__ = [
    "RK4", "AdaptiveHeun", "AdaptiveSolver", "Bosh3", "ButcherTableau", "CountedField", "Dopri5",
    "Dopri8", "Euler", "FixedStepSolver", "Heun", "Midpoint", "SolveResult", "Solver", "rk_step",
]
