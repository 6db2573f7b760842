"""Built-in ODE solvers: native fixed-step ones and torchdiffeq-backed adaptive ones."""

from kernelops.plugins.hookspecs import Register, hookimpl


@hookimpl
def register_solvers(register: Register) -> None:
    register("euler", "kernelops.solvers.fixed:Euler", description="explicit Euler, order 1")
    register("midpoint", "kernelops.solvers.fixed:Midpoint", description="explicit midpoint, order 2")
    register("heun", "kernelops.solvers.fixed:Heun", description="Heun's method (trapezoidal RK2), order 2")
    register("rk4", "kernelops.solvers.fixed:RK4", description="classical Runge-Kutta, order 4")
    register("dopri5", "kernelops.solvers.adaptive:Dopri5", description="adaptive Dormand-Prince 5(4) via torchdiffeq")
    register("dopri8", "kernelops.solvers.adaptive:Dopri8", description="adaptive Dormand-Prince 8(5,3) via torchdiffeq")
    register("bosh3", "kernelops.solvers.adaptive:Bosh3", description="adaptive Bogacki-Shampine 3(2) via torchdiffeq")
    register("adaptive_heun", "kernelops.solvers.adaptive:AdaptiveHeun", description="adaptive Heun 2(1) via torchdiffeq")
