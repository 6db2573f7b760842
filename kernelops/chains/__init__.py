"""Spectral chains: tensor-train (matrix-product) sequence embeddings (docs/theory.md, "Spectral chains").

Conventions (details in :mod:`kernelops.chains.spectral_chain`): a chain of rank r over features
φ ∈ C^D is ``start`` (r, D), ``transfer`` (D, r, r), ``end`` (r, D), ``eigvals`` λ (r,). With
β(x)ᵢ = Σ_k conj(φ_k(x)) start[i, k], W(x)ᵢⱼ = Σ_k conj(φ_k(x)) transfer[k, i, j],
η(x)ᵢ = Σ_k conj(φ_k(x)) end[i, k] and Λ = diag(λ),

    SpectralChain.inner(phi) = β(x¹)ᵀ Λ W(x²) Λ ⋯ Λ W(x^{N−1}) Λ η(x^N) = ⟨φ(x¹) ⊗ ⋯ ⊗ φ(x^N), μ⟩,

for phi (batch, N, D), N ≥ 2, with μ the D^N tensor that :func:`dense_tensor` materialises.
``SpectralChain.evaluate`` is the same contraction without conjugating the features.

- :class:`SpectralChain`: ``inner`` / ``evaluate`` (methods "sequential", "scan", "logscale"),
  ``log_inner`` / ``log_evaluate`` (finite for any N), ``random``.
- :func:`dense_inner_product`, :func:`dense_tensor`: the exponential-size reference.
- :func:`factored_chain_evaluate`: the head-factored chain (W never formed).
- :func:`identity_plus_chain_evaluate`: the same over features with a constant coordinate (the neural flow's chain potential).
- :func:`chain_from_hmm`: the exact chain of a finite-state HMM.
- :func:`cached_contract`: opt_einsum contractions with cached paths.
"""

from __future__ import annotations

from kernelops.chains.contract import (
    cached_contract,
    clear_contract_cache,
    contract_cache_info,
    get_contract_expression,
)
from kernelops.chains.dense import dense_inner_product, dense_tensor
from kernelops.chains.factored import factored_chain_evaluate
from kernelops.chains.hmm import chain_from_hmm, transition_modes
from kernelops.chains.identity_plus import identity_plus_chain_evaluate
from kernelops.chains.scan import tree_matmul, tree_matmul_logscale
from kernelops.chains.spectral_chain import SpectralChain

__all__ = [
    "SpectralChain",
    "cached_contract",
    "chain_from_hmm",
    "clear_contract_cache",
    "contract_cache_info",
    "dense_inner_product",
    "dense_tensor",
    "factored_chain_evaluate",
    "get_contract_expression",
    "identity_plus_chain_evaluate",
    "transition_modes",
    "tree_matmul",
    "tree_matmul_logscale",
]
