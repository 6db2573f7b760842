"""CMEOperator: a thin fit / predict / apply / eig / svd wrapper around the estimators.

Convention: the operator U (Dy, Dx) maps input features to conditional mean embeddings,
μ_{Y|X=x} = U φ(x), hence μ_Y = U μ_X for any input law. For a transition operator of a
Markov chain (X = Zⁿ, Y = Zⁿ⁺¹, one feature map) U is square and μ_{Zⁿ⁺¹} = U μ_{Zⁿ}; its
eigenvalues describe the dynamics (|λ| < 1 decays, complex λ oscillate).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from kernelops.errors import KernelopsError, ShapeError
from kernelops.operators.estimators import _check_reg, reduced_rank_factors, ridge_operator
from kernelops.operators.spectral import (
    EigResult,
    SVDResult,
    eig_decomposition,
    eig_decomposition_lowrank,
    svd_decomposition,
)
from kernelops.utils.validation import check_tensor

__all__ = ["CMEOperator", "NotFittedError"]

FeatureFn = Callable[[torch.Tensor], torch.Tensor]
_ESTIMATORS = ("ridge", "rrr")


class NotFittedError(KernelopsError, RuntimeError):
    """An operator was used before ``fit`` (or ``fit_trajectories``)."""


class CMEOperator:
    """Conditional mean embedding operator U with μ_{Y|X=x} = U φ(x), estimated from samples.

    Args:
        feature_map: φ for the inputs: a :class:`~kernelops.features.base.FeatureMap` or any
            callable mapping (n, d) to (n, Dx). None means linear features φ(x) = x.
        target_feature_map: ψ for the targets; None means the same as ``feature_map`` (a
            transition operator when inputs and targets live in one space).
        reg: ridge parameter γ ≥ 0 of U = C_yx (C_xx + γ I)⁻¹.
        rank: the rank r of the reduced-rank estimator (required by ``estimator="rrr"``).
        estimator: ``"ridge"`` or ``"rrr"`` (reduced-rank regression, Kostic et al. 2022).

    Attributes:
        operator_: U after fitting, shape (Dy, Dx), on the device and in the dtype of the features.
        n_samples_: the number of (x, y) pairs it was fitted on (None for a known operator).
        in_dim_: d, the last dimension of the inputs it was fitted on (None if unknown).

    Fitting is differentiable with respect to feature-map parameters; wrap it in
    ``torch.no_grad()`` to keep no graph.

    Example:
        >>> op = CMEOperator(reg=1e-6).fit_trajectories(z)   # z: (num, N, d)
        >>> op.eig().frequency, op.eig().decay_time
    """

    def __init__(
        self,
        feature_map: FeatureFn | None = None,
        target_feature_map: FeatureFn | None = None,
        reg: float = 1e-6,
        rank: int | None = None,
        estimator: str = "ridge",
    ) -> None:
        for name, fm in (("feature_map", feature_map), ("target_feature_map", target_feature_map)):
            if fm is not None and not callable(fm):
                raise ValueError(f"{name}: expected None, a FeatureMap or a callable, got {type(fm).__name__}")
        if estimator not in _ESTIMATORS:
            raise ValueError(f"estimator: expected one of {_ESTIMATORS}, got {estimator!r}")
        if estimator == "rrr" and rank is None:
            raise ValueError("rank: estimator='rrr' needs a rank (an int >= 1), got None")
        if estimator == "ridge" and rank is not None:
            raise ValueError(f"rank: only used by estimator='rrr'; got rank={rank!r} with estimator='ridge'")
        if rank is not None and (isinstance(rank, bool) or not isinstance(rank, int) or rank < 1):
            raise ValueError(f"rank: expected None or an int >= 1, got {rank!r}")
        self.feature_map = feature_map
        self.target_feature_map = target_feature_map
        self.reg = _check_reg(reg)
        self.rank = rank
        self.estimator = estimator
        self.operator_: torch.Tensor | None = None
        self.n_samples_: int | None = None
        self.in_dim_: int | None = None
        self._factors: tuple[torch.Tensor, torch.Tensor] | None = None  # RRR: U = Q A

    # -- features ---------------------------------------------------------------------------

    @property
    def _target_map(self) -> FeatureFn | None:
        return self.target_feature_map if self.target_feature_map is not None else self.feature_map

    @staticmethod
    def _features(fm: FeatureFn | None, x: torch.Tensor, name: str) -> torch.Tensor:
        if fm is None:
            feats = x
        else:
            feats = fm(x)
            check_tensor(feats, f"features of {name}", shape=(*x.shape[:-1], "D"))
        if not (feats.is_floating_point() or feats.is_complex()):
            feats = feats.to(torch.get_default_dtype())
        return feats

    # -- fitting ----------------------------------------------------------------------------

    def _fit_features(self, phi: torch.Tensor, psi: torch.Tensor) -> CMEOperator:
        if self.estimator == "ridge":
            self.operator_, self._factors = ridge_operator(phi, psi, self.reg), None
        else:
            limit = min(phi.shape[1], psi.shape[1])
            assert self.rank is not None  # __init__ refuses estimator="rrr" without a rank
            if self.rank > limit:
                raise ValueError(
                    f"rank: expected at most min(Dx, Dy) = {limit} (feature dimensions "
                    f"Dx={phi.shape[1]}, Dy={psi.shape[1]}), got {self.rank}"
                )
            q, a = reduced_rank_factors(phi, psi, self.reg, self.rank)
            self.operator_, self._factors = q @ a, (q, a)
        self.n_samples_ = phi.shape[0]
        return self

    def fit(self, X: torch.Tensor, Y: torch.Tensor) -> CMEOperator:
        """Estimate U from pairs (xᵢ, yᵢ).

        Shape:
            X: (n, d). Y: (n, d'). Sets ``operator_`` (Dy, Dx).

        Raises:
            ShapeError: wrong rank, mismatched n, NaN/inf, or features of the wrong shape.
        """
        check_tensor(X, "X", shape=("n", "d"))
        check_tensor(Y, "Y", shape=(X.shape[0], "d'"))
        if X.shape[0] == 0:
            raise ShapeError("X: expected at least one sample, got shape (0, d)")
        phi = self._features(self.feature_map, X, "X")
        psi = self._features(self._target_map, Y, "Y")
        self.in_dim_ = X.shape[1]
        return self._fit_features(phi, psi)

    def fit_trajectories(self, Z: torch.Tensor) -> CMEOperator:
        """Estimate the transition operator from consecutive pairs (zⁿ, zⁿ⁺¹) of trajectories.

        All num·(N − 1) pairs of all trajectories are pooled (the chain is time-homogeneous).
        Features of each state are computed once when input and target maps coincide.

        Shape:
            Z: (num, N, d) or (N, d) for a single trajectory, N ≥ 2.
        """
        check_tensor(Z, "Z", ndim=(2, 3))
        if Z.shape[-2] < 2:
            raise ShapeError(f"Z: expected at least 2 time steps, shape (num, N>=2, d); got {tuple(Z.shape)}")
        d = Z.shape[-1]
        flat = Z.reshape(-1, d)
        phi_all = self._features(self.feature_map, flat, "Z")
        if self._target_map is self.feature_map:
            psi_all = phi_all
        else:
            psi_all = self._features(self._target_map, flat, "Z")
        lead = Z.shape[:-1]  # (num, N) or (N,)
        phi_all = phi_all.reshape(*lead, -1)
        psi_all = psi_all.reshape(*lead, -1)
        phi = phi_all[..., :-1, :].reshape(-1, phi_all.shape[-1])
        psi = psi_all[..., 1:, :].reshape(-1, psi_all.shape[-1])
        self.in_dim_ = d
        return self._fit_features(phi, psi)

    # -- using the fitted operator -----------------------------------------------------------

    def _fitted(self) -> torch.Tensor:
        if self.operator_ is None:
            raise NotFittedError("CMEOperator is not fitted yet; call fit first (or fit_trajectories)")
        return self.operator_

    @property
    def is_fitted(self) -> bool:
        """Whether ``operator_`` is available."""
        return self.operator_ is not None

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Conditional mean embeddings μ_{Y|X=x} = U φ(x) (E[Y | x] for linear target features).

        Shape:
            x: (m, d). returns: (m, Dy).
        """
        u = self._fitted()
        check_tensor(x, "x", shape=("m", self.in_dim_ if self.in_dim_ is not None else "d"))
        phi = self._features(self.feature_map, x, "x")
        if phi.shape[-1] != u.shape[1]:
            raise ShapeError(
                f"x: its features have dimension {phi.shape[-1]}, the operator expects Dx={u.shape[1]}"
            )
        dtype = torch.promote_types(phi.dtype, u.dtype)
        return phi.to(dtype) @ u.to(dtype).mT

    def apply(self, mu: torch.Tensor) -> torch.Tensor:
        """Push embeddings forward: μ_Y = U μ_X, applied along the last dimension.

        Shape:
            mu: (..., Dx). returns: (..., Dy).
        """
        u = self._fitted()
        check_tensor(mu, "mu", min_ndim=1)
        if mu.shape[-1] != u.shape[1]:
            raise ShapeError(f"mu: expected shape (..., {u.shape[1]}), got {tuple(mu.shape)}")
        dtype = torch.promote_types(mu.dtype, u.dtype)
        if not (dtype.is_floating_point or dtype.is_complex):
            dtype = torch.get_default_dtype()
        return mu.to(dtype) @ u.to(dtype).mT

    def eig(self, k: int | None = None, *, dt: float = 1.0) -> EigResult:
        """Eigenmodes of a square (transition) operator, sorted by |λ| descending.

        For a reduced-rank estimate only its r nonzero modes are returned (computed in the
        r-dimensional range, so they are well conditioned).

        Args:
            k: number of modes to keep (default: all, or r for ``estimator="rrr"``).
            dt: time per step, for :attr:`EigResult.frequency` and :attr:`EigResult.decay_time`.

        Raises:
            NotFittedError: before fit. ShapeError: for a non-square operator (use :meth:`svd`).
        """
        u = self._fitted()
        if u.shape[0] != u.shape[1]:
            raise ShapeError(
                f"operator_: eig needs a square operator (a transition operator, Dy == Dx); "
                f"this one has shape (Dy, Dx) = {tuple(u.shape)}; use svd() instead"
            )
        if self._factors is not None:
            return eig_decomposition_lowrank(*self._factors, k, dt=dt)
        return eig_decomposition(u, k, dt=dt)

    def svd(self, k: int | None = None) -> SVDResult:
        """Singular triplets U = Σ σᵢ uᵢ vᵢᴴ of any operator (also non-square), σ descending.

        Args:
            k: number of triplets (default: min(Dy, Dx), or r for ``estimator="rrr"``).
        """
        u = self._fitted()
        if k is None and self._factors is not None:
            k = self._factors[0].shape[1]
        return svd_decomposition(u, k)

    def to(self, *args: Any, **kwargs: Any) -> CMEOperator:
        """Move the fitted tensors (and feature maps that are modules) like ``Tensor.to``."""
        for name in ("feature_map", "target_feature_map"):
            fm = getattr(self, name)
            if isinstance(fm, torch.nn.Module):
                fm.to(*args, **kwargs)
        if self.operator_ is not None:
            self.operator_ = self.operator_.to(*args, **kwargs)
        if self._factors is not None:
            self._factors = tuple(f.to(*args, **kwargs) for f in self._factors)  # type: ignore[assignment]
        return self

    def __repr__(self) -> str:
        state = f"fitted, shape={tuple(self.operator_.shape)}" if self.operator_ is not None else "not fitted"
        rank = f", rank={self.rank}" if self.rank is not None else ""
        return f"CMEOperator(estimator={self.estimator!r}, reg={self.reg:g}{rank}, {state})"
