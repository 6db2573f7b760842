"""Gaussians fit to the training windows, and conditioning them on observed entries.

If the clean windows x₁ were Gaussian, N(m, Σ), then under an affine path x_t = α_t x₁ + σ_t x₀
the clean window given x_t = x would be Gaussian too, with mean

    E[x₁ | x_t = x] = m + Σ α_t (α_t² Σ + σ_t² I)⁻¹ (x − α_t m) = m + Q diag(g_t) Qᵀ (x − α_t m),
    g_t = α_t λ / (α_t² λ + σ_t²),   Σ = Q diag(λ) Qᵀ,

the gradient of the quadratic ψ_t(x) = mᵀx + ½ (x − α_t m)ᵀ Q diag(g_t) Qᵀ (x − α_t m). The
field (:mod:`kernelops.flows.field`) starts its clean-window prediction from this "skip" and lets
the network add what is not Gaussian: near t = 1 it removes noise at the right rate in every
direction, including those where the data have little variance.

* :class:`WindowGaussian`: mean and full covariance of the flattened (N·d) training windows;
  fixed to the training length, O((N·d)²) per window.
* :class:`ChannelGaussian`: one mean and variance per feature, shared by all steps; any length,
  O(N·d) per window.

Eigenvalues are floored at ``VARIANCE_FLOOR`` (as if the data carried that much isotropic noise),
so the gains stay finite.

Conditioning on observed entries x₁ᵒ = y (:func:`condition_on_observed`,
:func:`conditioned_with_variance`) uses the posterior covariance C_t = Cov[x₁ | x_t] of the window
Gaussian, kept exactly on its leading ``rank`` eigen-directions and isotropic on the others, so one
mask costs a Woodbury solve of that rank. :func:`fill_missing` gives missing training entries
the Gaussian's conditional mean given the window's observed ones.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from kernelops.errors import ShapeError
from kernelops.flows.config import FILL_CHUNK, FILL_MEMORY, VARIANCE_FLOOR
from kernelops.flows.gappy_moments import gappy_moments
from kernelops.utils.validation import check_tensor

#: smallest posterior variance used when conditioning (σ_t = 0 makes every variance 0)
_TINY_VARIANCE = 1e-30
#: jitter added to the diagonal of the dense conditioning system, relative to its largest entry
_JITTER = 1e-10


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


def conditioning_system(cov_t: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Cholesky factors of M C M + (I − M) for every window's mask M = diag(m).

    Solving with them gives C_oo⁻¹ r_o on the observed entries (and r on the others) for every
    window at once; the observed diagonal gets a jitter of ``_JITTER`` times C's largest
    variance. The dense exact solve of :func:`fill_missing` (run once before training); sampling
    and the mask-conditioned field use the low-rank :func:`condition_on_observed`.

    Shape:
        cov_t: (D, D). m: (B, D) bool. returns: (B, D, D).
    """
    mf = m.to(cov_t.dtype)
    system = mf[:, :, None] * cov_t * mf[:, None, :]
    scale = cov_t.diagonal().max().clamp_min(torch.finfo(cov_t.dtype).tiny)
    diag = torch.where(m, _JITTER * scale, torch.ones((), dtype=cov_t.dtype, device=cov_t.device))
    return torch.linalg.cholesky(system + torch.diag_embed(diag))


def masked_gram(eigvecs: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Uᵀ diag(m) U for every mask, summed over the observed rows or subtracted over the missing
    ones, whichever are fewer (U has orthonormal columns, so Uᵀ U = I).

    Shape:
        eigvecs: (D, k). masks: (n, D) bool. returns: (n, k, k).
    """
    rank = eigvecs.shape[1]
    eye = torch.eye(rank, dtype=eigvecs.dtype, device=eigvecs.device)
    out = torch.empty(masks.shape[0], rank, rank, dtype=eigvecs.dtype, device=eigvecs.device)
    for i, mask in enumerate(masks):
        if 2 * int(mask.sum()) <= mask.numel():
            rows = eigvecs[mask]
            out[i] = rows.T @ rows
        else:
            rows = eigvecs[~mask]
            out[i] = eye - rows.T @ rows
    return out


def condition_on_observed(cov: PosteriorCovariance, prediction: torch.Tensor, y: torch.Tensor, m: torch.Tensor
                          ) -> torch.Tensor:
    """The conditioned prediction of :func:`conditioned_with_variance`, without computing the variance."""
    return _conditioned(cov, prediction, y, m, variance=False)[0]


def conditioned_with_variance(cov: PosteriorCovariance, prediction: torch.Tensor, y: torch.Tensor, m: torch.Tensor
                              ) -> tuple[torch.Tensor, torch.Tensor]:
    """prediction + C[:, o] C[o, o]⁻¹ (y − predictionᵒ): a Gaussian with mean ``prediction`` and
    covariance C, conditioned on its observed entries being y.

    C = f I + U diag(δ) Uᵀ (:meth:`WindowGaussian.posterior_covariance`),
    so C_oo⁻¹ comes from the Woodbury identity with one k × k factorisation,
    f I_k + √δ (U_oᵀ U_o) √δ: O(N·d·k²) per mask instead of O((N·d)³). Computed in float64. With
    one time for every row (sampling), rows that share a mask share the factorisation (K draws of
    a window, or every window of a forecast); with one time per row (training), each row has its own.

    Also returns how much conditioning shrank the variance of the free entries: their mean
    conditional variance tr(C_mm − C_mo C_oo⁻¹ C_om)/|m| over the mean variance tr(C)/D of all
    entries (exactly 1 with nothing observed, and for a row with nothing free). From the same factor:
    tr over the free entries = f|m| + f (Σᵢ (A⁻¹)ᵢᵢ (δᵢ + f) − k), A = f I + √δ U_oᵀU_o √δ.

    Shape:
        cov: eigvecs (D, k); excess (k,) or (B, k); floor () or (B,). prediction, y, m: (B, N, d).
        returns: (B, N, d) and (B,).
    """
    conditioned, ratio = _conditioned(cov, prediction, y, m, variance=True)
    assert ratio is not None
    return conditioned, ratio


def _conditioned(cov: PosteriorCovariance, prediction: torch.Tensor, y: torch.Tensor, m: torch.Tensor, *,
                 variance: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    u, excess, floor = cov
    rows, rank = prediction.shape[0], u.shape[1]
    flat_m = m.reshape(rows, -1)
    zero = torch.zeros((), dtype=torch.float64, device=y.device)
    residual = torch.where(flat_m, y.reshape(rows, -1).double() - prediction.reshape(rows, -1).double(), zero)
    masks, which = torch.unique(flat_m, dim=0, return_inverse=True)
    gram = masked_gram(u, masks)
    root = excess.sqrt()
    projected = root * (residual @ u)  # √δ ⊙ U_oᵀ r, (B, k)
    eye = torch.eye(rank, dtype=torch.float64, device=u.device)
    if excess.dim() == 1:  # one time: one factorisation per distinct mask
        chol = torch.linalg.cholesky(floor * eye + root[:, None] * gram * root[None, :])
        solved = torch.empty_like(projected)
        for j in range(masks.shape[0]):
            rows_j = (which == j).nonzero()[:, 0]
            solved[rows_j] = torch.cholesky_solve(projected[rows_j].T, chol[j]).T
        f = floor
    else:
        chol = torch.linalg.cholesky(floor[:, None, None] * eye + root[:, :, None] * gram[which] * root[:, None, :])
        solved = torch.cholesky_solve(projected[:, :, None], chol)[:, :, 0]
        f = floor[:, None]
    weights = torch.where(flat_m, (residual - (root * solved) @ u.T) / f, zero)  # C_oo⁻¹ r_o (Woodbury)
    update = f * weights + (excess * (weights @ u)) @ u.T  # C[:, o] w
    conditioned = prediction + update.reshape(prediction.shape).to(prediction.dtype)
    if not variance:
        return conditioned, None
    inverse_diagonal = torch.cholesky_inverse(chol).diagonal(dim1=-2, dim2=-1)  # (masks or B, k)
    if excess.dim() == 1:
        inverse_diagonal = inverse_diagonal[which]
    free = (~flat_m).sum(1).to(torch.float64)
    f_row = f.reshape(-1) if f.dim() else f
    free_total = f_row * free + f_row * ((inverse_diagonal * (excess + f)).sum(-1) - rank)
    total = f_row * flat_m.shape[1] + excess.sum(-1)
    ratio = (free_total.clamp_min(0) / free.clamp_min(1)) / (total / flat_m.shape[1])
    # exactly 1 where nothing is observed (the unconditional field) or nothing is free
    ratio = torch.where((free > 0) & flat_m.any(1), ratio, torch.ones_like(ratio))
    return conditioned, ratio.expand(rows)


def fill_chunk(size: int) -> int:
    """Windows filled together for windows of ``size`` = N·d values (at least 1)."""
    return max(1, min(FILL_CHUNK, FILL_MEMORY // (3 * 8 * size * size)))


def observed_mask(x: torch.Tensor) -> torch.Tensor | None:
    """True where ``x`` is observed (not NaN); None when nothing is missing.

    Raises:
        ShapeError: every entry is missing, or an entry is infinite.

    Shape:
        x: (num, N, d). returns: (num, N, d) bool or None.
    """
    missing = torch.isnan(x)
    if not bool(missing.any()):
        return None
    if bool(missing.all()):
        raise ShapeError("data: every entry is missing (NaN)")
    if bool(torch.isinf(x).any()):
        raise ShapeError("data: contains infinite values (NaN marks a missing entry, infinity is not allowed)")
    return ~missing


@torch.no_grad()
def fill_missing(x: torch.Tensor, mask: torch.Tensor, skip: nn.Module | None) -> torch.Tensor:
    """Windows with their missing entries filled; observed entries unchanged.

    The field reads whole windows, so a missing entry of x₁ still needs a value in the noised
    input x_t. With the window skip it gets E[x₁ᵐⁱˢ | x₁ᵒᵇˢ] under the skip's Gaussian (fit to the
    observed entries by EM, :mod:`kernelops.flows.gappy_moments`), so filled windows look like
    smooth data rather than holes; otherwise each feature's mean over its observed values.

    Args:
        x: windows in model coordinates, NaN where missing.
        mask: True where observed.
        skip: the field's fitted skip (a WindowGaussian gives the conditional mean), or None.

    Shape:
        x, mask: (num, N, d). returns: (num, N, d), finite.
    """
    if not isinstance(skip, WindowGaussian):
        flat = x.reshape(-1, x.shape[-1])
        means = torch.nanmean(flat.double(), 0).nan_to_num(0.0).to(x.dtype)
        return torch.where(mask, x, means.expand_as(x))
    lam, q = skip.eigvals.double(), skip.eigvecs.double()
    cov = (q * lam) @ q.T
    mean = skip.mean.double()
    out = []
    step = fill_chunk(mean.numel())
    for start in range(0, x.shape[0], step):
        chunk, m = x[start:start + step], mask[start:start + step]
        flat_m = m.reshape(m.shape[0], -1)
        mf = flat_m.double()
        residual = torch.where(flat_m, chunk.reshape(m.shape[0], -1).double() - mean, torch.zeros((), dtype=torch.float64))
        # solve Σ_oo w = r_o per window, as (M Σ M + I − M) w = M r, then fill with mean + Σ_{:,o} w
        weights = torch.cholesky_solve(residual[:, :, None], conditioning_system(cov, flat_m))[:, :, 0]
        conditional = (mean + (weights * mf) @ cov).reshape(chunk.shape).to(x.dtype)
        out.append(torch.where(m, chunk, conditional))
    return torch.cat(out)


__all__ = ["ChannelGaussian", "PosteriorCovariance", "WindowGaussian", "condition_on_observed",
           "conditioned_with_variance", "conditioning_system", "fill_chunk", "fill_missing", "masked_gram",
           "observed_mask"]
