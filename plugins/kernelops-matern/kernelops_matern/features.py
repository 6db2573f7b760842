"""Random Fourier features of the Matérn kernel.

By Bochner's theorem the Matérn-ν kernel with lengthscale ℓ on R^d has as spectral measure a
multivariate Student t with 2ν degrees of freedom and scale 1/ℓ: ω = z · sqrt(2ν / u) / ℓ with
z ~ N(0, I_d), u ~ χ²_{2ν}. Features φ(x) = sqrt(2/D) cos(ω·x + b), b ~ U[0, 2π), satisfy
E⟨φ(x), φ(y)⟩ = k(x, y) (Rahimi & Recht 2007).
"""

from __future__ import annotations

import math

import torch

from kernelops.features import FeatureMap

_SUPPORTED_NU = (0.5, 1.5, 2.5)


def matern_kernel(x: torch.Tensor, y: torch.Tensor, lengthscale: float, nu: float) -> torch.Tensor:
    """Exact Matérn kernel for ν ∈ {1/2, 3/2, 5/2}.

    Shape:
        x: (n, d), y: (m, d). returns: (n, m).
    """
    r = torch.cdist(x, y) / lengthscale
    if nu == 0.5:
        return torch.exp(-r)
    if nu == 1.5:
        s = math.sqrt(3.0) * r
        return (1.0 + s) * torch.exp(-s)
    s = math.sqrt(5.0) * r
    return (1.0 + s + s * s / 3.0) * torch.exp(-s)


class MaternFourierFeatures(FeatureMap):
    """Real random Fourier features approximating the Matérn-ν kernel.

    Args:
        in_dim: input dimension d.
        out_dim: number of features D.
        lengthscale: ℓ > 0.
        nu: smoothness, one of 0.5, 1.5, 2.5.
        seed: seed of the frequencies (same seed, same features).
    """

    is_complex = False

    omega: torch.Tensor  # buffer (out_dim, in_dim)
    phase: torch.Tensor  # buffer (out_dim,)

    def __init__(self, in_dim: int, out_dim: int = 256, lengthscale: float = 1.0, nu: float = 2.5,
                 seed: int | None = 0, dtype: torch.dtype = torch.float32):
        super().__init__()
        if in_dim <= 0 or out_dim <= 0:
            raise ValueError(f"in_dim and out_dim must be positive, got in_dim={in_dim}, out_dim={out_dim}")
        if lengthscale <= 0:
            raise ValueError(f"lengthscale must be positive, got {lengthscale}")
        if nu not in _SUPPORTED_NU:
            raise ValueError(f"nu must be one of {_SUPPORTED_NU}, got {nu}")
        self.in_dim, self.out_dim, self.lengthscale, self.nu = in_dim, out_dim, float(lengthscale), float(nu)
        gen = torch.Generator().manual_seed(int(torch.randint(2**62, ())) if seed is None else seed)
        z = torch.randn(out_dim, in_dim, generator=gen, dtype=torch.float64)
        u = _chi_square(2 * self.nu, out_dim, gen)  # (D, 1)
        omega = z * torch.sqrt(2.0 * self.nu / u) / self.lengthscale
        phase = 2.0 * math.pi * torch.rand(out_dim, generator=gen, dtype=torch.float64)
        self.register_buffer("omega", omega.to(dtype))
        self.register_buffer("phase", phase.to(dtype))

    def forward(self, x: torch.Tensor, t: torch.Tensor | float | None = None) -> torch.Tensor:
        """Shape: x (..., d) -> (..., D)."""
        self.check_input(x)
        proj = x @ self.omega.to(x.dtype).T + self.phase.to(x.dtype)
        return math.sqrt(2.0 / self.out_dim) * torch.cos(proj)

    def kernel(self, x: torch.Tensor, y: torch.Tensor, t: torch.Tensor | float | None = None) -> torch.Tensor:
        """The exact Matérn kernel the features approximate. Shape: (n, d), (m, d) -> (n, m)."""
        self.check_input(x, "x")
        self.check_input(y, "y")
        return matern_kernel(x, y, self.lengthscale, self.nu)


def _chi_square(dof: float, n: int, gen: torch.Generator) -> torch.Tensor:
    """n draws of χ²_dof, shape (n, 1). dof = 2ν is an integer here (1, 3 or 5), so a χ² is a
    sum of dof squared standard normals, which a seeded generator draws reproducibly."""
    dof = int(round(dof))
    return (torch.randn(n, dof, generator=gen, dtype=torch.float64) ** 2).sum(dim=1, keepdim=True)
