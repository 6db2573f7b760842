"""Closed-form skip terms of the velocity field: the posterior mean of a Gaussian fit to the data.

If the clean windows x₁ were Gaussian, N(m, Σ), then under an affine path x_t = α_t x₁ + σ_t x₀
the clean window given x_t = x would be Gaussian too, with mean

    E[x₁ | x_t = x] = m + Σ α_t (α_t² Σ + σ_t² I)⁻¹ (x − α_t m) = m + Q diag(g_t) Qᵀ (x − α_t m),
    g_t = α_t λ / (α_t² λ + σ_t²),   Σ = Q diag(λ) Qᵀ,

the gradient of the quadratic ψ_t(x) = mᵀx + ½ (x − α_t m)ᵀ Q diag(g_t) Qᵀ (x − α_t m). The
field (:mod:`kernelops.flows.field`) starts its clean-window prediction from this and lets the
network add what is not Gaussian. Near t = 1 it removes noise at exactly the right rate in every
direction where the data have little variance — for smooth windows, the high temporal
frequencies — which is what a learned field alone was measured not to do.

Two fits, both exact gradients of a quadratic:

* :class:`WindowGaussian`: mean and full covariance of the flattened (N·d) training windows;
  fixed to the training length, O((N·d)²) per window.
* :class:`ChannelGaussian`: one mean and variance per feature, shared by all steps; any length,
  O(N·d) per window.

Eigenvalues are floored at ``VARIANCE_FLOOR`` (model coordinates, where data span [−1, 1]), as
if the data carried that much isotropic noise, so the gains stay finite.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from kernelops.errors import ShapeError
from kernelops.flows.gappy_moments import gappy_moments
from kernelops.utils.validation import check_tensor

#: floor of the fitted variances (a standard deviation of 1e-3 in model coordinates)
VARIANCE_FLOOR = 1e-6
#: smallest posterior variance used when conditioning (σ_t = 0 makes every variance 0)
_TINY_VARIANCE = 1e-30


class PosteriorCovariance(NamedTuple):
    """Cov[x₁ | x_t] = floor·I + eigvecs · diag(excess) · eigvecsᵀ (see :meth:`WindowGaussian.posterior_covariance`)."""

    eigvecs: torch.Tensor
    excess: torch.Tensor
    floor: torch.Tensor


def _check_missing(flat: torch.Tensor) -> None:
    """NaN marks a missing entry; infinities are errors."""
    if bool(torch.isinf(flat).any()):
        raise ShapeError("x: contains infinite values (NaN marks a missing entry, infinity is not allowed)")


class WindowGaussian(nn.Module):
    """Gaussian over whole flattened windows of one length.

    Args:
        seq_len, in_dim: the window shape (N, d); D = N·d.
        dtype: buffer dtype.

    Buffers (filled by :meth:`fit`): mean (D,), eigvals (D,), eigvecs (D, D).
    """

    kind = "window"
    mean: torch.Tensor
    eigvals: torch.Tensor
    eigvecs: torch.Tensor

    def __init__(self, seq_len: int, in_dim: int, dtype: torch.dtype = torch.float32):
        super().__init__()
        dim = seq_len * in_dim
        self.seq_len, self.in_dim = int(seq_len), int(in_dim)
        self.register_buffer("mean", torch.zeros(dim, dtype=dtype))
        self.register_buffer("eigvals", torch.ones(dim, dtype=dtype))
        self.register_buffer("eigvecs", torch.eye(dim, dtype=dtype))

    @torch.no_grad()
    def fit(self, x: torch.Tensor) -> WindowGaussian:
        """Take the moments of windows (in float64, stored in the buffers' dtype).

        Missing entries (NaN): the mean and covariance of the Gaussian that best explains the
        observed entries (:func:`kernelops.flows.gappy_moments.gappy_moments`, EM), positive
        semi-definite by construction.

        Shape:
            x: (num, N, d) with num ≥ 2.
        """
        check_tensor(x, "x", ndim=3, allow_complex=False, finite=False)
        if tuple(x.shape[1:]) != (self.seq_len, self.in_dim) or x.shape[0] < 2:
            raise ShapeError(f"x: expected at least 2 windows of shape ({self.seq_len}, {self.in_dim}), "
                             f"got {tuple(x.shape)}")
        flat = x.reshape(x.shape[0], -1).double()
        _check_missing(flat)
        observed = (~torch.isnan(flat)).double()
        counts = observed.sum(0)
        if bool((counts < 2).any()):
            k = int(torch.argmin(counts))
            raise ShapeError(f"x: entry (step {k // self.in_dim}, feature {k % self.in_dim}) is observed in "
                             f"{int(counts[k])} window(s); the window Gaussian needs at least 2 (use skip='channel')")
        # with gaps: the maximum-likelihood Gaussian of the observed entries (EM), positive
        # semi-definite by construction, where the pairwise-complete estimate is not
        mean, cov, _, _ = gappy_moments(flat)
        lam, q = torch.linalg.eigh(cov)
        self.mean.copy_(mean)
        self.eigvals.copy_(lam.clamp_min(VARIANCE_FLOOR))
        self.eigvecs.copy_(q)
        return self

    def _parts(self, x: torch.Tensor, alpha: torch.Tensor, sigma: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if tuple(x.shape[1:]) != (self.seq_len, self.in_dim):
            raise ShapeError(f"x: this skip was fit to windows of shape (N, d) = ({self.seq_len}, {self.in_dim}), "
                             f"got {tuple(x.shape[1:])}; sample that length, or train with skip='channel' "
                             "to sample any length")
        a, s = alpha[:, None], sigma[:, None]
        gain = a * self.eigvals / (a.square() * self.eigvals + s.square())  # (batch, D)
        centred = (x.reshape(x.shape[0], -1) - a * self.mean) @ self.eigvecs
        return gain, centred

    def posterior_covariance(self, alpha: torch.Tensor, sigma: torch.Tensor, rank: int) -> PosteriorCovariance:
        """Cov[x₁ | x_t] = floor·I + U diag(excess) Uᵀ, in float64, for conditioning on observed entries.

        The eigenvalue λ of Σ becomes λσ_t²/(α_t²λ + σ_t²) in the posterior. U holds the ``rank``
        leading eigenvectors; the other directions get the posterior variance of their mean
        eigenvalue ν (so the result is exact when they share one variance, and always when
        ``rank`` ≥ N·d, taking ν the smallest eigenvalue); ``floor`` is that variance and
        ``excess`` ≥ 0 what each kept direction has above it.

        Shape:
            alpha, sigma: () or (batch,). returns: eigvecs (D, k); excess (k,) or (batch, k);
            floor () or (batch,).
        """
        lam, q = self.eigvals.double(), self.eigvecs.double()
        order = torch.argsort(lam, descending=True)
        kept, rest = order[:rank], order[rank:]
        nu = lam[rest].mean() if rest.numel() else lam.min()
        a, s = alpha.double()[..., None], sigma.double()[..., None]

        def posterior(v: torch.Tensor) -> torch.Tensor:
            return v * s.square() / (a.square() * v + s.square())

        floor = posterior(nu)
        excess = (posterior(lam[kept]) - floor).clamp_min(0.0)
        # at σ_t = 0 every variance is 0; the floor keeps the conditioning solvable (the update is then
        # y − D on the observed entries and nothing elsewhere, the exact limit)
        return PosteriorCovariance(q[:, kept], excess, floor[..., 0].clamp_min(_TINY_VARIANCE))

    def forward(self, x: torch.Tensor, alpha: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """E[x₁ | x_t = x].

        Shape:
            x: (batch, N, d). alpha, sigma: (batch,). returns: (batch, N, d).
        """
        gain, centred = self._parts(x, alpha, sigma)
        return (self.mean + (gain * centred) @ self.eigvecs.T).reshape(x.shape)

    def potential(self, x: torch.Tensor, alpha: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """ψ_t(x) with ∇ψ_t = :meth:`forward`.

        Shape:
            x: (batch, N, d). alpha, sigma: (batch,). returns: (batch,).
        """
        gain, centred = self._parts(x, alpha, sigma)
        return x.reshape(x.shape[0], -1) @ self.mean + 0.5 * (gain * centred.square()).sum(-1)


class ChannelGaussian(nn.Module):
    """Gaussian with one mean and variance per feature, independent across steps and features.

    Args:
        in_dim: d.
        dtype: buffer dtype.

    Buffers (filled by :meth:`fit`): mean (d,), variance (d,).
    """

    kind = "channel"
    mean: torch.Tensor
    variance: torch.Tensor

    def __init__(self, in_dim: int, dtype: torch.dtype = torch.float32):
        super().__init__()
        self.in_dim = int(in_dim)
        self.register_buffer("mean", torch.zeros(in_dim, dtype=dtype))
        self.register_buffer("variance", torch.ones(in_dim, dtype=dtype))

    @torch.no_grad()
    def fit(self, x: torch.Tensor) -> ChannelGaussian:
        """Take each feature's mean and variance over all windows and steps (NaN entries left out).

        Shape:
            x: (num, N, d) with num·N ≥ 2.
        """
        check_tensor(x, "x", ndim=3, allow_complex=False, finite=False)
        flat = x.reshape(-1, x.shape[-1]).double()
        if x.shape[-1] != self.in_dim or flat.shape[0] < 2:
            raise ShapeError(f"x: expected windows with {self.in_dim} features and at least 2 values, got {tuple(x.shape)}")
        _check_missing(flat)
        counts = (~torch.isnan(flat)).sum(0)
        if bool((counts < 2).any()):
            raise ShapeError(f"x: feature {int(torch.argmin(counts))} has fewer than 2 observed values")
        mean = torch.nanmean(flat, 0)
        self.mean.copy_(mean)
        self.variance.copy_((torch.nansum((flat - mean).square(), 0) / (counts - 1)).clamp_min(VARIANCE_FLOOR))
        return self

    def _gain(self, alpha: torch.Tensor, sigma: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a, s = alpha[:, None, None], sigma[:, None, None]
        return a, a * self.variance / (a.square() * self.variance + s.square())

    def forward(self, x: torch.Tensor, alpha: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """E[x₁ | x_t = x], step by step.

        Shape:
            x: (batch, N, d). alpha, sigma: (batch,). returns: (batch, N, d).
        """
        a, gain = self._gain(alpha, sigma)
        return self.mean + gain * (x - a * self.mean)

    def potential(self, x: torch.Tensor, alpha: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """ψ_t(x) with ∇ψ_t = :meth:`forward`.

        Shape:
            x: (batch, N, d). alpha, sigma: (batch,). returns: (batch,).
        """
        a, gain = self._gain(alpha, sigma)
        return (x * self.mean + 0.5 * gain * (x - a * self.mean).square()).sum(dim=(1, 2))


__all__ = ["VARIANCE_FLOOR", "ChannelGaussian", "PosteriorCovariance", "WindowGaussian"]
