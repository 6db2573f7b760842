"""Random conditioning masks for training a mask-conditioned field (:mod:`kernelops.flows.masked_field`).

Every training window gets its own mask m (True = observed, given to the field as a condition;
False = to be generated, where the loss is taken), drawn from a mixture of the patterns users
condition on:

* ``"none"``: nothing observed — the field learns the unconditional law, so the same model
  still samples from scratch;
* ``"entries"``: each entry observed independently (imputation of scattered gaps);
* ``"steps"``: each time step observed independently, all its features together (irregular
  sampling);
* ``"history"``: the first k steps observed, k uniform in 1 … N − 1 (forecasting).

In "entries" and "steps" the missing rate r is uniform on (0, 1) per window, so the field sees
every rate from nearly complete to nearly empty windows.
"""

from __future__ import annotations

import torch

from kernelops.flows.config import MASK_PATTERNS


def draw_condition_masks(batch: int, seq_len: int, in_dim: int, generator: torch.Generator | None = None,
                         device: torch.device | str = "cpu", patterns: dict[str, float] | None = None) -> torch.Tensor:
    """One conditioning mask per window, from a mixture of the patterns (module docstring).

    ``patterns`` maps pattern names to probabilities (default ``MASK_PATTERNS`` of
    :mod:`kernelops.flows.config`, ``TrainConfig.mask_patterns``); a pattern left out is never drawn.

    Everything is drawn on the CPU ``generator`` (so the stream does not depend on the device)
    and then moved.

    Shape:
        returns: (batch, seq_len, in_dim) bool, True where the entry is given as a condition.
    """
    chosen = MASK_PATTERNS if patterns is None else patterns
    probs = torch.tensor([float(chosen.get(name, 0.0)) for name in MASK_PATTERNS], dtype=torch.float64)
    pattern = torch.multinomial(probs, batch, replacement=True, generator=generator)  # (batch,)
    rate = torch.rand(batch, 1, 1, generator=generator, dtype=torch.float64)
    entries = torch.rand(batch, seq_len, in_dim, generator=generator, dtype=torch.float64) >= rate
    steps = (torch.rand(batch, seq_len, 1, generator=generator, dtype=torch.float64) >= rate).expand(-1, -1, in_dim)
    cut = torch.randint(1, max(seq_len, 2), (batch, 1, 1), generator=generator)
    history = (torch.arange(seq_len)[None, :, None] < cut).expand(-1, -1, in_dim)
    names = list(MASK_PATTERNS)
    choice = pattern[:, None, None]
    mask = torch.zeros(batch, seq_len, in_dim, dtype=torch.bool)
    for index, drawn in ((names.index("entries"), entries), (names.index("steps"), steps),
                         (names.index("history"), history)):
        mask = torch.where(choice == index, drawn, mask)
    return mask.to(device)


__all__ = ["draw_condition_masks"]
