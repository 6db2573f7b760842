"""Sampling: integrate a velocity field from the path's source (t = 0) to the data (t = 1)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


@torch.no_grad()
def sample_field(field: nn.Module, path: Any, solver: Any, n: int, shape: tuple[int, ...], *,
                 steps: int | None, generator: torch.Generator, batch_size: int = 1000,
                 device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, int]:
    """Draw ``n`` source states and carry each along dx/dt = field(t, x) from t = 0 to t = 1.

    All source noise is drawn at once on the CPU generator, so the samples do not depend on
    ``batch_size`` or the device. The field is called under ``torch.no_grad`` (a gradient
    field computes its own input gradient inside ``forward``).

    Args:
        field: ``field(t, x) -> dx/dt`` with t a 0-d tensor.
        path: the probability path (its ``sample_source`` draws x₀).
        solver: a solver object (``ko.solver(name)``).
        n: number of states.
        shape: the shape of one state, e.g. (N, d).
        steps: solver steps (None for adaptive solvers).
        generator: CPU generator for the source noise.
        batch_size: states integrated together.
        device, dtype: where and in what precision to integrate.

    Returns:
        the states at t = 1, and the largest number of field evaluations over the batches.

    Shape:
        returns: (n, *shape) on ``device``.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n: expected a positive integer, got {n!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size: expected a positive integer, got {batch_size!r}")
    noise = path.sample_source((n, *shape), generator=generator, dtype=dtype)
    out, nfe = [], 0
    was_training = field.training
    field.eval()
    try:
        for start in range(0, n, batch_size):
            result = solver.solve(field, noise[start:start + batch_size].to(device), 0.0, 1.0, steps)
            nfe = max(nfe, int(result.nfe))
            out.append(result.x)
    finally:
        field.train(was_training)
    return torch.cat(out, dim=0), nfe


__all__ = ["sample_field"]
