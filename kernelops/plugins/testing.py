"""Conformance kit for plugin authors: does a feature map, path or solver behave as kernelops expects?

Run it in your plugin's tests::

    from kernelops.plugins.testing import check_feature_map, check_path, check_solver
    check_path(MyPath())                  # raises AssertionError naming the first broken property

or check everything registered (built-ins and installed plugins) with pytest::

    import pytest
    from kernelops.plugins.testing import all_checks

    @pytest.mark.parametrize("check", all_checks(), ids=str)
    def test_conformance(check):
        check()

Each check uses its own seeded generator (it does not touch the global RNG) and float64 where
it compares numbers; it runs on the device of the object's parameters (feature maps) or on CPU.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

__all__ = [
    "PluginCheck", "all_checks", "check_feature_map", "check_path", "check_plugin", "check_solver", "integer_inputs",
]

F64 = torch.float64


def _fail(who: str, message: str) -> None:
    raise AssertionError(f"{who}: {message}")


def _require(condition: bool, who: str, message: str) -> None:
    if not condition:
        _fail(who, message)


def _max_abs(a: torch.Tensor) -> float:
    return float(a.detach().abs().max()) if a.numel() else 0.0


def _call(who: str, what: str, fn: Callable[[], Any]) -> Any:
    """Run ``fn``; turn any exception into an AssertionError that says which call broke."""
    try:
        return fn()
    except AssertionError:
        raise
    except Exception as exc:  # the point of the kit is to report, not to crash
        raise AssertionError(f"{who}: {what} raised {type(exc).__name__}: {exc}") from exc


# -- feature maps --------------------------------------------------------------------------------
def _module_place(module: nn.Module) -> tuple[torch.dtype, torch.device]:
    for tensor in list(module.parameters()) + list(module.buffers()):
        if tensor.is_floating_point():
            return tensor.dtype, tensor.device
    return torch.get_default_dtype(), torch.device("cpu")


InputSampler = Callable[[tuple[int, ...], torch.Generator], torch.Tensor]


def integer_inputs(num_states: int) -> InputSampler:
    """An input sampler for feature maps of integer states {0, ..., num_states - 1} (e.g. "indicator")."""

    def sample(shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
        return torch.randint(0, num_states, shape, generator=generator).to(F64)

    return sample


def _normal_inputs(shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    return torch.randn(shape, generator=generator, dtype=F64)


def check_feature_map(
    fm: Any, *, in_dim: int | None = None, inputs: InputSampler | None = None, atol: float = 1e-8
) -> None:
    """Check the FeatureMap protocol.

    Properties, in order: an ``nn.Module`` with positive int ``in_dim``/``out_dim`` and bool
    ``is_complex`` (``in_dim`` equal to the argument if given); output of shape (..., out_dim) for
    leading shapes (5,) and (2, 3), computed point by point; dtype complex iff ``is_complex``;
    after ``.to(float64)`` (on a copy) a float64 input gives float64/complex128 output;
    finite and deterministic output; ``t=None``, a float ``t`` and a tensor ``t`` of shape
    x.shape[:-1] accepted and a float t equal to the same constant tensor; ``kernel(x, y)`` of
    shape (n, m), real, and ``kernel(x, x)`` symmetric positive semi-definite within ``atol``
    (relative to its largest eigenvalue); an input with the wrong last dimension raises ValueError.

    Args:
        fm: the feature map (left unchanged: float64 checks run on a deep copy).
        in_dim: the expected input dimension, if known.
        inputs: ``inputs(shape, generator) -> float64 tensor`` drawing valid inputs (default
            standard normal; e.g. :func:`integer_inputs` for maps of discrete states).
        atol: tolerance of the symmetry and PSD checks, relative to the kernel's scale.

    Raises:
        AssertionError: naming the first violated property.
    """
    who = f"check_feature_map({type(fm).__name__})"
    _require(isinstance(fm, nn.Module), who, f"expected a torch.nn.Module (e.g. a kernelops FeatureMap), "
             f"got {type(fm).__name__}")
    for attr in ("in_dim", "out_dim"):
        value = getattr(fm, attr, None)
        _require(isinstance(value, int) and not isinstance(value, bool) and value > 0, who,
                 f"attribute {attr} must be a positive int, got {value!r}")
    _require(isinstance(getattr(fm, "is_complex", None), bool), who,
             f"attribute is_complex must be a bool, got {getattr(fm, 'is_complex', None)!r}")
    if in_dim is not None:
        _require(fm.in_dim == in_dim, who, f"in_dim is {fm.in_dim}, expected {in_dim}")
    d, big_d = fm.in_dim, fm.out_dim
    dtype, device = _module_place(fm)
    gen = torch.Generator().manual_seed(0)
    draw = inputs or _normal_inputs
    x5, x23, y4 = (draw(shape, gen).to(device=device, dtype=F64) for shape in ((5, d), (2, 3, d), (4, d)))

    with torch.no_grad():
        # native dtype: shapes and the real/complex contract
        for x in (x5, x23):
            out = _call(who, f"forward on shape {tuple(x.shape)}", lambda x=x: fm(x.to(dtype)))
            _require(isinstance(out, torch.Tensor), who, f"forward must return a tensor, got {type(out).__name__}")
            want = (*x.shape[:-1], big_d)
            _require(tuple(out.shape) == want, who, f"forward on input {tuple(x.shape)} returned shape "
                     f"{tuple(out.shape)}, expected {want} (..., out_dim)")
            _require(out.is_complex() == fm.is_complex, who, f"is_complex={fm.is_complex} but forward returned "
                     f"dtype {out.dtype}")

        # float64: numbers from here on
        fm64 = _call(who, "copy.deepcopy(fm).to(torch.float64)", lambda: copy.deepcopy(fm).to(F64))
        out = _call(who, "forward in float64", lambda: fm64(x5))
        want_dtype = torch.complex128 if fm.is_complex else F64
        _require(out.dtype == want_dtype, who, f"after .to(float64) a float64 input gave dtype {out.dtype}, "
                 f"expected {want_dtype} (feature maps must follow the input dtype)")
        _require(bool(torch.isfinite(out).all()), who, "forward returned NaN or infinite values")
        again = fm64(x5)
        _require(torch.equal(out, again), who, "forward is not deterministic: two calls on the same input differ "
                 f"by {_max_abs(out - again):.3g} (call .eval() to disable dropout)")
        rows = fm64(x23).reshape(6, big_d)
        flat = fm64(x23.reshape(6, d))
        scale = 1.0 + _max_abs(flat)
        _require(_max_abs(rows - flat) <= 1e-10 * scale, who, "features of a (2, 3, d) batch differ from the "
                 f"features of its 6 points by {_max_abs(rows - flat):.3g}: features must act point by point")

        # time argument
        for t, label in ((None, "t=None"), (0.5, "t=0.5"), (torch.full((5,), 0.5, dtype=F64, device=device),
                                                               "t = a tensor of shape (5,)")):
            out_t = _call(who, f"forward with {label}", lambda t=t: fm64(x5, t))
            _require(tuple(out_t.shape) == (5, big_d), who, f"forward with {label} returned shape "
                     f"{tuple(out_t.shape)}, expected (5, {big_d})")
        a, b = fm64(x5, 0.5), fm64(x5, torch.full((5,), 0.5, dtype=F64, device=device))
        _require(_max_abs(a - b) <= 1e-10 * (1.0 + _max_abs(a)), who, "forward with t=0.5 differs from forward "
                 f"with a tensor of 0.5s by {_max_abs(a - b):.3g}")

        # kernel
        k = _call(who, "kernel(x, y)", lambda: fm64.kernel(x5, y4))
        _require(isinstance(k, torch.Tensor) and tuple(k.shape) == (5, 4), who,
                 f"kernel(x (5, d), y (4, d)) returned shape {tuple(getattr(k, 'shape', ()))}, expected (5, 4)")
        _require(not k.is_complex(), who, f"kernel must be real, got dtype {k.dtype}")
        kxx = fm64.kernel(x5, x5)
        asym = _max_abs(kxx - kxx.T)
        scale = 1.0 + _max_abs(kxx)
        _require(asym <= atol * scale, who, f"kernel(x, x) is not symmetric: max |K - K^T| = {asym:.3g}")
        eig = torch.linalg.eigvalsh(0.5 * (kxx + kxx.T))
        _require(float(eig.min()) >= -atol * max(1.0, float(eig.abs().max())), who,
                 f"kernel(x, x) is not positive semi-definite: smallest eigenvalue {float(eig.min()):.3g}")

        # bad input
        wrong = torch.randn(5, d + 1, generator=gen, dtype=F64).to(device)
        try:
            fm64(wrong)
        except ValueError:
            pass
        except Exception as exc:
            _fail(who, f"an input with last dimension {d + 1} != in_dim {d} must raise ValueError "
                  f"(e.g. kernelops.errors.ShapeError), got {type(exc).__name__}: {exc}")
        else:
            _fail(who, f"an input with last dimension {d + 1} != in_dim {d} was accepted; it must raise ValueError")


# -- probability paths ---------------------------------------------------------------------------
def _fd_velocity(path: Any, x0: torch.Tensor, x1: torch.Tensor, t: float, h: float) -> torch.Tensor:
    lo, hi = max(t - h, 0.0), min(t + h, 1.0)
    return (path.interpolate(x0, x1, hi) - path.interpolate(x0, x1, lo)) / (hi - lo)


def check_path(path: Any, *, endpoint_atol: float = 0.05, fd_rtol: float = 1e-5) -> None:
    """Check the :class:`~kernelops.paths.ProbPath` protocol.

    Properties, in order: the methods exist; ``sample_source`` returns the requested shape and
    dtype (float32 by default) and is reproducible with a seeded generator; ``sample_t(n)`` returns
    n times in [0, 1]; ``interpolate``/``velocity`` keep the shape; ``velocity`` equals the central
    finite difference in t of ``interpolate`` (float64, relative tolerance ``fd_rtol``) at
    t = 0.1, 0.3, 0.5, 0.7, 0.9; ``interpolate(x0, x1, 1)`` is within RMS ``endpoint_atol`` of x1
    (noise of std ≤ 0.05 may remain at t = 1, like σ_min);
    per-sample times of shape (batch,) agree with one call per sample; ``sample`` agrees with
    ``interpolate`` and ``velocity``; if present, ``conditional_velocity(x_t, x1, t)`` equals
    ``velocity`` and ``marginal_velocity`` has a symmetric Jacobian.

    Raises:
        AssertionError: naming the first violated property.
    """
    who = f"check_path({type(path).__name__})"
    for method in ("sample_source", "interpolate", "velocity", "sample", "sample_t"):
        _require(callable(getattr(path, method, None)), who, f"missing method {method}()")
    gen = torch.Generator().manual_seed(0)
    shape = (4, 3, 2)

    x0 = _call(who, "sample_source(shape, dtype=float64)",
               lambda: path.sample_source(shape, generator=torch.Generator().manual_seed(1), dtype=F64))
    _require(isinstance(x0, torch.Tensor) and tuple(x0.shape) == shape and x0.dtype == F64, who,
             f"sample_source({shape}, dtype=float64) returned {getattr(x0, 'dtype', type(x0).__name__)} "
             f"of shape {tuple(getattr(x0, 'shape', ()))}")
    again = path.sample_source(shape, generator=torch.Generator().manual_seed(1), dtype=F64)
    _require(torch.equal(x0, again), who, "sample_source is not reproducible with equally seeded generators")
    default = _call(who, "sample_source(shape)",
                    lambda: path.sample_source(shape, generator=torch.Generator().manual_seed(1)))
    _require(default.dtype == torch.float32 and tuple(default.shape) == shape, who,
             f"sample_source(shape) should default to float32, got {default.dtype}")
    _require(bool(torch.isfinite(x0).all()) and float(x0.std()) > 0, who,
             "sample_source gave non-finite or constant values")

    ts = _call(who, "sample_t(6)", lambda: path.sample_t(6, generator=torch.Generator().manual_seed(2)))
    _require(isinstance(ts, torch.Tensor) and tuple(ts.shape) == (6,), who,
             f"sample_t(6) must return a tensor of shape (6,), got {tuple(getattr(ts, 'shape', ()))}")
    _require(bool(((ts >= 0) & (ts <= 1)).all()), who, f"sample_t returned times outside [0, 1]: {ts.tolist()}")

    x1 = torch.randn(shape, generator=gen, dtype=F64)
    for t in (0.1, 0.3, 0.5, 0.7, 0.9):
        xt = _call(who, f"interpolate at t={t}", lambda t=t: path.interpolate(x0, x1, t))
        v = _call(who, f"velocity at t={t}", lambda t=t: path.velocity(x0, x1, t))
        for name, value in (("interpolate", xt), ("velocity", v)):
            _require(tuple(value.shape) == shape and value.dtype == F64, who,
                     f"{name} at t={t} returned {value.dtype} {tuple(value.shape)}, expected float64 {shape}")
        fd = _fd_velocity(path, x0, x1, t, 1e-6)
        err, tol = _max_abs(fd - v), fd_rtol * (1.0 + _max_abs(v))
        _require(err <= tol, who, f"velocity is not the time derivative of interpolate at t={t}: max |finite "
                 f"difference - velocity| = {err:.3g} > {tol:.3g}")
        if callable(getattr(path, "conditional_velocity", None)):
            cv = _call(who, f"conditional_velocity at t={t}", lambda t=t, xt=xt: path.conditional_velocity(xt, x1, t))
            err = _max_abs(cv - v)
            _require(err <= 1e-8 * (1.0 + _max_abs(v)), who, f"conditional_velocity(x_t, x1, t={t}) differs from "
                     f"velocity(x0, x1, t) by {err:.3g}")

    end = path.interpolate(x0, x1, 1.0)
    err = float((end - x1).pow(2).mean().sqrt())  # RMS: the std of the noise left at t = 1
    _require(err <= endpoint_atol, who, f"interpolate(x0, x1, 1) must be x1 (data at t = 1): RMS error {err:.3g} "
             f"> {endpoint_atol}")

    t_vec = torch.tensor([0.15, 0.4, 0.65, 0.9], dtype=F64)
    xt_vec = _call(who, "interpolate with t of shape (batch,)", lambda: path.interpolate(x0, x1, t_vec))
    v_vec = path.velocity(x0, x1, t_vec)
    for i in range(shape[0]):
        xi = path.interpolate(x0[i:i + 1], x1[i:i + 1], float(t_vec[i]))
        vi = path.velocity(x0[i:i + 1], x1[i:i + 1], float(t_vec[i]))
        err = max(_max_abs(xt_vec[i:i + 1] - xi), _max_abs(v_vec[i:i + 1] - vi))
        _require(err <= 1e-10 * (1.0 + _max_abs(vi)), who, f"per-sample t of shape (batch,) is not broadcast over "
                 f"the trailing dims: sample {i} differs from a call with t={float(t_vec[i])} by {err:.3g}")

    s = _call(who, "sample(x0, x1, t)", lambda: path.sample(x0, x1, t_vec))
    for attr, want in (("x_t", xt_vec), ("u_t", v_vec)):
        got = getattr(s, attr, None)
        _require(isinstance(got, torch.Tensor), who, f"sample() result has no tensor attribute {attr}")
        err = _max_abs(got - want)
        _require(err <= 1e-10 * (1.0 + _max_abs(want)), who, f"sample().{attr} differs from "
                 f"{'interpolate' if attr == 'x_t' else 'velocity'} by {err:.3g}")

    if callable(getattr(path, "marginal_velocity", None)):
        d = 3
        a = torch.randn(d, d, generator=gen, dtype=F64)
        cov = a @ a.T / d + 0.1 * torch.eye(d, dtype=F64)
        mean = torch.randn(d, generator=gen, dtype=F64)
        x = torch.randn(d, generator=gen, dtype=F64)
        jac = _call(who, "jacobian of marginal_velocity", lambda: torch.autograd.functional.jacobian(
            lambda z: path.marginal_velocity(z, 0.5, mean, cov), x))
        err = _max_abs(jac - jac.T)
        _require(err <= 1e-8 * (1.0 + _max_abs(jac)), who, f"marginal_velocity is not a gradient field: its Jacobian "
                 f"at t=0.5 is not symmetric (max |J - J^T| = {err:.3g})")


# -- solvers -------------------------------------------------------------------------------------
def check_solver(solver: Any, *, steps: int = 100, rtol: float = 2e-2) -> None:
    """Check the :class:`~kernelops.solvers.Solver` interface on dx/dt = −x and dx/dt = −3t² x.

    Properties, in order: ``solve``, ``name`` and ``is_adaptive`` exist; from t = 0 to 1 both
    ODEs give x0·e⁻¹ within relative tolerance ``rtol`` (``steps`` uniform steps for a
    fixed-step solver, default tolerances for an adaptive one) on a batch of shape (4, 3, 2)
    in float64 (dtype kept); the reported ``nfe`` is a positive int equal to the number of calls
    of f; f receives t as a 0-d tensor of x0's dtype and device, with autograd left enabled;
    integrating from 1 back to 0 recovers x0·e; a fixed-step solver rejects a call with neither
    steps nor grid and an adaptive one rejects ``steps``, both with ValueError.

    Raises:
        AssertionError: naming the first violated property.
    """
    who = f"check_solver({getattr(solver, 'name', type(solver).__name__)})"
    _require(callable(getattr(solver, "solve", None)), who, "missing method solve()")
    _require(isinstance(getattr(solver, "name", None), str), who, "missing attribute name (a str)")
    adaptive = getattr(solver, "is_adaptive", None)
    _require(isinstance(adaptive, bool), who, f"attribute is_adaptive must be a bool, got {adaptive!r}")
    x0 = torch.randn(4, 3, 2, generator=torch.Generator().manual_seed(0), dtype=F64)
    kw: dict[str, Any] = {} if adaptive else {"steps": steps}
    problems = (("dx/dt = -x", lambda t, x: -x), ("dx/dt = -3t^2 x", lambda t, x: -3.0 * t * t * x))
    for label, rhs in problems:
        calls: list[str] = []

        def f(t: torch.Tensor, x: torch.Tensor, rhs: Callable = rhs, calls: list[str] = calls) -> torch.Tensor:
            ok = isinstance(t, torch.Tensor) and t.dim() == 0 and t.dtype == x0.dtype and t.device == x0.device
            calls.append("" if ok else f"t = {t!r}")
            if not torch.is_grad_enabled():
                calls[-1] = "autograd disabled inside f"
            return rhs(t, x)

        # both ODEs carry x(0) = x0 to x(1) = x0 / e; forwards and backwards
        for t0, t1, start, target, answer in ((0.0, 1.0, x0, x0 / math.e, "x(1) = x(0) / e"),
                                              (1.0, 0.0, x0 / math.e, x0, "x(0) = x(1) * e")):
            calls.clear()
            res = _call(who, f"solve({label}, t0={t0}, t1={t1})",
                        lambda start=start, t0=t0, t1=t1: solver.solve(f, start, t0, t1, **kw))
            x = getattr(res, "x", None)
            _require(isinstance(x, torch.Tensor) and x.shape == x0.shape and x.dtype == F64, who,
                     f"solve({label}) must return a result whose .x has x0's shape {tuple(x0.shape)} and dtype "
                     f"float64, got {getattr(x, 'dtype', None)} {tuple(getattr(x, 'shape', ()))}")
            err = _max_abs(x - target) / _max_abs(target)
            _require(err <= rtol, who, f"solving {label} from t={t0} to t={t1} is off by a relative {err:.3g} "
                     f"(> {rtol}); exact answer {answer}")
            nfe = getattr(res, "nfe", None)
            _require(isinstance(nfe, int) and nfe > 0, who, f"nfe must be a positive int, got {nfe!r}")
            _require(nfe == len(calls), who, f"reported nfe = {nfe} but f was called {len(calls)} times")
            bad = [c for c in calls if c]
            _require(not bad, who, f"f must get t as a 0-d tensor of x0's dtype and device with autograd enabled; "
                     f"got {bad[0] if bad else ''}")

    decay = problems[0][1]
    if adaptive:
        try:
            solver.solve(decay, x0, 0.0, 1.0, 10)
        except ValueError:
            pass
        else:
            _fail(who, "an adaptive solver must reject steps= with ValueError (pass rtol/atol instead)")
    else:
        try:
            solver.solve(decay, x0, 0.0, 1.0)
        except ValueError:
            pass
        else:
            _fail(who, "a fixed-step solver must raise ValueError when neither steps nor grid is given")


# -- everything registered -----------------------------------------------------------------------
_CHECKERS: dict[str, Callable[[Any], None]] = {
    "feature_maps": check_feature_map,
    "paths": check_path,
    "solvers": check_solver,
}
#: constructor arguments the kit passes by default (feature maps need an input dimension)
DEFAULT_KWARGS: dict[str, dict[str, Any]] = {"feature_maps": {"in_dim": 3}, "paths": {}, "solvers": {}}
#: built-ins that need other constructor arguments or check options: name -> (kwargs, options)
BUILTIN_SETUPS: dict[tuple[str, str], tuple[dict[str, Any], dict[str, Any]]] = {
    ("feature_maps", "indicator"): ({"num_states": 4}, {"inputs": integer_inputs(4)}),
    # a 2nd-order adaptive method needs ~200 torchdiffeq steps per solve at the default 1e-5
    ("solvers", "adaptive_heun"): ({"rtol": 1e-4, "atol": 1e-4}, {}),
}


def check_plugin(kind: str, name: str, /, options: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
    """Build the registered ``kind`` object ``name`` (e.g. ``"paths"``, ``"vp"``) and run its check.

    Args:
        kind: "feature_maps", "paths" or "solvers".
        name: the registered name (or an alias).
        options: keyword arguments of the check function (e.g. ``{"inputs": ...}``).
        **kwargs: constructor arguments.

    Raises:
        ValueError: unknown kind. AssertionError: the object fails its check.
        kernelops.errors.UnknownPluginError / PluginLoadError: it cannot be built.
    """
    if kind not in _CHECKERS:
        raise ValueError(f"kind: expected one of {sorted(_CHECKERS)}, got {kind!r}")
    from kernelops.plugins.manager import get_host

    obj = get_host().create(kind, name, **kwargs)
    _CHECKERS[kind](obj, **dict(options or {}))


@dataclass(frozen=True)
class PluginCheck:
    """One conformance check, callable with no argument; ``str()`` gives a pytest id like ``paths:vp``.

    Attributes:
        kind, name: what to build. kwargs: its constructor arguments. options: the check's options.
    """

    kind: str
    name: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)

    def __call__(self) -> None:
        check_plugin(self.kind, self.name, options=self.options, **self.kwargs)

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"


def all_checks(
    kinds: Iterable[str] = ("feature_maps", "paths", "solvers"),
    *,
    kwargs: Mapping[str, Mapping[str, Any]] | None = None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[PluginCheck]:
    """One :class:`PluginCheck` per registered name of each kind (built-ins and loaded plugins).

    Args:
        kinds: which kinds to list.
        kwargs: constructor arguments per registered name, replacing the defaults
            (:data:`DEFAULT_KWARGS` of its kind, or :data:`BUILTIN_SETUPS`), e.g.
            ``{"my_features": {"in_dim": 3, "width": 8}}``.
        options: check options per registered name, e.g. ``{"my_states": {"inputs": integer_inputs(5)}}``.
    """
    from kernelops.plugins.manager import get_host

    host = get_host()
    kwargs, options = dict(kwargs or {}), dict(options or {})
    checks = []
    for kind in kinds:
        if kind not in _CHECKERS:
            raise ValueError(f"kinds: expected entries from {sorted(_CHECKERS)}, got {kind!r}")
        for name in host.names(kind):
            base_kwargs, base_options = BUILTIN_SETUPS.get((kind, name), (DEFAULT_KWARGS[kind], {}))
            checks.append(PluginCheck(kind, name, dict(kwargs.get(name, base_kwargs)),
                                      dict(options.get(name, base_options))))
    return checks
