"""Conditional mean embedding (CME) operators: estimators, EVD/SVD spectra, thin classes.

Convention: U (Dy, Dx) with μ_{Y|X=x} = U φ(x), so μ_Y = U μ_X. For a finite-state chain with
one-hot features U = Pᵀ (P row-stochastic); see :mod:`kernelops.operators.discrete`.

    from kernelops.operators import CMEOperator
    op = CMEOperator(reg=1e-6).fit_trajectories(z)     # z: (num, N, d), linear features
    modes = op.eig()                                    # EigResult: eigvals, right, left
    modes.frequency, modes.decay_time
"""

from __future__ import annotations

from kernelops.operators.cme import CMEOperator, NotFittedError
from kernelops.operators.discrete import IndicatorFeatures, markov_operator_from_matrix
from kernelops.operators.estimators import (
    kernel_cme_predict,
    kernel_ridge_weights,
    reduced_rank_factors,
    reduced_rank_operator,
    regularized_risk,
    ridge_operator,
)
from kernelops.operators.spectral import (
    EigResult,
    SVDResult,
    eig_decomposition,
    eig_decomposition_lowrank,
    svd_decomposition,
)

__all__ = [
    "CMEOperator",
    "EigResult",
    "IndicatorFeatures",
    "NotFittedError",
    "SVDResult",
    "eig_decomposition",
    "eig_decomposition_lowrank",
    "kernel_cme_predict",
    "kernel_ridge_weights",
    "markov_operator_from_matrix",
    "reduced_rank_factors",
    "reduced_rank_operator",
    "regularized_risk",
    "ridge_operator",
    "svd_decomposition",
]
