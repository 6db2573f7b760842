"""Random conditioning masks for training a mask-conditioned field (``FieldConfig(conditional=True)``).

Every training window gets its own mask m (True = observed, given to the field as a condition;
False = to be generated, where the loss is taken), drawn from a mixture of the patterns users
condition on:

* ``"none"``: nothing observed — the field learns the unconditional law, so the same model
  still samples from scratch;
* ``"entries"``: each entry observed independently (imputation of scattered gaps);
* ``"steps"``: each time step observed independently, all its features together (irregular
  sampling, Table 4's dropped steps);
* ``"history"``: the first k steps observed, k uniform in 1 … N − 1 (forecasting).

In "entries" and "steps" the missing rate r is uniform on (0, 1) per window, so the field sees
every rate from nearly complete to nearly empty windows.
"""

from __future__ import annotations

import torch

#: the mask patterns and the probability of each (module docstring)
MASK_PATTERNS = {"none": 0.2, "entries": 0.3, "steps": 0.2, "history": 0.3}


def draw_condition_masks(batch: int, seq_len: int, in_dim: int, generator: torch.Generator | None = None,
                         device: torch.device | str = "cpu") -> torch.Tensor:
    """One conditioning mask per window, from the mixture :data:`MASK_PATTERNS`.

    Everything is drawn on the CPU ``generator`` (so the stream does not depend on the device)
    and then moved.

    Shape:
        returns: (batch, seq_len, in_dim) bool, True where the entry is given as a condition.
    """
    probs = torch.tensor(list(MASK_PATTERNS.values()), dtype=torch.float64)
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


__all__ = ["MASK_PATTERNS", "draw_condition_masks"]
