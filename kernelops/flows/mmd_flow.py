"""MMDFlow: the classical, fixed-kernel MMD gradient flow of particles toward a target sample.

docs/theory.md, "MMD gradient flows". Particles x₁…x_n (empirical law p) move along

    v(x) = −∇ₓ f(x),   f(x) = (1/n) Σ_j k(x, x_j) − (1/m) Σ_j k(x, y_j),

the gradient of the witness function of p against the target sample y₁…y_m, which is the
Wasserstein gradient of ½ MMD²(p, target) (Arbel et al., 2019). Explicit Euler steps
x ← x + dt·v(x) with dt = step_size·bandwidth² (so step_size is scale free for the RBF kernel,
whose gradient scales as 1/bandwidth). Optional noise injection (``noise`` = β) evaluates the
gradient at x + β·ε, ε ~ N(0, I), which helps the flow escape the stationary points where the
noiseless flow stalls. The kernel, and so the flow's geometry, never changes with time; this
is the baseline that the time-dependent spectral mean flow improves on (it reaches the target
at t = 1 rather than as t → ∞).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch

from kernelops.errors import ShapeError
from kernelops.features.kernels import laplace_kernel, median_bandwidth, rbf_kernel
from kernelops.utils.validation import check_positive, check_tensor

KERNELS = {"rbf": rbf_kernel, "laplace": laplace_kernel}


@dataclass(frozen=True)
class TransportResult:
    """Output of :meth:`MMDFlow.transport`.

    Attributes:
        x: final particles, shape of ``x0``.
        mmd: (steps + 1,) biased MMD to the target after 0, 1, …, steps steps (None if not recorded).
        trajectory: (steps + 1, *x0.shape) particles after every step (None unless requested).
    """

    x: torch.Tensor
    mmd: torch.Tensor | None
    trajectory: torch.Tensor | None

    def __iter__(self) -> Iterator[torch.Tensor | None]:  # allows ``x, mmd, traj = flow.transport(...)``
        return iter((self.x, self.mmd, self.trajectory))


class MMDFlow:
    """Fixed-kernel MMD gradient flow (explicit Euler, optional noise injection).

    Args:
        kernel: "rbf" or "laplace".
        bandwidth: kernel bandwidth; None = median heuristic on the pooled source and target,
            fixed at the start of :meth:`transport` (stored as ``bandwidth_``).
        step_size: Euler step in units of bandwidth² (dt = step_size·bandwidth²).
        noise: noise-injection level β ≥ 0 (in units of the bandwidth).
        seed: seed of the noise-injection generator.
    """

    def __init__(self, kernel: str = "rbf", bandwidth: float | None = None, step_size: float = 1.0,
                 noise: float = 0.0, seed: int = 0):
        if kernel not in KERNELS:
            raise ValueError(f"kernel: expected one of {sorted(KERNELS)}, got {kernel!r}")
        if bandwidth is not None:
            check_positive(bandwidth, "bandwidth")
        check_positive(step_size, "step_size")
        check_positive(noise, "noise", allow_zero=True)
        self.kernel, self.bandwidth, self.step_size, self.noise, self.seed = kernel, bandwidth, step_size, noise, seed
        self.target_: torch.Tensor | None = None
        self.bandwidth_: float | None = bandwidth
        self._shape: tuple[int, ...] | None = None

    def fit(self, target: torch.Tensor) -> MMDFlow:
        """Store the target sample.

        Shape:
            target: (m, ...) — trailing dimensions are flattened.
        """
        check_tensor(target, "target", min_ndim=2, allow_complex=False)
        if target.shape[0] < 1:
            raise ShapeError(f"target: expected at least one sample, got shape {tuple(target.shape)}")
        self._shape = tuple(target.shape[1:])
        self.target_ = target.reshape(target.shape[0], -1)
        return self

    def _flat(self, x: torch.Tensor, name: str) -> torch.Tensor:
        if self.target_ is None:
            raise RuntimeError("MMDFlow: call fit(target) first")
        check_tensor(x, name, min_ndim=2, allow_complex=False)
        if tuple(x.shape[1:]) != self._shape:
            raise ShapeError(f"{name}: expected shape (n, {', '.join(map(str, self._shape))}) like the target, "
                             f"got {tuple(x.shape)}")
        return x.reshape(x.shape[0], -1).to(self.target_.dtype)

    def _bw(self, x: torch.Tensor) -> float:
        if self.bandwidth_ is None:
            self.bandwidth_ = float(median_bandwidth(x, self.target_, generator=torch.Generator().manual_seed(self.seed)))
        return self.bandwidth_

    def _gram(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return KERNELS[self.kernel](a, b, self.bandwidth_)

    def _velocity_flat(self, z: torch.Tensor, particles: torch.Tensor) -> torch.Tensor:
        target = self.target_.to(z.device)
        with torch.enable_grad():
            zg = z.detach().requires_grad_(True)
            witness = self._gram(zg, particles.detach()).mean(1) - self._gram(zg, target).mean(1)
            (grad,) = torch.autograd.grad(witness.sum(), zg)
        return -grad

    def velocity(self, x: torch.Tensor, particles: torch.Tensor | None = None) -> torch.Tensor:
        """v(x) = −∇ₓ[mean_j k(x, p_j) − mean_j k(x, y_j)] with p the current particles.

        Args:
            x: where to evaluate.
            particles: the current particle cloud (default: ``x`` itself).

        Shape:
            x: (n, ...) like the target's trailing shape. returns: x's shape.
        """
        z = self._flat(x, "x")
        p = z if particles is None else self._flat(particles, "particles")
        self._bw(p)
        return self._velocity_flat(z, p).reshape(x.shape)

    def mmd(self, x: torch.Tensor) -> torch.Tensor:
        """Biased (V-statistic) MMD between ``x`` and the target with the flow's kernel.

        Shape:
            x: (n, ...). returns: ().
        """
        z = self._flat(x, "x")
        self._bw(z)
        return self._mmd_flat(z)

    def _mmd_flat(self, z: torch.Tensor) -> torch.Tensor:
        y = self.target_.to(z.device)
        m2 = self._gram(z, z).mean() + self._gram(y, y).mean() - 2 * self._gram(z, y).mean()
        return m2.clamp_min(0).sqrt()

    @torch.no_grad()
    def transport(self, x0: torch.Tensor, steps: int = 500, return_trajectory: bool = False,
                  record_mmd: bool = True) -> TransportResult:
        """Move particles ``x0`` by ``steps`` Euler steps of the MMD flow.

        Shape:
            x0: (n, ...) like the target. returns: TransportResult with x of x0's shape,
            mmd (steps + 1,), trajectory (steps + 1, n, ...).
        """
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
            raise ValueError(f"steps: expected a non-negative integer, got {steps!r}")
        z = self._flat(x0, "x0").clone()
        bw = self._bw(z)
        dt = self.step_size * bw * bw
        gen = torch.Generator(device=z.device).manual_seed(self.seed) if self.noise > 0 else None
        mmds = [self._mmd_flat(z)] if record_mmd else None
        traj = [z.clone()] if return_trajectory else None
        for _ in range(steps):
            probe = z
            if gen is not None:
                probe = z + self.noise * bw * torch.randn(z.shape, generator=gen, device=z.device, dtype=z.dtype)
            z = z + dt * self._velocity_flat(probe, z)
            if mmds is not None:
                mmds.append(self._mmd_flat(z))
            if traj is not None:
                traj.append(z.clone())
        shape = tuple(x0.shape)
        return TransportResult(
            x=z.reshape(shape),
            mmd=torch.stack(mmds) if mmds is not None else None,
            trajectory=torch.stack(traj).reshape(steps + 1, *shape) if traj is not None else None,
        )

    def __repr__(self) -> str:
        return (f"MMDFlow(kernel={self.kernel!r}, bandwidth={self.bandwidth_!r}, step_size={self.step_size}, "
                f"noise={self.noise})")


__all__ = ["KERNELS", "MMDFlow", "TransportResult"]
