"""The Gaussian base field: the exact marginal field of the data's first two moments.

If the training windows (flattened to D = N·d numbers) were Gaussian, N(m, Σ), the marginal field
of an affine path x_t = α_t x₁ + σ_t ε would be, with Σ = Q diag(λ) Qᵀ (see
:meth:`kernelops.paths.AffinePath.marginal_velocity`),

    u_t(x) = α'_t m + Q diag(g_t) Qᵀ (x − α_t m),   g_t = (α'_t α_t λ + σ'_t σ_t)/(α_t² λ + σ_t²),

the negative gradient of the quadratic potential

    P_t(x) = −α'_t mᵀx − ½ (x − α_t m)ᵀ Q diag(g_t) Qᵀ (x − α_t m).

It is a witness too: the MMD witness of the degree-2 polynomial kernel, whose mean embedding is
exactly (m, Σ). A SpectralMeanFlow with ``base_field="gaussian"`` adds it to the learned field
(v = u_base + c(t)·(−∇f)), so the network only learns what is not Gaussian about the data.
This matters most near t = 1: there the exact field removes noise at rate 1/σ_t in every
direction in which the data have little variance (for smooth windows, all the high temporal
frequencies), which is what a learned field was measured not to do (docs/spectral_mean_flow.md);
the base field does it in closed form.

λ is floored at ``SIGMA_FLOOR²``, as if the data carried that much isotropic noise: it keeps the
contraction finite at t = 1 (an end-point evaluation by RK4 or dopri5 would otherwise meet
rates up to 1/σ_min) and leaves directions of smaller variance to the network.
"""

from __future__ import annotations

from typing import Any

import torch

from kernelops.errors import CheckpointError, ShapeError
from kernelops.utils.validation import check_tensor

#: floor of σ_t in c(t) and of √λ in the Gaussian base field (model coordinates, where data span [−1, 1])
SIGMA_FLOOR = 1e-2


class GaussianBaseField:
    """Mean and covariance eigen-decomposition of flattened training windows, and their field.

    Args:
        mean: m, the mean window (flattened).
        eigvals: λ of Σ (ascending, floored at ``SIGMA_FLOOR²``).
        eigvecs: Q, columns are the eigenvectors.
        seq_len, in_dim: the window shape (N, d) the moments belong to; D = N·d.

    Shape:
        mean: (D,). eigvals: (D,). eigvecs: (D, D).
    """

    def __init__(self, mean: torch.Tensor, eigvals: torch.Tensor, eigvecs: torch.Tensor, seq_len: int, in_dim: int):
        dim = seq_len * in_dim
        check_tensor(mean, "mean", shape=(dim,), allow_complex=False)
        check_tensor(eigvals, "eigvals", shape=(dim,), allow_complex=False)
        check_tensor(eigvecs, "eigvecs", shape=(dim, dim), allow_complex=False)
        self.mean, self.eigvals, self.eigvecs = mean, eigvals, eigvecs
        self.seq_len, self.in_dim = int(seq_len), int(in_dim)

    @classmethod
    def from_windows(cls, x: torch.Tensor) -> GaussianBaseField:
        """Moments of windows in model coordinates (computed in float64, stored in x's dtype).

        Shape:
            x: (num, N, d) with num ≥ 2.
        """
        check_tensor(x, "x", ndim=3, allow_complex=False)
        num, seq_len, in_dim = x.shape
        if num < 2:
            raise ShapeError(f"x: the Gaussian base field needs at least 2 windows, got {num}")
        flat = x.reshape(num, -1).double()
        mean = flat.mean(0)
        centred = flat - mean
        cov = centred.T @ centred / (num - 1)
        lam, q = torch.linalg.eigh(cov)
        lam = lam.clamp_min(SIGMA_FLOOR**2)
        return cls(mean.to(x.dtype), lam.to(x.dtype), q.to(x.dtype), seq_len, in_dim)

    def to(self, device: torch.device | str) -> GaussianBaseField:
        return GaussianBaseField(self.mean.to(device), self.eigvals.to(device), self.eigvecs.to(device),
                                 self.seq_len, self.in_dim)

    def _parts(self, schedule: Any, x: torch.Tensor, t: torch.Tensor) -> tuple[Any, torch.Tensor, torch.Tensor]:
        if tuple(x.shape[1:]) != (self.seq_len, self.in_dim):
            raise ShapeError(f"x: the Gaussian base field was fit to windows of shape (N, d) = "
                             f"({self.seq_len}, {self.in_dim}), got {tuple(x.shape[1:])}; sample that length, "
                             "or train with base_field=None to sample other lengths")
        c = schedule.evaluate(t.to(x.dtype))
        a, s, da, ds = (v.unsqueeze(-1) for v in (c.alpha, c.sigma, c.d_alpha, c.d_sigma))  # (batch, 1)
        lam = self.eigvals.to(x.dtype)
        gain = (da * a * lam + ds * s) / (a**2 * lam + s**2)  # (batch, D)
        centred = (x.reshape(x.shape[0], -1) - a * self.mean.to(x.dtype)) @ self.eigvecs.to(x.dtype)
        return c, gain, centred

    def velocity(self, schedule: Any, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """u_t(x) of the Gaussian with these moments.

        Shape:
            x: (batch, N, d). t: (batch,). returns: (batch, N, d).
        """
        c, gain, centred = self._parts(schedule, x, t)
        field = c.d_alpha.unsqueeze(-1) * self.mean.to(x.dtype) + (gain * centred) @ self.eigvecs.to(x.dtype).T
        return field.reshape(x.shape)

    def potential(self, schedule: Any, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """P_t(x) with −∇ₓP_t = :meth:`velocity`.

        Shape:
            x: (batch, N, d). t: (batch,). returns: (batch,).
        """
        c, gain, centred = self._parts(schedule, x, t)
        linear = c.d_alpha * (x.reshape(x.shape[0], -1) @ self.mean.to(x.dtype))
        return -linear - 0.5 * (gain * centred.square()).sum(-1)

    def state_dict(self) -> dict[str, Any]:
        return {"mean": self.mean.cpu(), "eigvals": self.eigvals.cpu(), "eigvecs": self.eigvecs.cpu(),
                "seq_len": self.seq_len, "in_dim": self.in_dim}

    @classmethod
    def from_state_dict(cls, state: dict[str, Any], where: str = "checkpoint") -> GaussianBaseField:
        try:
            return cls(state["mean"], state["eigvals"], state["eigvecs"], state["seq_len"], state["in_dim"])
        except (KeyError, TypeError, ShapeError) as exc:
            raise CheckpointError(f"{where}: corrupt Gaussian base field ({type(exc).__name__}: {exc})") from exc


__all__ = ["SIGMA_FLOOR", "GaussianBaseField"]
