"""A stationary Gaussian skip: correlated steps at any window length.

:class:`~kernelops.flows.gaussian.ChannelGaussian` samples any length but its steps are
independent, so its samples are white noise; :class:`~kernelops.flows.gaussian.WindowGaussian`
has the windows' full covariance but only at the training length. :class:`StationaryGaussian`
sits between them: each feature is a stationary Gaussian process with its own mean and an
autocovariance γ(k) that depends only on the lag k, so a window of any length N has a Toeplitz
covariance per feature (features independent, as in the channel skip).

Fitting. Each feature gets an autoregressive process AR(p) by Burg's method, pooled over the
training windows: at every order the reflection coefficient κ minimises the forward and backward
prediction errors of all windows together (pairs with a missing entry left out), so |κ| < 1 and
the process is stationary by construction. Burg is the estimator for many short records: the
Yule–Walker equations on autocovariances averaged over the steps of 24-step windows describe a
rough process (on Sines its samples were 40× rougher than the data), where Burg, which never
averages over positions, finds the windows' smooth oscillation (2.3×). The order grows to at most
N_train − 1 and stops before the innovation variance would fall below ``VARIANCE_FLOOR``. The
process reproduces the pooled variance γ(0), and its autocovariance continues at every lag by
γ(k) = Σⱼ φⱼ γ(k − j); its Toeplitz matrices are positive definite at every length.

The posterior mean given x_t and its potential are those of :class:`WindowGaussian`, per feature:
E[x₁ | x_t = x] = m + Q diag(g_t) Qᵀ (x − α_t m) with T_N = Q diag(λ) Qᵀ the N-step Toeplitz
covariance, eigendecomposed once per length (O(N³), cached) and applied in O(N²·d) per window.
"""

from __future__ import annotations

import torch
from torch import nn

from kernelops.errors import ShapeError
from kernelops.flows.config import VARIANCE_FLOOR
from kernelops.flows.gaussian import _check_missing
from kernelops.utils.validation import check_tensor


def burg(x: torch.Tensor, max_order: int, floor: float = VARIANCE_FLOOR) -> tuple[torch.Tensor, torch.Tensor]:
    """One feature's AR coefficients by Burg's method over many windows, and its autocovariance.

    Args:
        x: centred windows of one feature, float64, NaN where missing.
        max_order: the highest order tried (at most N − 1).
        floor: the order stops before the innovation variance would fall below it.

    Returns:
        φ (max_order,), zero beyond the order reached, with xⁿ ≈ Σⱼ φⱼ xⁿ⁻ʲ; and γ(0 … order) of that
        AR process (γ(0) the pooled variance of the observed entries).

    Shape:
        x: (num, N). returns: (max_order,) and (order + 1,).
    """
    forward, backward = x, x
    gamma = [torch.nanmean(x.square())]
    error = gamma[0]
    phi = x.new_zeros(max_order)
    for m in range(max_order):
        f, b = forward[:, 1:], backward[:, :-1]  # errors of predicting xⁿ from the past, xⁿ⁻ᵐ⁻¹ from the future
        both = ~(torch.isnan(f) | torch.isnan(b))
        zero = torch.zeros((), dtype=x.dtype)
        denominator = torch.where(both, f.square() + b.square(), zero).sum()
        if not bool(denominator > 0):
            break
        kappa = 2 * torch.where(both, f * b, zero).sum() / denominator
        if not bool(kappa.abs() < 1) or float(error * (1 - kappa.square())) < floor:
            break
        # γ(m + 1) from the order-m coefficients and κ (the inverse of the Levinson step)
        gamma.append((phi[:m] * torch.stack(gamma[1:m + 1]).flip(0)).sum() + kappa * error if m else kappa * error)
        phi[:m] = phi[:m] - kappa * phi[:m].flip(0)
        phi[m] = kappa
        forward, backward = f - kappa * b, b - kappa * f
        error = error * (1 - kappa.square())
    return phi, torch.stack(gamma)


class StationaryGaussian(nn.Module):
    """Per feature a stationary Gaussian process (mean, autocovariance) fit to the training windows.

    Args:
        seq_len: the training length N_train: γ is estimated at lags 0 … N_train − 1.
        in_dim: d.
        dtype: buffer dtype.

    Buffers (filled by :meth:`fit`): mean (d,); autocovariance (N_train, d), the fitted AR
    process's γ(0 … N_train − 1); ar (N_train − 1, d), its coefficients φ (zero beyond its order).
    """

    kind = "stationary"
    mean: torch.Tensor
    autocovariance: torch.Tensor
    ar: torch.Tensor

    def __init__(self, seq_len: int, in_dim: int, dtype: torch.dtype = torch.float32):
        super().__init__()
        if int(seq_len) < 2:
            raise ValueError(f"seq_len: expected at least 2 steps, got {seq_len}")
        self.seq_len, self.in_dim = int(seq_len), int(in_dim)
        self.register_buffer("mean", torch.zeros(in_dim, dtype=dtype))
        self.register_buffer("autocovariance", torch.cat([torch.ones(1, in_dim, dtype=dtype),
                                                          torch.zeros(seq_len - 1, in_dim, dtype=dtype)]))
        self.register_buffer("ar", torch.zeros(seq_len - 1, in_dim, dtype=dtype))
        # eigendecompositions of the Toeplitz covariances, per (length, dtype, device, buffer state)
        self._spectra: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}

    @torch.no_grad()
    def fit(self, x: torch.Tensor) -> StationaryGaussian:
        """Estimate each feature's mean and autocovariance, and the AR process they determine.

        Shape:
            x: (num, N_train, d), NaN where missing.
        """
        check_tensor(x, "x", ndim=3, allow_complex=False, finite=False)
        if tuple(x.shape[1:]) != (self.seq_len, self.in_dim):
            raise ShapeError(f"x: expected windows of shape ({self.seq_len}, {self.in_dim}), got {tuple(x.shape)}")
        data = x.double()
        _check_missing(data)
        counts = (~torch.isnan(data)).sum(dim=(0, 1))
        if bool((counts < 2).any()):
            raise ShapeError(f"x: feature {int(torch.argmin(counts))} has fewer than 2 observed values")
        mean = torch.nanmean(data.reshape(-1, self.in_dim), 0)
        ar = torch.zeros(self.seq_len - 1, self.in_dim, dtype=torch.float64)
        gamma = torch.zeros(self.seq_len, self.in_dim, dtype=torch.float64)
        for j in range(self.in_dim):
            ar[:, j], known = burg(data[..., j] - mean[j], self.seq_len - 1)
            gamma[:known.numel(), j] = known
        gamma[0] = gamma[0].clamp_min(VARIANCE_FLOOR)
        self.mean.copy_(mean)
        self.ar.copy_(ar)
        self.autocovariance.copy_(self._extend(gamma, ar, self.seq_len))
        return self

    @staticmethod
    def _extend(known: torch.Tensor, ar: torch.Tensor, length: int) -> torch.Tensor:
        """γ(0 … length − 1) of the AR process: ``known`` up to each feature's order p, then the
        recursion γ(k) = Σⱼ φⱼ γ(k − j).

        Shape:
            known: (≥ p + 1, d). ar: (P, d). returns: (length, d).
        """
        orders = [int(torch.nonzero(ar[:, j])[-1]) + 1 if bool(ar[:, j].any()) else 0 for j in range(ar.shape[1])]
        out = torch.zeros(length, ar.shape[1], dtype=ar.dtype, device=ar.device)
        for j, p in enumerate(orders):
            out[:min(p + 1, length), j] = known[:min(p + 1, length), j]
            for k in range(p + 1, length):
                out[k, j] = (ar[:p, j] * out[k - p:k, j].flip(0)).sum()
        return out

    def autocovariance_at(self, length: int) -> torch.Tensor:
        """γ(0 … length − 1) per feature, in float64.

        Shape:
            returns: (length, d).
        """
        known = self.autocovariance.double()
        if length <= self.seq_len:
            return known[:length]
        return self._extend(known, self.ar.double(), length)

    def covariance(self, length: int) -> torch.Tensor:
        """The Toeplitz covariance of ``length`` steps, per feature, in float64.

        Shape:
            returns: (d, length, length).
        """
        gamma = self.autocovariance_at(length)
        lag = (torch.arange(length)[:, None] - torch.arange(length)[None, :]).abs().to(gamma.device)
        return gamma.T[:, lag]

    def _spectrum(self, length: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        key = (length, dtype, self.ar.device, self.ar.data_ptr(), self.ar._version,
               self.autocovariance.data_ptr(), self.autocovariance._version)
        if key not in self._spectra:
            lam, q = torch.linalg.eigh(self.covariance(length))
            self._spectra = {key: (lam.clamp_min(VARIANCE_FLOOR).T.to(dtype), q.to(dtype))}  # keep one length
        return self._spectra[key]

    def _parts(self, x: torch.Tensor, alpha: torch.Tensor, sigma: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if x.shape[-1] != self.in_dim:
            raise ShapeError(f"x: this skip was fit to {self.in_dim} features, got {tuple(x.shape)}")
        lam, q = self._spectrum(x.shape[1], x.dtype)  # (N, d), (d, N, N)
        a, s = alpha[:, None, None], sigma[:, None, None]
        gain = a * lam / (a.square() * lam + s.square())  # (batch, N, d)
        centred = torch.einsum("bnd,dnk->bkd", x - a * self.mean, q)
        return gain, centred, q

    def forward(self, x: torch.Tensor, alpha: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """E[x₁ | x_t = x].

        Shape:
            x: (batch, N, d) with any N ≥ 1. alpha, sigma: (batch,). returns: (batch, N, d).
        """
        gain, centred, q = self._parts(x, alpha, sigma)
        return self.mean + torch.einsum("bkd,dnk->bnd", gain * centred, q)

    def potential(self, x: torch.Tensor, alpha: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """ψ_t(x) with ∇ψ_t = :meth:`forward`.

        Shape:
            x: (batch, N, d). alpha, sigma: (batch,). returns: (batch,).
        """
        gain, centred, _ = self._parts(x, alpha, sigma)
        return (x * self.mean).sum(dim=(1, 2)) + 0.5 * (gain * centred.square()).sum(dim=(1, 2))


__all__ = ["StationaryGaussian", "burg"]
