"""The spectral parameters of the chain potential: eigenvalues λ, block-diagonal complex heads, and the
constant start and end of the identity-plus chain.

The hidden-chain operator of :class:`~kernelops.flows.potentials.ChainPotential` is held by its
spectrum and read-out heads (docs/theory.md, "The neural spectral mean flow"):

* eigenvalues λ = exp(−exp(ν) + iθ), so |λ| = exp(−exp(ν)) lies in (0, 1) for every real ν and
  the chain cannot blow up through Λ;
* heads B, L, R, H, complex and block diagonal by feature layer: block l maps the k = width/2
  complex features of layer l to its r_b = r / depth chain modes, stored as (depth, k, r_b);
* the chain is read over features with a constant coordinate (:mod:`kernelops.chains.identity_plus`):
  per block, β̃(x) = b₀ + g·hB, W̃(x) = I + g·Lᵀ diag(h) R, η̃(x) = e₀ + g·hH, with the constant
  start b₀ and end e₀ ∈ C^{r_b} and the gain g = exp(log_gain) > 0.

Initialisation: |λ| uniform in area on a ring ε_low ≤ |λ| ≤ ε_high, θ uniform in [−a, a] for an
angle a ≤ π (a = π: the whole circle); complex
Gaussian heads with E|entry|² = 1/r_b for L and 1/k for B, R (the per-block fan-in), so that with
unit-rms features g·Lᵀdiag(h)R moves the running row vector by about g times its norm; b₀ complex
Gaussian with E|entry|² = 1/r_b. The end, e₀ and H, starts at zero: the witness is zero and the
field starts as its skip's Gaussian field, like the window potential's zero read-out.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from kernelops.flows.config import CHAIN_TRANSFER_GAIN


def _complex_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.complex128 if dtype == torch.float64 else torch.complex64


def ring_radii(n: tuple[int, ...], ring: tuple[float, float], generator: torch.Generator | None = None,
               dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Radii of points uniform (in area) on the annulus ring[0] ≤ |λ| ≤ ring[1].

    Shape:
        returns: ``n``.
    """
    lo, hi = ring
    u = torch.rand(n, generator=generator, dtype=torch.float64)
    return torch.sqrt(u * (hi**2 - lo**2) + lo**2).to(dtype)


def complex_gaussian(shape: tuple[int, ...], variance: float, dtype: torch.dtype,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """Circular complex Gaussian entries with E|z|² = ``variance``."""
    re = torch.randn(shape, generator=generator, dtype=torch.float64)
    im = torch.randn(shape, generator=generator, dtype=torch.float64)
    return (torch.complex(re, im) * math.sqrt(variance / 2)).to(_complex_dtype(dtype))


class SpectralHeads(nn.Module):
    """Eigenvalues and block-diagonal complex read-out heads of the spectral chain.

    Args:
        num_blocks: number of feature blocks (the MLP depth).
        block_dim: complex features per block k (width/2).
        block_rank: chain modes per block r_b (total rank r = num_blocks·r_b).
        ring: (ε_low, ε_high) radii of the initial eigenvalue ring, 0 < ε_low < ε_high < 1.
        angle: initial arguments θ uniform in [−angle, angle], 0 < angle ≤ π.
        gain: initial transfer gain g > 0 of the identity-plus chain.
        dtype: real dtype; heads are the matching complex dtype.
        generator: torch.Generator for the initial draw (reproducible initialisation).

    Shape:
        B, L, R, H: (num_blocks, block_dim, block_rank) complex. nu, theta: (num_blocks, block_rank).
        start, end: (num_blocks, block_rank) complex. log_gain: (num_blocks,).
    """

    def __init__(self, num_blocks: int, block_dim: int, block_rank: int,
                 ring: tuple[float, float] = (0.05, 0.95), angle: float = math.pi,
                 gain: float = CHAIN_TRANSFER_GAIN,
                 dtype: torch.dtype = torch.float32, generator: torch.Generator | None = None):
        super().__init__()
        for name, value in (("num_blocks", num_blocks), ("block_dim", block_dim), ("block_rank", block_rank)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected a positive integer, got {value!r}")
        lo, hi = (float(v) for v in ring)
        if not 0.0 < lo < hi < 1.0:
            raise ValueError(f"ring: expected 0 < low < high < 1, got {ring!r}")
        if not (isinstance(angle, (int, float)) and 0.0 < angle <= math.pi):
            raise ValueError(f"angle: expected a number in (0, π], got {angle!r}")
        if not (isinstance(gain, (int, float)) and math.isfinite(gain) and gain > 0):
            raise ValueError(f"gain: expected a positive finite number, got {gain!r}")
        self.ring, self.angle = (lo, hi), float(angle)
        self.num_blocks, self.block_dim, self.block_rank = num_blocks, block_dim, block_rank
        shape = (num_blocks, block_rank)
        radii = ring_radii(shape, self.ring, generator, torch.float64)
        # |λ| = exp(−exp(ν))  ⇔  ν = log(−log|λ|)
        self.nu = nn.Parameter(torch.log(-torch.log(radii)).to(dtype))
        unit = 2 * torch.rand(shape, generator=generator, dtype=torch.float64) - 1
        self.theta = nn.Parameter((self.angle * unit).to(dtype))
        k, r = block_dim, block_rank
        full = (num_blocks, k, r)
        self.B = nn.Parameter(complex_gaussian(full, 1.0 / k, dtype, generator))
        self.L = nn.Parameter(complex_gaussian(full, 1.0 / r, dtype, generator))
        self.R = nn.Parameter(complex_gaussian(full, 1.0 / k, dtype, generator))
        self.H = nn.Parameter(torch.zeros(full, dtype=_complex_dtype(dtype)))
        self.start = nn.Parameter(complex_gaussian(shape, 1.0 / r, dtype, generator))
        self.end = nn.Parameter(torch.zeros(shape, dtype=_complex_dtype(dtype)))
        self.log_gain = nn.Parameter(torch.full((num_blocks,), math.log(gain), dtype=dtype))

    @property
    def rank(self) -> int:
        """Total chain rank r = num_blocks·block_rank."""
        return self.num_blocks * self.block_rank

    def eigvals(self) -> torch.Tensor:
        """λ = exp(−exp(ν) + iθ).

        Shape:
            returns: (num_blocks, block_rank) complex.
        """
        log_mod = -torch.exp(self.nu)
        return torch.exp(torch.complex(log_mod, self.theta))

    def gain(self) -> torch.Tensor:
        """g = exp(log_gain), the transfer gain of each block.

        Shape:
            returns: (num_blocks,) real.
        """
        return torch.exp(self.log_gain)

    def config(self) -> dict:
        return {"num_blocks": self.num_blocks, "block_dim": self.block_dim, "block_rank": self.block_rank,
                "ring": list(self.ring), "angle": self.angle}

    def extra_repr(self) -> str:
        return (f"blocks={self.num_blocks}, k={self.block_dim}, r_b={self.block_rank}, ring={self.ring}, "
                f"angle={self.angle:.3g}")


__all__ = ["SpectralHeads", "complex_gaussian", "ring_radii"]
