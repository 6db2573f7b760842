"""Eigen- and singular-value decompositions of operators, returned as small dataclasses.

EVD convention (a transition operator U, square):

    U = Σᵢ λᵢ hᵢ gᵢᴴ,   U hᵢ = λᵢ hᵢ,   gᵢᴴ U = λᵢ gᵢᴴ,   gᵢᴴ hⱼ = δᵢⱼ,

with right eigenvectors hᵢ of unit 2-norm and left eigenvectors gᵢ scaled to be biorthogonal to
them (``left.mH @ right = I``). Modes are sorted by modulus |λ| descending; for a real operator
the conjugate pairs are adjacent, the one with positive imaginary part first.

SVD convention (any operator, also non-square): U = Σᵢ σᵢ uᵢ vᵢᴴ with σ descending,
``left`` = (u₁ … u_r) in the output space (Dy) and ``right`` = (v₁ … v_r) in the input space (Dx).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import torch

from kernelops.errors import KernelopsWarning, ShapeError
from kernelops.utils.validation import check_tensor

__all__ = [
    "EigResult",
    "SVDResult",
    "eig_decomposition",
    "eig_decomposition_lowrank",
    "svd_decomposition",
]


@dataclass(frozen=True, eq=False)
class EigResult:
    """Eigen-decomposition U = Σᵢ λᵢ hᵢ gᵢᴴ of a square operator (its leading r modes).

    Attributes:
        eigvals: λ, complex, sorted by modulus descending, conjugate pairs adjacent (positive
            imaginary part first).
        right: right eigenvectors hᵢ as columns (U hᵢ = λᵢ hᵢ), unit 2-norm.
        left: left eigenvectors gᵢ as columns, biorthogonal to ``right``: gᵢᴴ hⱼ = δᵢⱼ.
        dt: the time between two steps, used by :attr:`frequency` and :attr:`decay_time`.

    Shape:
        eigvals: (r,) complex. right: (D, r) complex. left: (D, r) complex.
    """

    eigvals: torch.Tensor
    right: torch.Tensor
    left: torch.Tensor
    dt: float = 1.0

    def __post_init__(self) -> None:
        check_tensor(self.eigvals, "eigvals", ndim=1)
        r = self.eigvals.shape[0]
        check_tensor(self.right, "right", shape=("D", r))
        check_tensor(self.left, "left", shape=(self.right.shape[0], r))
        if not (self.dt > 0 and math.isfinite(self.dt)):
            raise ValueError(f"dt: expected a positive finite float, got {self.dt!r}")

    @property
    def rank(self) -> int:
        """The number of modes r."""
        return self.eigvals.shape[0]

    @property
    def modulus(self) -> torch.Tensor:
        """|λᵢ| (real, shape (r,)): the per-step amplitude factor of each mode."""
        return self.eigvals.abs()

    @property
    def frequency(self) -> torch.Tensor:
        """angle(λᵢ) / (2π·dt): cycles per unit time (per step when dt = 1), in (−1/2dt, 1/2dt]."""
        return torch.angle(self.eigvals) / (2 * math.pi * self.dt)

    @property
    def decay_time(self) -> torch.Tensor:
        """−dt / log|λᵢ|: the e-folding time of each mode; inf where |λᵢ| ≥ 1 (no decay)."""
        mod = self.modulus
        inf = torch.full_like(mod, math.inf)
        return torch.where(mod < 1, -self.dt / torch.log(mod), inf)

    def reconstruct(self) -> torch.Tensor:
        """Σᵢ λᵢ hᵢ gᵢᴴ (shape (D, D)): the operator itself when all modes are kept."""
        return (self.right * self.eigvals) @ self.left.mH


@dataclass(frozen=True, eq=False)
class SVDResult:
    """Singular value decomposition U = Σᵢ σᵢ uᵢ vᵢᴴ (its leading r terms).

    Attributes:
        singular_values: σ, real, descending.
        left: left singular vectors uᵢ (output space) as orthonormal columns.
        right: right singular vectors vᵢ (input space) as orthonormal columns.

    Shape:
        singular_values: (r,). left: (Dy, r). right: (Dx, r).
    """

    singular_values: torch.Tensor
    left: torch.Tensor
    right: torch.Tensor

    def __post_init__(self) -> None:
        check_tensor(self.singular_values, "singular_values", ndim=1, allow_complex=False)
        r = self.singular_values.shape[0]
        check_tensor(self.left, "left", shape=("Dy", r))
        check_tensor(self.right, "right", shape=("Dx", r))

    @property
    def rank(self) -> int:
        """The number of singular triplets r."""
        return self.singular_values.shape[0]

    def reconstruct(self) -> torch.Tensor:
        """Σᵢ σᵢ uᵢ vᵢᴴ (shape (Dy, Dx))."""
        return (self.left * self.singular_values.to(self.left.dtype)) @ self.right.mH


def _check_k(k: int | None, available: int, what: str) -> int:
    if k is None:
        return available
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= available:
        raise ValueError(f"k: expected None or an int in [1, {available}] ({what}), got {k!r}")
    return k


def _ill_conditioned(vecs: torch.Tensor) -> float | None:
    """cond(H) if the eigenvector matrix is too ill-conditioned for reliable left vectors."""
    s = torch.linalg.svdvals(vecs)
    eps = torch.finfo(s.dtype).eps
    cond = float(s[0] / s[-1]) if float(s[-1]) > 0 else math.inf
    return cond if cond > 1.0 / math.sqrt(eps) else None


def _warn_defective(cond: float) -> None:
    warnings.warn(
        f"eig: the eigenvector matrix is ill-conditioned (cond = {cond:.3g}); the operator is "
        "(nearly) defective, so its eigen-decomposition and left eigenvectors are unreliable "
        "(use svd(), or a reduced-rank estimate)",
        KernelopsWarning,
        stacklevel=3,
    )


def _mode_order(eigvals: torch.Tensor, pair_conjugates: bool) -> torch.Tensor:
    """Permutation sorting modes by |λ| descending with conjugate pairs adjacent (+imag first).

    Only the order is computed on the host; the eigen-data stay on their device.
    """
    lam = eigvals.detach().to("cpu", torch.complex128).numpy()
    mod, im = np.abs(lam), lam.imag
    groups: list[list[int]] = []
    if pair_conjugates:
        # A real matrix's eigenvalues come in conjugate pairs (exact from LAPACK's real
        # algorithm); pair every λ with Im > 0 to the nearest conjugate of one with Im < 0.
        pos, neg = np.flatnonzero(im > 0), np.flatnonzero(im < 0)
        paired: dict[int, int] = {}
        if len(pos) == len(neg):
            free = np.ones(len(neg), dtype=bool)
            for i in pos[np.argsort(-mod[pos], kind="stable")]:
                dist = np.where(free, np.abs(lam[neg] - np.conj(lam[i])), np.inf)
                j = int(np.argmin(dist))
                free[j] = False
                paired[int(i)] = int(neg[j])
        partners = set(paired.values())
        for i in range(len(lam)):
            if i in paired:
                groups.append([i, paired[i]])
            elif i not in partners:
                groups.append([i])
    else:
        groups = [[i] for i in range(len(lam))]
    # Primary key: modulus of the group (descending); then |imag| and imag (descending) so that
    # the order is deterministic among equal moduli.
    keys = [(-max(mod[g]), -abs(im[g[0]]), -im[g[0]]) for g in groups]
    order = sorted(range(len(groups)), key=lambda j: keys[j])
    flat = [i for j in order for i in groups[j]]
    return torch.tensor(flat, dtype=torch.long, device=eigvals.device)


def eig_decomposition(operator: torch.Tensor, k: int | None = None, *, dt: float = 1.0) -> EigResult:
    """Leading ``k`` eigenmodes of a square operator, with biorthogonal left eigenvectors.

    Uses ``torch.linalg.eig`` for the right eigenvectors H and takes the left ones from the
    inverse, G = H⁻ᴴ, so Gᴴ H = I holds to rounding. A defective or nearly defective operator
    (a Jordan block, e.g. from a nilpotent part) has an ill-conditioned H: then Σ λᵢ hᵢ gᵢᴴ is
    not the operator and a :class:`~kernelops.errors.KernelopsWarning` says so (cond(H) above
    1/√eps). For low-rank estimates use :func:`eig_decomposition_lowrank` instead.

    Args:
        operator: the square operator U.
        k: how many modes to keep (all by default), the largest by modulus.
        dt: step length recorded in the result (for frequencies and decay times).

    Shape:
        operator: (D, D), real or complex. returns eigvals (k,), right (D, k), left (D, k).
    """
    check_tensor(operator, "operator", ndim=2)
    d0, d1 = operator.shape
    if d0 != d1:
        raise ShapeError(
            f"operator: eig needs a square operator (D, D), got shape ({d0}, {d1}); "
            "use the SVD for non-square operators"
        )
    if not (operator.is_floating_point() or operator.is_complex()):
        operator = operator.to(torch.get_default_dtype())
    k = _check_k(k, d0, "the operator's dimension")
    vals, vecs = torch.linalg.eig(operator)
    cond = _ill_conditioned(vecs)
    if cond is not None:
        _warn_defective(cond)
    left = torch.linalg.inv(vecs).mH
    order = _mode_order(vals, pair_conjugates=not operator.is_complex())[:k]
    return EigResult(vals[order], vecs[:, order], left[:, order], dt=float(dt))


def eig_decomposition_lowrank(
    out_factor: torch.Tensor, in_factor: torch.Tensor, k: int | None = None, *, dt: float = 1.0
) -> EigResult:
    """Eigenmodes of a low-rank square operator U = L R from its factors (its r nonzero modes).

    The nonzero eigenvalues of L R are those of the small matrix R L (r × r): if R L v = λ v and
    wᴴ R L = λ wᴴ then U (L v) = λ L v and (Rᴴ w)ᴴ U = λ (Rᴴ w)ᴴ. So h = L v / ‖L v‖ and
    g = ‖L v‖ · Rᴴ w / conj(λ), which makes gᴴ h = 1. If R L is singular (a zero eigenvalue
    among the r modes) or defective this normalisation is impossible, and the function falls
    back to :func:`eig_decomposition` of the dense product (with its warning if defective).

    Shape:
        out_factor: L (D, r). in_factor: R (r, D). returns eigvals (k,), right (D, k), left (D, k).
    """
    check_tensor(out_factor, "out_factor", ndim=2)
    d, r = out_factor.shape
    check_tensor(in_factor, "in_factor", shape=(r, d))
    k = _check_k(k, r, "the factors' rank")
    small = in_factor @ out_factor
    vals, v = torch.linalg.eig(small)
    eps = torch.finfo(vals.real.dtype).eps
    tiny = float(vals.abs().min()) <= r * eps * max(float(vals.abs().max()), eps)
    if tiny or _ill_conditioned(v) is not None:
        return eig_decomposition(out_factor @ in_factor, k, dt=dt)
    w = torch.linalg.inv(v).mH  # biorthogonal left eigenvectors of the small matrix
    cdtype = vals.dtype
    right = out_factor.to(cdtype) @ v
    norms = torch.linalg.vector_norm(right, dim=0)
    right = right / norms
    left = (in_factor.to(cdtype).mH @ w) * (norms / vals.conj())
    pair = not (out_factor.is_complex() or in_factor.is_complex())
    order = _mode_order(vals, pair_conjugates=pair)[:k]
    return EigResult(vals[order], right[:, order], left[:, order], dt=float(dt))


def svd_decomposition(operator: torch.Tensor, k: int | None = None) -> SVDResult:
    """Leading ``k`` singular triplets of any operator (``torch.linalg.svd``, thin).

    Shape:
        operator: (Dy, Dx). returns singular_values (k,), left (Dy, k), right (Dx, k).
    """
    check_tensor(operator, "operator", ndim=2)
    if not (operator.is_floating_point() or operator.is_complex()):
        operator = operator.to(torch.get_default_dtype())
    k = _check_k(k, min(operator.shape), "min(Dy, Dx)")
    u, s, vh = torch.linalg.svd(operator, full_matrices=False)
    return SVDResult(s[:k], u[:, :k], vh[:k].mH)
