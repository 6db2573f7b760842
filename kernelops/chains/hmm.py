"""Spectral chains of finite-state hidden Markov models (docs/theory.md, "Spectral chains").

Hidden states z ∈ {0, …, S−1} with one-hot features e_z; transition matrix P with
P[a, b] = p(z' = b | z = a) (rows sum to 1); initial law (or embedding) p₁. Eigen-decompose

    P = Σᵢ λᵢ hᵢ gᵢᵀ,   P hᵢ = λᵢ hᵢ,   gᵢᵀ P = λᵢ gᵢᵀ,   gᵢᵀ hⱼ = δᵢⱼ.

Inserting this into p(z¹…z^N) = p₁(z¹) P(z¹, z²) ⋯ P(z^{N−1}, z^N) gives

    p(z¹…z^N) = Σ_{i₂…i_N} [p₁ ⊙ h_{i₂}](z¹) λ_{i₂} [g_{i₂} ⊙ h_{i₃}](z²) λ_{i₃} ⋯ λ_{i_N} g_{i_N}(z^N),

a chain over the one-hot hidden features with start bᵢ = p₁ ⊙ hᵢ, transfer w_{ij} = gᵢ ⊙ hⱼ,
end gᵢ. An observation operator O (Dx, S) with O[:, s] = E[φ(X) | Z = s] maps hidden to observed
embeddings, μ_X = O^{⊗N} μ_Z, so every start/transfer/end element is pushed through O:
start ← start Oᵀ, transfer[k] ← Σ_s O[k, s] transfer[s], end ← end Oᵀ. With one-hot observed
features φ(x) = e_x and O the emission matrix (O[x, s] = p(x | s)), ``chain.inner`` of one-hot
observation sequences is exactly the sequence probability that the forward algorithm computes.

Conventions of the operator API (:class:`kernelops.operators.CMEOperator`): its matrix U maps
the embedding of z to that of z', μ_{Z'|z} = U e_z, so U = Pᵀ; its ``eig()`` gives U rᵢ = λᵢ rᵢ
and left vectors with leftᴴ right = I. Hence hᵢ = conj(leftᵢ) and gᵢ = rightᵢ.
"""

from __future__ import annotations

from typing import Any

import torch

from kernelops.chains._checks import check_chain_tensor, common_dtype, fmt_shape
from kernelops.chains.spectral_chain import SpectralChain
from kernelops.errors import ShapeError

__all__ = ["chain_from_hmm", "transition_modes"]


def _sort_modes(lam: torch.Tensor, right: torch.Tensor,
                left: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Order modes by |λ| descending, conjugate pairs adjacent with positive imaginary part first."""
    mods = lam.abs().tolist()
    imags = (lam.imag if lam.is_complex() else torch.zeros_like(lam)).tolist()
    order = sorted(range(len(mods)), key=lambda i: (-mods[i], -imags[i]))
    idx = torch.tensor(order, dtype=torch.long, device=lam.device)
    return lam[idx], right[:, idx], left[:, idx]


def transition_modes(transition: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Eigenvalues λ, right eigenvectors h and biorthogonal left eigenvectors g of P.

    Args:
        transition: the (S, S) matrix P with P[a, b] = p(b | a), or a fitted operator with the
            :class:`kernelops.operators.CMEOperator` API (``eig()`` of U = Pᵀ).

    Returns:
        ``(eigvals (r,), h (S, r), g (S, r))`` with P hᵢ = λᵢ hᵢ, gᵢᵀ P = λᵢ gᵢᵀ, gᵢᵀ hⱼ = δᵢⱼ,
        sorted by |λ| descending.
    """
    if isinstance(transition, torch.Tensor):
        check_chain_tensor(transition, "transition", ("S", "S"), (None, None))
        if transition.shape[0] != transition.shape[1]:
            raise ShapeError(f"transition: expected a square matrix of shape (S, S), got {fmt_shape(transition.shape)}")
        lam, right = torch.linalg.eig(transition)
        # Left vectors as the rows of right⁻¹, so that gᵀ h = I exactly (up to rounding).
        eye = torch.eye(right.shape[0], dtype=right.dtype, device=right.device)
        left = torch.linalg.solve(right, eye).T
        return _sort_modes(lam, right, left)
    if callable(getattr(transition, "eig", None)):
        res = transition.eig()
        # U = Pᵀ = Σ λ rᵢ leftᵢᴴ  ⇒  P = Σ λ conj(leftᵢ) rᵢᵀ: h = conj(left), g = right.
        return _sort_modes(res.eigvals, res.left.conj(), res.right)
    raise TypeError(
        f"transition: expected an (S, S) tensor or a fitted operator with .eig(), got {type(transition).__name__}"
    )


def _observation_matrix(observation: Any, num_states: int, like: torch.Tensor) -> torch.Tensor:
    if observation is None:
        return torch.eye(num_states, dtype=like.dtype, device=like.device)
    if not isinstance(observation, torch.Tensor) and hasattr(observation, "operator_"):
        observation = observation.operator_  # a fitted observation operator (Dx, S)
    check_chain_tensor(observation, "observation", ("Dx", "S"), (None, num_states))
    return observation


def chain_from_hmm(
    initial: torch.Tensor,
    transition: Any,
    observation: Any = None,
    rank: int | None = None,
) -> SpectralChain:
    """The spectral chain whose ``inner`` gives the HMM's sequence embedding (see module docstring).

    Args:
        initial: the law p₁ of z¹ (or, more generally, the initial embedding μ_{Z¹}).
        transition: the (S, S) transition matrix P, P[a, b] = p(z' = b | z = a), or a fitted
            :class:`kernelops.operators.CMEOperator` on one-hot hidden features (its ``eig()``).
        observation: the observation operator O with O[:, s] = E[φ(X) | Z = s] (a tensor or a
            fitted operator with ``operator_``); ``None`` means the hidden state is observed
            (O = I, φ = one-hot).
        rank: keep only the ``rank`` modes of largest |λ| (an approximation that drops the
            fast-decaying modes); ``None`` keeps them all. Truncating inside a complex-conjugate
            pair gives a complex-valued approximation.

    Returns:
        A chain of rank r (≤ S) over the observed features. It is real when P's spectrum and
        eigenvectors are real (as LAPACK returns them for real eigenvalues), else complex.

    Shape:
        initial: (S,). transition: (S, S). observation: (Dx, S).

    Raises:
        ShapeError: shapes disagree (messages name the argument); ValueError: bad ``rank``.
    """
    lam, h, g = transition_modes(transition)
    num_states = h.shape[0]
    check_chain_tensor(initial, "initial", ("S",), (num_states,))
    if rank is not None:
        if not isinstance(rank, int) or not 1 <= rank <= lam.shape[0]:
            raise ValueError(f"rank: expected an int in [1, {lam.shape[0]}] or None, got {rank!r}")
        lam, h, g = lam[:rank], h[:, :rank], g[:, :rank]
    obs = _observation_matrix(observation, num_states, h)
    dtype = common_dtype(initial, obs, lam, h, g)
    initial, obs, lam, h, g = (t.to(dtype) for t in (initial, obs, lam, h, g))
    # Hidden-space chain: start[i, s] = p1[s] h_i[s], transfer[s, i, j] = g_i[s] h_j[s], end[i, s] = g_i[s].
    start = (initial[:, None] * h).T
    transfer = g[:, :, None] * h[:, None, :]
    end = g.T
    # Push every element through O (μ_X = O^{⊗N} μ_Z).
    start = start @ obs.T
    transfer = torch.tensordot(obs, transfer, dims=([1], [0]))
    end = end @ obs.T
    if dtype.is_complex and all(bool((t.imag == 0).all()) for t in (start, transfer, end, lam)):
        start, transfer, end, lam = (t.real for t in (start, transfer, end, lam))
    return SpectralChain(start, transfer, end, lam)
