"""The conditioning masks a mask-conditioned field trains on."""

from __future__ import annotations

import torch

from kernelops.flows.config import MASK_PATTERNS
from kernelops.flows.masks import draw_condition_masks


def test_training_masks_follow_their_patterns():
    batch, seq, dim = 4000, 10, 3
    masks = draw_condition_masks(batch, seq, dim, torch.Generator().manual_seed(0))
    assert masks.shape == (batch, seq, dim) and masks.dtype == torch.bool
    assert torch.equal(masks, draw_condition_masks(batch, seq, dim, torch.Generator().manual_seed(0)))
    empty = ~masks.flatten(1).any(1)
    # "none" always, the random rates sometimes (about 1/seq of "steps" windows, fewer "entries")
    assert MASK_PATTERNS["none"] - 0.01 < float(empty.float().mean()) < MASK_PATTERNS["none"] + 0.06
    prefix = masks[:, :, 0].cummin(1).values  # history masks: observed steps form a prefix
    by_step = (masks == masks[:, :, :1]).all(2).all(1)  # steps (and history, none): whole steps
    history = (masks[:, :, 0] == prefix).all(1) & by_step & ~empty & ~masks[:, -1, 0]
    assert float(history.float().mean()) > MASK_PATTERNS["history"] - 0.03
    scattered = ~by_step  # only "entries" masks observe part of a step
    assert float(scattered.float().mean()) < MASK_PATTERNS["entries"] + 0.02
    rates = masks[scattered].float().flatten(1).mean(1)
    assert float(rates.min()) < 0.1 and float(rates.max()) > 0.9  # every missing rate occurs
