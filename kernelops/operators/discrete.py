"""Finite-state spaces: one-hot (indicator) features and Markov chains as CME operators.

With one-hot features φ(z) = e_z on S states, a mean embedding is a probability vector
(μ_Z = E[e_Z] = p) and the CME operator of a Markov chain is its transition matrix, transposed:

    P[a, b] = p(z' = b | z = a)  (rows sum to 1),   μ_{Z'|z} = U e_z = P[z, :],   so  U = Pᵀ.

Pushing a law forward is therefore μ_{Z'} = U p = Pᵀ p, i.e. the usual row-vector update p ↦ p P
(``CMEOperator.apply`` works on the last dimension, so ``apply(p)`` is ``p @ P``). Eigenvectors
transpose too: the right eigenvectors of U are the left eigenvectors of P (the stationary law π,
πᵀP = πᵀ, is U's right eigenvector for λ = 1), and U's left eigenvectors are the (conjugated)
right eigenvectors of P (the constant vector for λ = 1). Concretely, with U = Σ λᵢ hᵢ gᵢᴴ,
P = Uᵀ = Σ λᵢ conj(gᵢ) hᵢᵀ.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from kernelops.errors import ShapeError
from kernelops.features.base import FeatureMap
from kernelops.operators.cme import CMEOperator
from kernelops.utils.validation import check_tensor

__all__ = ["IndicatorFeatures", "markov_operator_from_matrix"]


class IndicatorFeatures(FeatureMap):
    """One-hot features φ(z) = e_z of integer states z ∈ {0, …, S − 1}.

    The induced kernel is k(z, z') = 1 if z = z' else 0, so mean embeddings are probability
    vectors and CME operators are (transposed) transition matrices.

    Args:
        num_states: S, the number of states (out_dim).

    Shape:
        input: (..., 1), integer-valued (any real dtype). output: (..., S), in the input's
        floating dtype (the default dtype for integer input), on the input's device.
    """

    def __init__(self, num_states: int) -> None:
        super().__init__()
        if isinstance(num_states, bool) or not isinstance(num_states, int) or num_states < 1:
            raise ValueError(f"num_states: expected an int >= 1, got {num_states!r}")
        self.num_states = num_states
        self.in_dim = 1
        self.out_dim = num_states
        self.is_complex = False

    def states(self, z: torch.Tensor, name: str = "z") -> torch.Tensor:
        """The integer states of ``z`` (..., 1) as a long tensor (...,), validated."""
        self.check_input(z, name)
        zs = z[..., 0]
        if zs.is_floating_point():
            idx = zs.round()
            if not bool((idx == zs).all()):
                raise ValueError(f"{name}: expected integer-valued states, got non-integer values")
            idx = idx.long()
        else:
            idx = zs.long()
        if idx.numel() and not bool(((idx >= 0) & (idx < self.num_states)).all()):
            lo, hi = int(idx.min()), int(idx.max())
            raise ValueError(
                f"{name}: expected states in [0, {self.num_states - 1}], got values in [{lo}, {hi}]"
            )
        return idx

    def forward(self, z: torch.Tensor, t: torch.Tensor | float | None = None) -> torch.Tensor:
        """One-hot features e_z (time-independent: ``t`` is ignored).

        Shape:
            z: (..., 1). returns: (..., S).
        """
        idx = self.states(z, "z")
        dtype = z.dtype if z.is_floating_point() else torch.get_default_dtype()
        return F.one_hot(idx, self.num_states).to(dtype)

    def kernel(self, x: torch.Tensor, y: torch.Tensor, t: torch.Tensor | float | None = None) -> torch.Tensor:
        """k(xᵢ, yⱼ) = [xᵢ = yⱼ].

        Shape:
            x: (n, 1), y: (m, 1). returns: (n, m).
        """
        a, b = self.states(x, "x"), self.states(y, "y")
        dtype = x.dtype if x.is_floating_point() else torch.get_default_dtype()
        return (a[:, None] == b[None, :]).to(dtype)


def markov_operator_from_matrix(P: torch.Tensor, *, check: bool = True, atol: float = 1e-6) -> CMEOperator:
    """A pre-fitted CMEOperator for a known transition matrix, with U = Pᵀ.

    Convention (see the module docstring): P[a, b] = p(z' = b | z = a), one-hot features
    φ(z) = e_z, μ_{Z'|z} = U e_z = P[z, :]; so ``op.predict(z)`` returns rows of P,
    ``op.apply(p)`` returns p @ P, and ``op.eig()`` has eigenvalue 1 with the stationary law as
    its right eigenvector (up to scale).

    Args:
        P: row-stochastic transition matrix.
        check: verify that P is non-negative with rows summing to 1 (within ``atol``).
        atol: tolerance of that check.

    Shape:
        P: (S, S). The operator has shape (S, S).

    Raises:
        ShapeError: if P is not a finite square matrix. ValueError: if ``check`` fails.
    """
    check_tensor(P, "P", shape=("S", "S"), allow_complex=False)
    s0, s1 = P.shape
    if s0 != s1 or s0 == 0:
        raise ShapeError(f"P: expected a square shape (S, S) with S >= 1, got {tuple(P.shape)}")
    if not P.is_floating_point():
        P = P.to(torch.get_default_dtype())
    if check:
        if bool((P < -atol).any()):
            raise ValueError(f"P: expected non-negative transition probabilities, min is {float(P.min()):.3g}")
        err = float((P.sum(dim=1) - 1).abs().max())
        if err > atol:
            raise ValueError(f"P: expected rows summing to 1 (P[a, b] = p(b | a)); worst row is off by {err:.3g}")
    op = CMEOperator(feature_map=IndicatorFeatures(s0), reg=0.0)
    op.operator_ = P.mT.clone()
    op.in_dim_ = 1
    return op
