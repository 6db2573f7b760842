"""Mean and covariance of a Gaussian from vectors with missing entries (NaN), positive semi-definite by construction.

The pairwise-complete covariance (each entry over the rows where both coordinates are observed)
is not a covariance of anything: its pairs come from different subsets of rows, and with a few
per cent of the cells missing many of its eigenvalues are negative. Flooring them turns noise
directions into nearly exact ones, which a Gaussian skip then trusts. This module estimates the
moments of the Gaussian that maximises the likelihood of the observed entries instead, by EM
(each row's missing entries are conditioned on its observed ones under the current estimate):

    E-step:  x̂ᵢ = μ + Σ[:, oᵢ] Σ[oᵢ, oᵢ]⁻¹ (xᵢᵒ − μᵒ),   Cᵢ = Σ − Σ[:, oᵢ] Σ[oᵢ, oᵢ]⁻¹ Σ[oᵢ, :],
    M-step:  μ ← mean x̂ᵢ,   Σ ← mean [(x̂ᵢ − μ)(x̂ᵢ − μ)ᵀ + Cᵢ].

Every term of the M-step is positive semi-definite, so every iterate is. EM starts from the
pairwise-complete estimate projected onto the positive semi-definite cone (negative eigenvalues
set to zero) and shrunk toward its diagonal; that start alone is the answer when the E-steps
would cost more than :data:`EM_FLOP_BUDGET` (one Cholesky factorisation per row with gaps and
iteration, O(D³) each: long windows with many rows).
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from kernelops.flows.config import EM_FLOP_BUDGET, EM_ITERATIONS, EM_TOLERANCE, SHRINKAGE

#: ridge added to Σ[o, o] in the E-step, relative to the largest variance (keeps it factorisable)
_RIDGE = 1e-9
#: rows whose E-step runs together (one (D, D) Cholesky factor each)
_CHUNK_BYTES = 2**28


class GappyMoments(NamedTuple):
    """What :func:`gappy_moments` returns: the estimate and how it was reached."""

    mean: torch.Tensor
    covariance: torch.Tensor
    iterations: int
    converged: bool


def projected_pairwise(flat: torch.Tensor, observed: torch.Tensor, shrinkage: float | None = None
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean over each coordinate's observed rows, and the pairwise-complete covariance projected
    onto the positive semi-definite cone, then shrunk toward its diagonal by ``shrinkage``.

    Shape:
        flat: (n, D) float64, NaN where missing. observed: (n, D) bool. returns: (D,), (D, D).
    """
    shrinkage = SHRINKAGE if shrinkage is None else shrinkage
    obs = observed.to(flat.dtype)
    counts = obs.sum(0)
    mean = torch.nan_to_num(flat).sum(0) / counts.clamp_min(1)
    centred = torch.where(observed, flat - mean, torch.zeros((), dtype=flat.dtype, device=flat.device))
    pairs = (obs.T @ obs - 1).clamp_min(1)
    lam, q = torch.linalg.eigh(centred.T @ centred / pairs)
    projected = (q * lam.clamp_min(0)) @ q.T
    cov = (1 - shrinkage) * projected + shrinkage * torch.diag(projected.diagonal())
    return mean, 0.5 * (cov + cov.T)


def em_iterations(rows: int, dim: int, budget: float | None = None, limit: int = EM_ITERATIONS) -> int:
    """EM iterations affordable for ``rows`` rows with gaps of ``dim`` coordinates (about D³ each:
    a Cholesky factorisation and the inverse from it) within ``budget`` operations (default
    :data:`EM_FLOP_BUDGET`)."""
    budget = EM_FLOP_BUDGET if budget is None else budget
    per_iteration = max(rows, 1) * float(dim) ** 3
    return int(max(0, min(limit, budget // per_iteration)))


def _e_step(flat: torch.Tensor, observed: torch.Tensor, mean: torch.Tensor, cov: torch.Tensor
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """Filled rows x̂ᵢ and Σᵢ Cᵢ for rows that all have gaps.

    Σᵢ Cᵢ = n Σ − Σ (Σᵢ Mᵢ Σ[oᵢ, oᵢ]⁻¹ Mᵢ) Σ: the inverses are summed first, so each row costs one
    Cholesky factorisation and one inverse from it, and the two products with Σ are done once.

    Shape:
        flat, observed: (n, D). mean: (D,). cov: (D, D). returns: (n, D), (D, D).
    """
    dim = cov.shape[0]
    ridge = _RIDGE * float(cov.diagonal().max().clamp_min(torch.finfo(cov.dtype).tiny))
    zero = torch.zeros((), dtype=cov.dtype, device=cov.device)
    step = max(1, _CHUNK_BYTES // (3 * 8 * dim * dim))
    filled, inverses = [], torch.zeros_like(cov)
    for start in range(0, flat.shape[0], step):
        m = observed[start:start + step]
        mf = m.to(cov.dtype)
        residual = torch.where(m, flat[start:start + step] - mean, zero)
        # Σ[o, o]⁻¹ for every row at once: factor M Σ M + ridge·M + (I − M), the identity on the gaps
        system = mf[:, :, None] * cov * mf[:, None, :] + torch.diag_embed(torch.where(m, ridge, 1.0).to(cov.dtype))
        chol = torch.linalg.cholesky(system)
        weights = torch.cholesky_solve(residual[:, :, None], chol)[:, :, 0]
        # Σ is symmetric: (Σ w)ᵀ = wᵀ Σ; observed entries keep their values (not the ridge's near copy)
        filled.append(torch.where(m, flat[start:start + step], mean + weights @ cov))
        inverses += (torch.cholesky_inverse(chol) * mf[:, :, None] * mf[:, None, :]).sum(0)
    return torch.cat(filled), cov * flat.shape[0] - cov @ inverses @ cov


@torch.no_grad()
def gappy_moments(flat: torch.Tensor, *, iterations: int | None = None, tolerance: float = EM_TOLERANCE
                  ) -> GappyMoments:
    """Maximum-likelihood mean and covariance of rows with missing entries (module docstring).

    Args:
        flat: the rows, NaN where missing (computed in float64).
        iterations: EM iterations at most (None: :func:`em_iterations` within the flop budget;
            0: the projected and shrunk pairwise estimate alone).
        tolerance: stop when the covariance changes by less than this, relative.

    Returns:
        mean (D,), covariance (D, D) (symmetric, positive semi-definite), the iterations run and
        whether EM converged (True when nothing is missing).

    Shape:
        flat: (n, D) with n ≥ 2 and every coordinate observed in at least 2 rows.
    """
    x = flat.double()
    observed = ~torch.isnan(x)
    n = x.shape[0]
    if bool(observed.all()):
        mean = x.mean(0)
        centred = x - mean
        return GappyMoments(mean, centred.T @ centred / max(n - 1, 1), 0, True)
    mean, cov = projected_pairwise(x, observed)
    gappy = ~observed.all(1)
    complete = x[~gappy]
    rows, rows_observed = x[gappy], observed[gappy]
    limit = em_iterations(int(gappy.sum()), x.shape[1]) if iterations is None else int(iterations)
    done, converged = 0, False
    if limit:
        cov = cov * ((n - 1) / n)  # the iteration runs on the maximum-likelihood (divide by n) scale
    for iteration in range(1, limit + 1):
        done = iteration
        filled, spread = _e_step(rows, rows_observed, mean, cov)
        everything = torch.cat([complete, filled])
        new_mean = everything.mean(0)
        centred = everything - new_mean
        new_cov = (centred.T @ centred + spread) / n  # the maximum-likelihood M-step
        new_cov = 0.5 * (new_cov + new_cov.T)
        change = float(torch.linalg.matrix_norm(new_cov - cov) / torch.linalg.matrix_norm(new_cov).clamp_min(1e-300))
        mean, cov = new_mean, new_cov
        if change < tolerance:
            converged = True
            break
    # rescaled as complete data's sample covariance is (n − 1 in the denominator), so that the two
    # agree when nothing is missing; the start, already such an estimate, is left as it is
    return GappyMoments(mean, cov * (n / max(n - 1, 1)) if done else cov, done, converged)


__all__ = ["EM_FLOP_BUDGET", "EM_ITERATIONS", "EM_TOLERANCE", "SHRINKAGE", "GappyMoments", "em_iterations",
           "gappy_moments", "projected_pairwise"]
