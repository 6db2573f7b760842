"""The conformance kit catches deliberately broken feature maps, paths and solvers, with a useful message."""

from __future__ import annotations

import math

import pytest
import torch

from kernelops.features import FeatureMap
from kernelops.paths import OTPath, VEPath
from kernelops.plugins.testing import check_feature_map, check_path, check_solver
from kernelops.solvers import RK4, Dopri5, Euler, SolveResult


# -- feature maps ------------------------------------------------------------------------------
class CosineFeatures(FeatureMap):
    """A correct reference: real random-Fourier-style features with a fixed generator."""

    def __init__(self, in_dim: int = 3, out_dim: int = 16):
        super().__init__()
        self.in_dim, self.out_dim = in_dim, out_dim
        g = torch.Generator().manual_seed(0)
        self.register_buffer("w", torch.randn(in_dim, out_dim, generator=g))
        self.register_buffer("b", 2 * math.pi * torch.rand(out_dim, generator=g))

    def forward(self, x, t=None):
        self.check_input(x)
        return math.sqrt(2 / self.out_dim) * torch.cos(x @ self.w.to(x.dtype) + self.b.to(x.dtype))


class WrongShape(CosineFeatures):
    def forward(self, x, t=None):
        return super().forward(x)[..., :-1]


class LiesAboutComplex(CosineFeatures):
    is_complex = True


class Noisy(CosineFeatures):
    def forward(self, x, t=None):
        return super().forward(x) + 1e-3 * torch.randn(*x.shape[:-1], self.out_dim, dtype=x.dtype)


class AlwaysFloat32(CosineFeatures):
    def forward(self, x, t=None):
        return super().forward(x).float()


class AsymmetricKernel(CosineFeatures):
    def kernel(self, x, y, t=None):
        return super().kernel(x, y) + 0.1 * torch.arange(y.shape[0], dtype=x.dtype)


class NegativeKernel(CosineFeatures):
    def kernel(self, x, y, t=None):
        return -super().kernel(x, y)


class NoInputCheck(CosineFeatures):
    def forward(self, x, t=None):
        return torch.cos(x[..., :1] * self.w[0].to(x.dtype) + self.b.to(x.dtype))


class RejectsFloatTime(CosineFeatures):
    def forward(self, x, t=None):
        if isinstance(t, float):
            raise TypeError("t must be a tensor")
        return super().forward(x)


class MixesPoints(CosineFeatures):
    def forward(self, x, t=None):
        out = super().forward(x)
        return out - out.mean(dim=-2, keepdim=True) if x.dim() > 2 else out


def test_reference_feature_map_passes():
    check_feature_map(CosineFeatures(), in_dim=3)


@pytest.mark.parametrize(
    "fm,message",
    [
        (WrongShape(), r"returned shape \(5, 15\), expected \(5, 16\)"),
        (LiesAboutComplex(), "is_complex=True but forward returned dtype torch.float32"),
        (Noisy(), "not deterministic"),
        (AlwaysFloat32(), "must follow the input dtype"),
        (AsymmetricKernel(), "not symmetric"),
        (NegativeKernel(), "not positive semi-definite"),
        (NoInputCheck(), "was accepted; it must raise ValueError"),
        (RejectsFloatTime(), "forward with t=0.5 raised TypeError"),
        (MixesPoints(), "point by point"),
        (torch.nn.Linear(3, 4), "in_dim must be a positive int"),
        ("not a module", "nn.Module"),
    ],
    ids=lambda v: type(v).__name__ if not isinstance(v, str) else v[:20],
)
def test_broken_feature_maps_fail_with_a_clear_message(fm, message):
    with pytest.raises(AssertionError, match=message):
        check_feature_map(fm)


def test_wrong_in_dim_is_reported():
    with pytest.raises(AssertionError, match="in_dim is 3, expected 4"):
        check_feature_map(CosineFeatures(), in_dim=4)


# -- paths -------------------------------------------------------------------------------------
class FlippedVelocity(OTPath):
    def velocity(self, x0, x1, t):
        return -super().velocity(x0, x1, t)


class WrongEnd:
    """A self-consistent path (velocity = d/dt interpolate) that ends at x1 / 2 instead of x1."""

    def __init__(self):
        self._ot = OTPath()
        self.sample_source, self.sample_t = self._ot.sample_source, self._ot.sample_t

    def interpolate(self, x0, x1, t):
        return self._ot.interpolate(x0, 0.5 * x1, t)

    def velocity(self, x0, x1, t):
        return self._ot.velocity(x0, 0.5 * x1, t)

    def sample(self, x0, x1, t):
        return self._ot.sample(x0, 0.5 * x1, t)


class FirstTimeOnly(OTPath):
    """Uses t[0] for the whole batch: the per-sample broadcasting bug."""

    def interpolate(self, x0, x1, t):
        return super().interpolate(x0, x1, t.reshape(-1)[0] if isinstance(t, torch.Tensor) else t)

    def velocity(self, x0, x1, t):
        return super().velocity(x0, x1, t.reshape(-1)[0] if isinstance(t, torch.Tensor) else t)


class Float32Source(OTPath):
    def sample_source(self, shape, *, generator=None, device=None, dtype=torch.float32):
        return super().sample_source(shape, generator=generator, device=device, dtype=torch.float32)


class TimesOutOfRange(OTPath):
    def sample_t(self, batch, *, generator=None, device=None):
        return 2 * super().sample_t(batch, generator=generator, device=device)


class StaleSample(OTPath):
    def sample(self, x0, x1, t):
        s = super().sample(x0, x1, t)
        return type(s)(s.x0, s.x1, s.t, s.x_t, s.u_t + 1.0)


class CurlyMarginal(OTPath):
    def marginal_velocity(self, x, t, mean, cov):
        rot = torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]], dtype=x.dtype)
        return super().marginal_velocity(x, t, mean, cov) + x @ rot.T


class WrongConditional(VEPath):
    def conditional_velocity(self, x_t, x1, t):
        return super().conditional_velocity(x_t, x1, t) * 1.01


class NoSampleT:
    def sample_source(self, shape, **kw):
        return torch.randn(shape)

    interpolate = velocity = sample = sample_source


def test_builtin_paths_pass_as_references():
    check_path(OTPath())
    check_path(VEPath())


@pytest.mark.parametrize(
    "path,message",
    [
        (FlippedVelocity(), "velocity is not the time derivative of interpolate at t=0.1"),
        (WrongEnd(), r"interpolate\(x0, x1, 1\) must be x1"),
        (FirstTimeOnly(), "per-sample t of shape \\(batch,\\) is not broadcast"),
        (Float32Source(), "sample_source\\(\\(4, 3, 2\\), dtype=float64\\) returned torch.float32"),
        (TimesOutOfRange(), "sample_t returned times outside \\[0, 1\\]"),
        (StaleSample(), "sample\\(\\).u_t differs from velocity"),
        (CurlyMarginal(), "marginal_velocity is not a gradient field"),
        (WrongConditional(), "conditional_velocity\\(x_t, x1, t=0.1\\) differs from velocity"),
        (NoSampleT(), "missing method sample_t"),
    ],
    ids=lambda v: type(v).__name__,
)
def test_broken_paths_fail_with_a_clear_message(path, message):
    with pytest.raises(AssertionError, match=message):
        check_path(path)


# -- solvers -----------------------------------------------------------------------------------
class OverCounts(RK4):
    def solve(self, f, x0, t0=0.0, t1=1.0, steps=None, **kw):
        r = super().solve(f, x0, t0, t1, steps, **kw)
        return SolveResult(r.x, r.nfe + 1, r.trajectory, r.times)


class NoGrad(RK4):
    def solve(self, *args, **kw):
        with torch.no_grad():
            return super().solve(*args, **kw)


class FloatTime(Euler):
    def solve(self, f, x0, t0=0.0, t1=1.0, steps=None, **kw):
        return super().solve(lambda t, x: f(float(t), x), x0, t0, t1, steps, **kw)


class OneStep(Euler):
    def solve(self, f, x0, t0=0.0, t1=1.0, steps=None, **kw):
        return super().solve(f, x0, t0, t1, 1, **kw)


class AlwaysForward(RK4):
    def solve(self, f, x0, t0=0.0, t1=1.0, steps=None, **kw):
        return super().solve(f, x0, min(t0, t1), max(t0, t1), steps, **kw)


class IgnoresTime(RK4):
    def solve(self, f, x0, t0=0.0, t1=1.0, steps=None, **kw):
        return super().solve(lambda t, x: f(torch.zeros_like(t) + 0.5, x), x0, t0, t1, steps, **kw)


class AcceptsSteps(Dopri5):
    def solve(self, f, x0, t0=0.0, t1=1.0, steps=None, **kw):
        return super().solve(f, x0, t0, t1, None, **kw)


class DefaultSteps(RK4):
    def solve(self, f, x0, t0=0.0, t1=1.0, steps=None, **kw):
        return super().solve(f, x0, t0, t1, steps or 10, **kw)


class Float32Result(RK4):
    def solve(self, *args, **kw):
        r = super().solve(*args, **kw)
        return SolveResult(r.x.float(), r.nfe)


@pytest.mark.parametrize(
    "solver,message",
    [
        (OverCounts(), "reported nfe = 401 but f was called 400 times"),
        (NoGrad(), "autograd disabled inside f"),
        (FloatTime(), "0-d tensor of x0's dtype"),
        (OneStep(), "dx/dt = -x from t=0.0 to t=1.0 is off by a relative"),
        (AlwaysForward(), "from t=1.0 to t=0.0 is off by a relative"),
        (IgnoresTime(), r"dx/dt = -3t\^2 x from t=0.0 to t=1.0 is off"),
        (AcceptsSteps(), "must reject steps="),
        (DefaultSteps(), "neither steps nor grid"),
        (Float32Result(), "dtype float64, got torch.float32"),
    ],
    ids=lambda v: type(v).__name__,
)
def test_broken_solvers_fail_with_a_clear_message(solver, message):
    with pytest.raises(AssertionError, match=message):
        check_solver(solver)


def test_a_solver_that_crashes_is_reported_not_propagated():
    class Crashes(RK4):
        def solve(self, *args, **kw):
            raise RuntimeError("boom")

    with pytest.raises(AssertionError, match=r"solve\(dx/dt = -x, t0=0.0, t1=1.0\) raised RuntimeError: boom"):
        check_solver(Crashes())
