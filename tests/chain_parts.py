"""Random inputs of the identity-plus chain for tests: complex features, heads, eigenvalues, gains."""

from __future__ import annotations

import torch


def crandn(*shape: int, g: torch.Generator) -> torch.Tensor:
    """Complex Gaussian entries (float64 parts, each of standard deviation 1/2)."""
    return torch.complex(torch.randn(*shape, generator=g, dtype=torch.float64),
                         torch.randn(*shape, generator=g, dtype=torch.float64)) / 2


def chain_parts(batch: int = 3, steps: int = 5, blocks: int = 2, k: int = 4, r: int = 3, seed: int = 0):
    """(h, start, [B, Lh, Rh, H], end, λ, gain) of a random identity-plus chain, |λ| = 0.9."""
    g = torch.Generator().manual_seed(seed)
    h = crandn(batch, steps, blocks, k, g=g)
    start, end = crandn(blocks, r, g=g), crandn(blocks, r, g=g)
    heads = [crandn(blocks, k, r, g=g) for _ in range(4)]
    lam = 0.9 * torch.exp(torch.complex(torch.zeros(blocks, r, dtype=torch.float64),
                                        torch.rand(blocks, r, generator=g, dtype=torch.float64) * 6))
    gain = torch.tensor([0.3, 0.7], dtype=torch.float64)[:blocks]
    return h, start, heads, end, lam, gain
