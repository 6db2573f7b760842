"""Training windows with missing entries (NaN): what the network sees where a value is missing.

The loss is taken over observed entries only (:class:`~kernelops.flows.FlowMatchingObjective`
with a mask), but the field reads whole windows, so a missing entry of x₁ still needs a value in
the noised input x_t = α_t x₁ + σ_t x₀. :func:`fill_missing` gives it, once before training:

* with the window skip: the conditional mean of the skip's Gaussian (fit to the observed
  entries by EM, :mod:`kernelops.flows.gappy_moments`) given the window's observed entries,
  E[x₁ᵐⁱˢ | x₁ᵒᵇˢ], so filled windows look like smooth data rather than holes;
* otherwise: the mean of each feature's observed values.

NaN never reaches the network. The posterior target (``target="posterior"``) uses the filled
windows as its reference set.
"""

from __future__ import annotations

import torch

from kernelops.errors import ShapeError
from kernelops.flows.conditional import conditioning_system
from kernelops.flows.skip import ChannelGaussian, WindowGaussian

#: windows filled together at most (each needs one Cholesky factorisation of its window covariance)
FILL_CHUNK = 512
#: bytes of (N·d)² float64 matrices a chunk may hold (about three per window); long windows are
#: filled fewer at a time (MuJoCo's 1 400 values: 22 windows, where 512 took 24 GB)
FILL_MEMORY = 2**30


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
def fill_missing(x: torch.Tensor, mask: torch.Tensor, skip: WindowGaussian | ChannelGaussian | None) -> torch.Tensor:
    """Windows with their missing entries filled (module docstring); observed entries unchanged.

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


__all__ = ["FILL_CHUNK", "FILL_MEMORY", "fill_chunk", "fill_missing", "observed_mask"]
