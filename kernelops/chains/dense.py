"""Dense reference: materialise the D^N sequence tensor μ of a chain and contract it directly.

Exponential in N by design: it is the ground truth for tests and the "without decomposition"
side of the tractability benchmark (docs/theory.md, "Spectral chains"; paper Fig. 2). It refuses, with a clear
error, to build tensors larger than ``max_entries`` (default 2²⁶ ≈ 6.7·10⁷ entries, 1 GiB in
complex128).
"""

from __future__ import annotations

import torch

from kernelops.chains._checks import check_sequence_features
from kernelops.chains.spectral_chain import SpectralChain

__all__ = ["DEFAULT_MAX_ENTRIES", "dense_inner_product", "dense_tensor"]

DEFAULT_MAX_ENTRIES = 2**26


def _check_size(chain: SpectralChain, n: int, max_entries: int) -> None:
    d, r = chain.dim, chain.rank
    # The largest tensor built is μ itself (D^N) or the last partial one (D^(N-1)·r) when r > D.
    biggest = max(d**n, d ** (n - 1) * r)
    if biggest > max_entries:
        raise ValueError(
            f"dense reference: the sequence tensor has D^N = {d}^{n} = {d**n} entries "
            f"(largest intermediate {biggest}), above max_entries = {max_entries}; "
            "use SpectralChain.inner (linear in N) or raise max_entries"
        )


def dense_tensor(chain: SpectralChain, n: int, *, max_entries: int = DEFAULT_MAX_ENTRIES) -> torch.Tensor:
    """The sequence tensor μ[k₁…k_N] of ``chain`` for length ``n``.

    μ[k₁…k_N] = Σ start[i₂, k₁] λ_{i₂} transfer[k₂, i₂, i₃] λ_{i₃} ⋯ λ_{i_N} end[i_N, k_N].

    Args:
        chain: the chain.
        n: the sequence length N ≥ 2.
        max_entries: refuse (``ValueError``) to build larger tensors.

    Shape:
        returns: (D,) * N, in the chain's dtype and on its device.
    """
    if not isinstance(n, int) or n < 2:
        raise ValueError(f"n: expected an int N >= 2, got {n!r}")
    _check_size(chain, n, max_entries)
    start, transfer, end, lam = chain.tensors()
    t = start.T  # (D, r): t[k1, i2]
    for _ in range(n - 2):
        # Append one feature axis: t[..., k, j] = Σ_i t[..., i] λ_i transfer[k, i, j].
        t = torch.tensordot(t * lam, transfer, dims=([t.dim() - 1], [1]))
    return torch.tensordot(t * lam, end, dims=([t.dim() - 1], [0]))


def dense_inner_product(
    chain: SpectralChain, phi: torch.Tensor, *, max_entries: int = DEFAULT_MAX_ENTRIES
) -> torch.Tensor:
    """⟨φ(x¹) ⊗ ⋯ ⊗ φ(x^N), μ⟩ = Σ conj(φ(x¹)_{k₁}) ⋯ conj(φ(x^N)_{k_N}) μ[k₁…k_N], densely.

    μ is materialised by :func:`dense_tensor`; it is then contracted with the conjugated
    features one axis at a time, ``D`` sequences at a time so that no intermediate exceeds μ.

    Args:
        chain: the chain.
        phi: per-step features.
        max_entries: refuse (``ValueError``) when μ would have more entries.

    Shape:
        phi: (batch, N, D). returns: (batch,).
    """
    check_sequence_features(phi, "phi", chain.dim, device=chain.device)
    batch, n, d = phi.shape
    mu = dense_tensor(chain, n, max_entries=max_entries)
    feats = phi.conj()
    dtype = torch.promote_types(mu.dtype, feats.dtype)
    mu, feats = mu.to(dtype), feats.to(dtype)
    out = []
    for b0 in range(0, batch, d):
        f = feats[b0 : b0 + d]
        acc = f[:, 0] @ mu.reshape(d, -1)  # (chunk, D^(N-1))
        for step in range(1, n):
            acc = torch.einsum("bk,bkm->bm", f[:, step], acc.reshape(f.shape[0], d, -1))
        out.append(acc.reshape(-1))
    return torch.cat(out) if out else torch.zeros(0, dtype=dtype, device=phi.device)
