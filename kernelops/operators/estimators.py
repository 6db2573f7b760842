"""CME operator estimators as pure functions on feature or Gram matrices.

Convention: rows are samples. ``phi_x`` (n, Dx) stacks φ(x_i), ``psi_y`` (n, Dy) stacks ψ(y_i),
and the estimated operator U (Dy, Dx) maps features to conditional embeddings,
μ_{Y|X=x} = U φ(x), hence μ_Y = U μ_X. With C_xx = Φᴴ Φ / n and C_yx = Ψᵀ conj(Φ) / n (the
usual ΦᵀΦ/n and ΨᵀΦ/n for real features) the ridge estimator is

    U = C_yx (C_xx + γ I)⁻¹,   equivalently   Uᵀ = (ΦᴴΦ + nγ I)⁻¹ Φᴴ Ψ,

the minimiser of the regularised least-squares risk
J(U) = (1/n) Σᵢ ‖ψ(yᵢ) − U φ(xᵢ)‖² + γ ‖U‖²_F. Every function works on the device and in the
dtype of its inputs (real or complex) and never forms an explicit inverse of a feature
covariance.
"""

from __future__ import annotations

import torch

from kernelops.errors import ShapeError
from kernelops.utils.validation import check_tensor

__all__ = [
    "ridge_operator",
    "reduced_rank_operator",
    "reduced_rank_factors",
    "kernel_ridge_weights",
    "kernel_cme_predict",
    "regularized_risk",
]

_METHODS = ("auto", "primal", "dual")


def _check_reg(reg: float, name: str = "reg") -> float:
    try:
        value = float(reg)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected a non-negative float, got {reg!r}") from None
    if not value >= 0.0 or value == float("inf"):  # also rejects NaN
        raise ValueError(f"{name}: expected a finite non-negative float, got {reg!r}")
    return value


def _check_pair(phi_x: torch.Tensor, psi_y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate the stacked features and bring them to one floating (or complex) dtype."""
    check_tensor(phi_x, "phi_x", shape=("n", "Dx"))
    n = phi_x.shape[0]
    check_tensor(psi_y, "psi_y", shape=(n, "Dy"))
    if n == 0:
        raise ShapeError("phi_x: expected at least one sample (row), got shape (0, ...)")
    dtype = torch.promote_types(phi_x.dtype, psi_y.dtype)
    if not (dtype.is_floating_point or dtype.is_complex):
        dtype = torch.get_default_dtype()
    return phi_x.to(dtype), psi_y.to(dtype)


def _solve_hpd(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Solve a x = b for Hermitian positive definite a (a Gram matrix plus a ridge).

    Cholesky; if it fails (a ridge too small to make a numerically definite) the pseudo-inverse.
    """
    chol, info = torch.linalg.cholesky_ex(a)
    if int(info) == 0:
        return torch.cholesky_solve(b, chol)
    return torch.linalg.pinv(a, hermitian=True) @ b


def _solve_ridged_gram(k: torch.Tensor, b: torch.Tensor, reg: float) -> torch.Tensor:
    """(K + n·reg·I)⁻¹ b; with reg = 0 the pseudo-inverse (K may be singular)."""
    n = k.shape[0]
    if reg == 0.0:
        return torch.linalg.pinv(k, hermitian=True) @ b
    return _solve_hpd(k + n * reg * _eye_like(n, k), b)


def _eye_like(size: int, ref: torch.Tensor) -> torch.Tensor:
    return torch.eye(size, dtype=ref.dtype, device=ref.device)


def ridge_operator(
    phi_x: torch.Tensor, psi_y: torch.Tensor, reg: float, *, method: str = "auto"
) -> torch.Tensor:
    """Ridge (Tikhonov) estimate of the CME operator U = C_yx (C_xx + reg·I)⁻¹.

    Two algebraically identical forms are available (push-through identity
    (ΦᴴΦ + c I)⁻¹Φᴴ = Φᴴ(ΦΦᴴ + c I)⁻¹, c = n·reg):

    * primal: Uᵀ = (ΦᴴΦ + n·reg·I)⁻¹ ΦᴴΨ, a Dx × Dx solve, cost O(n·Dx² + Dx³);
    * dual (Gram) form: Uᵀ = Φᴴ (ΦΦᴴ + n·reg·I)⁻¹ Ψ, an n × n solve, cost O(n²·Dx + n³);
      for real features this is U = Ψᵀ (ΦΦᵀ + n·reg·I)⁻¹ Φ.

    ``method="auto"`` takes the dual form when n < Dx (fewer samples than features) and the
    primal one otherwise. Both use a Cholesky solve. reg = 0 is ordinary least squares,
    solved as Uᵀ = Φ⁺Ψ with the SVD-based pseudo-inverse: the minimum-norm solution, i.e. the
    reg → 0⁺ limit, also for rank-deficient features (``method`` is then irrelevant).

    Args:
        phi_x: input features φ(x_i), one row per sample.
        psi_y: target features ψ(y_i), one row per sample.
        reg: the ridge parameter γ ≥ 0 (scaled by n as above).
        method: ``"auto"``, ``"primal"`` or ``"dual"``.

    Returns:
        U such that μ_{Y|X=x} = U φ(x).

    Shape:
        phi_x: (n, Dx). psi_y: (n, Dy). returns: (Dy, Dx), in the promoted dtype of the inputs.

    Raises:
        ShapeError: if the inputs are not 2-d, disagree in n, or contain NaN/inf.
        ValueError: for a negative reg or an unknown method.
    """
    reg = _check_reg(reg)
    if method not in _METHODS:
        raise ValueError(f"method: expected one of {_METHODS}, got {method!r}")
    phi, psi = _check_pair(phi_x, psi_y)
    n, dx = phi.shape
    if method == "auto":
        method = "dual" if n < dx else "primal"
    if reg == 0.0:
        return (torch.linalg.pinv(phi) @ psi).mT
    phi_h = phi.mH  # (Dx, n)
    if method == "primal":
        ut = _solve_hpd(phi_h @ phi + n * reg * _eye_like(dx, phi), phi_h @ psi)
    else:
        ut = phi_h @ _solve_hpd(phi @ phi_h + n * reg * _eye_like(n, phi), psi)
    return ut.mT


def reduced_rank_factors(
    phi_x: torch.Tensor, psi_y: torch.Tensor, reg: float, rank: int, *, method: str = "auto"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Factors Q, A of the reduced-rank regression estimator U_r = Q A.

    See :func:`reduced_rank_operator` for the estimator. Q holds the top-``rank`` left singular
    vectors of B = C_yx (C_xx + reg·I)^{-1/2} (orthonormal columns), A = Qᴴ U_ridge. The
    factors let spectral code work in the r-dimensional range of U_r (its r nonzero modes).

    Shape:
        phi_x: (n, Dx). psi_y: (n, Dy). returns: Q (Dy, rank), A (rank, Dx).

    Raises:
        ValueError: unless 1 ≤ rank ≤ min(Dx, Dy).
    """
    phi, psi = _check_pair(phi_x, psi_y)
    n, dx = phi.shape
    dy = psi.shape[1]
    if isinstance(rank, bool) or not isinstance(rank, int) or not 1 <= rank <= min(dx, dy):
        raise ValueError(
            f"rank: expected an int in [1, min(Dx, Dy)] = [1, {min(dx, dy)}], got {rank!r}"
        )
    u_ridge = ridge_operator(phi, psi, reg, method=method)
    # B Bᴴ = C_yx C_γ⁻¹ C_xy = U_ridge C_xy: its top eigenvectors are B's top left singular
    # vectors, so C_γ^{-1/2} is never formed. C_xy = Φᵀ conj(Ψ) / n (ΦᵀΨ/n when real).
    gram = u_ridge @ (phi.mT @ psi.conj()) / n  # (Dy, Dy), Hermitian PSD up to rounding
    gram = 0.5 * (gram + gram.mH)
    _, vecs = torch.linalg.eigh(gram)  # ascending eigenvalues
    q = vecs[:, -rank:].flip(-1)
    return q, q.mH @ u_ridge


def reduced_rank_operator(
    phi_x: torch.Tensor, psi_y: torch.Tensor, reg: float, rank: int, *, method: str = "auto"
) -> torch.Tensor:
    """Reduced-rank regression (RRR) estimate of the CME operator, of rank at most ``rank``.

    The rank-r minimiser of the regularised risk J(U) = (1/n)‖Ψ − ΦUᵀ‖²_F + reg‖U‖²_F
    (Kostic, Novelli, Maurer, Ciliberto, Rosasco, Pontil 2022, "Learning dynamical systems via
    Koopman operator regression in reproducing kernel Hilbert spaces", NeurIPS, the RRR
    estimator, written here in the CME orientation U: φ(x) ↦ μ_{Y|x}):

        U_r = [[C_yx C_γ^{-1/2}]]_r C_γ^{-1/2} = P_r U_ridge,   C_γ = C_xx + reg·I,

    where [[·]]_r is the rank-r truncated SVD and P_r the orthogonal projector onto the top-r
    left singular vectors of C_yx C_γ^{-1/2}. Why it is the minimiser: J(U) equals
    ‖U C_γ^{1/2} − C_yx C_γ^{-1/2}‖²_F plus a constant, so Eckart–Young applies. Its risk is
    at least that of ridge and at most that of any other rank-r operator (e.g. the truncated
    SVD of U_ridge). With rank = min(Dx, Dy) it equals the ridge estimator.

    Args:
        phi_x: input features, one row per sample.
        psi_y: target features, one row per sample.
        reg: the ridge parameter γ ≥ 0.
        rank: the rank r, 1 ≤ r ≤ min(Dx, Dy).
        method: how the ridge part is solved (see :func:`ridge_operator`).

    Shape:
        phi_x: (n, Dx). psi_y: (n, Dy). returns: (Dy, Dx) of rank ≤ r.
    """
    q, a = reduced_rank_factors(phi_x, psi_y, reg, rank, method=method)
    return q @ a


def regularized_risk(
    operator: torch.Tensor, phi_x: torch.Tensor, psi_y: torch.Tensor, reg: float = 0.0
) -> torch.Tensor:
    """The training objective J(U) = (1/n) Σᵢ ‖ψ(yᵢ) − U φ(xᵢ)‖² + reg·‖U‖²_F.

    Ridge minimises it over all operators and RRR over those of rank ≤ r; with reg = 0 it is the
    plain mean squared training error in feature space.

    Shape:
        operator: (Dy, Dx). phi_x: (n, Dx). psi_y: (n, Dy). returns: () real.
    """
    reg = _check_reg(reg)
    phi, psi = _check_pair(phi_x, psi_y)
    check_tensor(operator, "operator", shape=(psi.shape[1], phi.shape[1]))
    resid = psi - phi @ operator.mT
    n = phi.shape[0]
    return resid.abs().square().sum() / n + reg * operator.abs().square().sum()


def _check_gram(k_xx: torch.Tensor) -> torch.Tensor:
    check_tensor(k_xx, "K_xx", shape=("n", "n"))
    if k_xx.shape[0] != k_xx.shape[1]:
        n = k_xx.shape[0]
        raise ShapeError(f"K_xx: expected a square shape ({n}, {n}), got {tuple(k_xx.shape)}")
    if k_xx.shape[0] == 0:
        raise ShapeError("K_xx: expected at least one sample, got shape (0, 0)")
    if not (k_xx.is_floating_point() or k_xx.is_complex()):
        k_xx = k_xx.to(torch.get_default_dtype())
    return k_xx


def kernel_ridge_weights(k_xx: torch.Tensor, reg: float) -> torch.Tensor:
    """The matrix W = (K + n·reg·I)⁻¹ of the kernel (Gram-form) CME estimator.

    μ_{Y|x} = Σᵢ wᵢ(x) ψ(yᵢ) with w(x) = W k_x, k_x[i] = k(xᵢ, x). Prefer
    :func:`kernel_cme_predict`, which solves for the weights without forming W.

    With reg = 0 it is the pseudo-inverse K⁺.

    Shape:
        k_xx: (n, n) Gram matrix k(xᵢ, xⱼ), Hermitian PSD. returns: (n, n).
    """
    k = _check_gram(k_xx)
    return _solve_ridged_gram(k, _eye_like(k.shape[0], k), _check_reg(reg))


def kernel_cme_predict(k_xx: torch.Tensor, k_x: torch.Tensor, reg: float) -> torch.Tensor:
    """Weights w(x) = (K + n·reg·I)⁻¹ k_x of the kernel CME at m query points.

    The conditional embedding is μ_{Y|x_j} = Σᵢ w[i, j] ψ(yᵢ) (so E[g(Y)|x_j] ≈ Σᵢ w[i, j] g(yᵢ));
    with a linear kernel K = ΦΦᵀ, Ψᵀ w equals :func:`ridge_operator` applied to φ(x).

    Shape:
        k_xx: (n, n) training Gram matrix. k_x: (n, m) with k_x[i, j] = k(xᵢ, x_j).
        returns: (n, m).
    """
    k = _check_gram(k_xx)
    n = k.shape[0]
    check_tensor(k_x, "k_x", shape=(n, "m"))
    dtype = torch.promote_types(k.dtype, k_x.dtype)
    return _solve_ridged_gram(k.to(dtype), k_x.to(dtype), _check_reg(reg))
