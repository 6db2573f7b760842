"""TS2Vec's hierarchical contrastive loss (Yue et al., AAAI 2022, §3.3).

Two views of the same windows, encoded to per-step representations z1, z2 (B, T, C) over their
overlap, are contrasted at every scale of a max-pool-by-2 pyramid along time:

- instance-wise: at each step t, z1[b, t] must pick z2[b, t] (and vice versa) among the other
  2B − 1 representations of that step (the other windows of both views);
- temporal: in each window b, z1[b, t] must pick z2[b, t] (and vice versa) among the other
  2T − 1 steps of that window in both views.

Similarities are plain dot products (no temperature, no normalisation), as in the reference
implementation (yuezhihan/ts2vec ``models/losses.py``, copied into Diffusion-TS).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _pair_contrast(z: torch.Tensor) -> torch.Tensor:
    """Mean −log-probability that each of 2K items picks its partner among the other 2K − 1.

    Items k and k + K are partners; an item never competes with itself.

    Shape:
        z: (G, 2K, C), G independent groups. returns: a scalar.
    """
    k2 = z.shape[1]
    sim = z @ z.transpose(1, 2)  # (G, 2K, 2K)
    self_mask = torch.eye(k2, dtype=torch.bool, device=z.device)
    log_p = F.log_softmax(sim.masked_fill(self_mask, float("-inf")), dim=-1)
    partner = torch.arange(k2, device=z.device).roll(k2 // 2)
    return -log_p[:, torch.arange(k2, device=z.device), partner].mean()


def instance_contrastive_loss(z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    """Contrast each window with the other windows of the batch, step by step.

    Shape:
        z1, z2: (B, T, C). returns: a scalar (0 when B = 1, where there is nothing to contrast).
    """
    if z1.shape[0] == 1:
        return z1.new_zeros(())
    return _pair_contrast(torch.cat([z1, z2], dim=0).transpose(0, 1))


def temporal_contrastive_loss(z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    """Contrast each step with the other steps of its own window.

    Shape:
        z1, z2: (B, T, C). returns: a scalar (0 when T = 1).
    """
    if z1.shape[1] == 1:
        return z1.new_zeros(())
    return _pair_contrast(torch.cat([z1, z2], dim=1))


def hierarchical_contrastive_loss(
    z1: torch.Tensor, z2: torch.Tensor, *, alpha: float = 0.5, temporal_unit: int = 0
) -> torch.Tensor:
    """Average over pyramid levels of α·instance + (1 − α)·temporal contrastive losses.

    Level 0 is the input; each next level max-pools by 2 along time (dropping an odd last step)
    until one step is left. The temporal term is used from level ``temporal_unit`` on; the last,
    single-step level has only the instance term. The sum is divided by the number of levels.

    Shape:
        z1, z2: (B, T, C), T ≥ 1. returns: a scalar.
    """
    if z1.shape != z2.shape or z1.dim() != 3:
        raise ValueError(
            f"z1, z2: expected two tensors of one shape (B, T, C), got {tuple(z1.shape)} and {tuple(z2.shape)}"
        )
    loss = z1.new_zeros(())
    levels = 0
    while z1.shape[1] > 1:
        if alpha != 0:
            loss = loss + alpha * instance_contrastive_loss(z1, z2)
        if levels >= temporal_unit and alpha != 1:
            loss = loss + (1 - alpha) * temporal_contrastive_loss(z1, z2)
        levels += 1
        z1 = F.max_pool1d(z1.transpose(1, 2), kernel_size=2).transpose(1, 2)
        z2 = F.max_pool1d(z2.transpose(1, 2), kernel_size=2).transpose(1, 2)
    if alpha != 0:
        loss = loss + alpha * instance_contrastive_loss(z1, z2)
    levels += 1
    return loss / levels
