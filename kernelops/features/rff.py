"""Random Fourier features (Rahimi & Recht) of the Gaussian (RBF) and Laplace kernels.

A shift-invariant kernel k(x, y) = κ(x − y) is the Fourier transform of a probability density
p(ω) (Bochner), so k(x, y) = E_ω[cos(ω·(x − y))]. Drawing D frequencies ω_j ~ p gives an explicit
feature map whose inner product is a Monte Carlo estimate of k, with error O(1/√D):

* RBF k = exp(−‖x−y‖²/(2ℓ²)): ω ~ N(0, I/ℓ²).
* Laplace k = exp(−‖x−y‖₁/ℓ) = Π_k exp(−|x_k−y_k|/ℓ): each ω_k ~ Cauchy(0, 1/ℓ) independently.

Real form φ(x) = √(2/D)·cos(Wx + b), b ~ U[0, 2π); complex form φ(x) = exp(iWx)/√D.
"""

from __future__ import annotations

import math

import torch

from kernelops.features.base import FeatureMap
from kernelops.features.kernels import laplace_kernel, rbf_kernel

KERNELS = ("rbf", "laplace")


def _check_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name}: expected a positive integer, got {value!r}")
    return value


class RandomFourierFeatures(FeatureMap):
    """Random Fourier features approximating the RBF or Laplace kernel.

    The frequencies (and phases of the real form) are drawn once, in float64 with a private
    generator seeded by ``seed``, then cast to ``dtype`` and stored as buffers, so the same seed
    gives the same map in every dtype, ``.to(device)`` moves it and ``state_dict`` saves it.

    Args:
        in_dim: d, the input dimension.
        out_dim: D, the number of features (random frequencies).
        bandwidth: ℓ > 0, the kernel's length scale.
        kernel: ``"rbf"`` or ``"laplace"``.
        complex: complex features exp(iWx)/√D instead of real √(2/D)·cos(Wx + b).
        seed: seed of the private generator; ``None`` draws one from torch's global generator
            (so ``torch.manual_seed`` still makes the map reproducible).
        dtype: floating dtype of the buffers (real part dtype for the complex form).

    Raises:
        ValueError: naming the argument when in_dim/out_dim are not positive integers, the
            bandwidth is not positive, the kernel is unknown, or dtype is not floating.
    """

    freqs: torch.Tensor  # buffer (out_dim, in_dim)
    phase: torch.Tensor  # buffer (out_dim,), real form only

    def __init__(
        self,
        in_dim: int,
        out_dim: int = 256,
        bandwidth: float = 1.0,
        kernel: str = "rbf",
        complex: bool = False,  # noqa: A002 (the public argument name)
        seed: int | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        self.in_dim = _check_int(in_dim, "in_dim")
        self.out_dim = _check_int(out_dim, "out_dim")
        if isinstance(bandwidth, bool) or not isinstance(bandwidth, (int, float)) \
                or not math.isfinite(bandwidth) or bandwidth <= 0:
            raise ValueError(f"bandwidth: expected a positive finite number, got {bandwidth!r}")
        if kernel not in KERNELS:
            raise ValueError(f"kernel: expected one of {', '.join(map(repr, KERNELS))}, got {kernel!r}")
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise ValueError(f"dtype: expected a real floating dtype such as torch.float32, got {dtype!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(f"seed: expected an integer or None, got {seed!r}")
        self.bandwidth = float(bandwidth)
        self.kernel_name = kernel
        self.is_complex = bool(complex)
        if seed is None:
            seed = int(torch.randint(0, 2**62, (1,)).item())
        self.seed = seed

        gen = torch.Generator().manual_seed(seed)
        shape = (self.out_dim, self.in_dim)
        if kernel == "rbf":
            freqs = torch.randn(shape, generator=gen, dtype=torch.float64) / self.bandwidth
        else:
            freqs = torch.empty(shape, dtype=torch.float64).cauchy_(0.0, 1.0 / self.bandwidth, generator=gen)
        self.register_buffer("freqs", freqs.to(dtype))
        if not self.is_complex:
            phase = torch.rand(self.out_dim, generator=gen, dtype=torch.float64) * (2 * math.pi)
            self.register_buffer("phase", phase.to(dtype))

    def forward(self, x: torch.Tensor, t: torch.Tensor | float | None = None) -> torch.Tensor:
        """Features φ(x); ``t`` is ignored (the map does not depend on time).

        Floating inputs are computed in their own dtype (buffers are cast to it); integer
        inputs in the buffers' dtype.

        Shape:
            x: (..., in_dim). returns: (..., out_dim), real, or complex for ``complex=True``.
        """
        self.check_input(x, "x")
        dtype = x.dtype if x.is_floating_point() else self.freqs.dtype
        x = x.to(dtype)
        proj = x @ self.freqs.to(dtype).T
        if self.is_complex:
            scale = 1.0 / math.sqrt(self.out_dim)
            return torch.complex(torch.cos(proj), torch.sin(proj)) * scale
        return torch.cos(proj + self.phase.to(dtype)) * math.sqrt(2.0 / self.out_dim)

    def kernel(self, x: torch.Tensor, y: torch.Tensor, t: torch.Tensor | float | None = None) -> torch.Tensor:
        """The exact kernel the features approximate (not the feature inner product).

        Shape:
            x: (n, in_dim), y: (m, in_dim). returns: (n, m), real.
        """
        self.check_input(x, "x")
        self.check_input(y, "y")
        fn = rbf_kernel if self.kernel_name == "rbf" else laplace_kernel
        return fn(x, y, self.bandwidth)

    def approx_kernel(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Re⟨φ(x_i), φ(y_j)⟩, the Monte Carlo estimate of :meth:`kernel`.

        Shape:
            x: (n, in_dim), y: (m, in_dim). returns: (n, m), real.
        """
        return super().kernel(x, y)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, kernel={self.kernel_name!r}, bandwidth={self.bandwidth:g}, seed={self.seed}"
