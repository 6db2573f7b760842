"""Sampling: integrate a velocity field from the path's source (t = 0) to the data (t = 1).

**Source noise per window index.** The source states of a draw with seed s are drawn in fixed
chunks of :data:`NOISE_CHUNK` windows: chunk c (windows c·NOISE_CHUNK … (c+1)·NOISE_CHUNK − 1)
comes from its own CPU generator seeded from (s, c) by ``numpy.random.SeedSequence``. Window i
of the draw therefore has the same starting state whether it is drawn alone, in a batch of any
size, or on any rank of a sharded draw (:func:`kernelops.flows.sample.shard.sample_sharded`), so
splitting a draw across processes changes no sample.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from kernelops.flows.config import NOISE_CHUNK, SampleConfig
from kernelops.utils.numerics import flush_denormals


def chunk_generator(seed: int, chunk: int) -> torch.Generator:
    """The CPU generator of noise chunk ``chunk`` of the draw with ``seed``."""
    word = np.random.SeedSequence([int(seed) & (2**64 - 1), int(chunk)]).generate_state(1, np.uint64)[0]
    return torch.Generator().manual_seed(int(word) & (2**63 - 1))


def source_noise(path: Any, seed: int, start: int, stop: int, shape: tuple[int, ...], *,
                 dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The source states of windows ``start … stop − 1`` of the draw with ``seed`` (module docstring).

    Whole chunks are drawn and cut, so a window's state does not depend on ``start``/``stop``.

    Shape:
        returns: (stop − start, *shape) on the CPU.
    """
    if not 0 <= start <= stop:
        raise ValueError(f"start, stop: expected 0 <= start <= stop, got {start}, {stop}")
    parts = []
    for chunk in range(start // NOISE_CHUNK, -(-stop // NOISE_CHUNK)):
        first = chunk * NOISE_CHUNK
        noise = path.sample_source((NOISE_CHUNK, *shape), generator=chunk_generator(seed, chunk), dtype=dtype)
        parts.append(noise[max(start - first, 0):min(stop - first, NOISE_CHUNK)])
    return torch.cat(parts) if parts else torch.empty((0, *shape), dtype=dtype)


def resolve_solver(name: str, kwargs: dict[str, Any], steps: int | None, default_steps: int) -> tuple[Any, int | None]:
    """The solver ``name`` built with ``kwargs``, and its steps: ``steps``, else ``default_steps``
    for a fixed-step solver; None for an adaptive one (which takes rtol/atol in ``kwargs``).

    Raises:
        ValueError: steps for an adaptive solver, or steps that are not a positive integer.
    """
    import kernelops as ko

    solver = ko.solver(name, **kwargs)
    adaptive = bool(getattr(solver, "is_adaptive", False))
    if steps is None:
        return solver, None if adaptive else default_steps
    if adaptive:
        raise ValueError(f"steps: solver {name!r} is adaptive; pass solver_kwargs={{'rtol': ..., 'atol': ...}} instead of steps")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps: expected a positive integer, got {steps!r}")
    return solver, steps


@torch.no_grad()
def sample_field(field: nn.Module, path: Any, solver: Any, n: int, shape: tuple[int, ...], *,
                 steps: int | None, seed: int | None = None, generator: torch.Generator | None = None,
                 start: int = 0, batch_size: int = SampleConfig().batch_size, device: torch.device | str = "cpu",
                 dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, int]:
    """Carry windows ``start … start + n − 1`` of the draw with ``seed`` along dx/dt = field(t, x).

    The source states come from :func:`source_noise`, so each window's result depends on its
    index and the seed, not on ``batch_size``, ``start`` or the device (with a fixed-step
    solver; an adaptive solver picks its steps per batch). The field is called under
    ``torch.no_grad`` (a gradient field computes its own input gradient inside ``forward``).

    Args:
        field: ``field(t, x) -> dx/dt`` with t a 0-d tensor.
        path: the probability path (its ``sample_source`` draws x₀).
        solver: a solver object (``ko.solver(name)``).
        n: number of states.
        shape: the shape of one state, e.g. (N, d).
        steps: solver steps (None for adaptive solvers).
        seed: seed of the draw.
        generator: instead of ``seed``: a CPU generator from which the seed is drawn (one integer).
        start: index of the first window within the draw (a shard of a larger draw).
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
    if isinstance(start, bool) or not isinstance(start, int) or start < 0:
        raise ValueError(f"start: expected a non-negative integer, got {start!r}")
    if (seed is None) == (generator is None):
        raise ValueError("seed, generator: expected exactly one of them")
    if seed is None:
        assert generator is not None
        seed = int(torch.randint(0, 2**62, (), generator=generator, dtype=torch.int64))
    out, nfe = [], 0
    was_training = field.training
    field.eval()
    try:
        with flush_denormals():  # the field's input gradient through a long chain makes subnormals
            for first in range(start, start + n, batch_size):
                noise = source_noise(path, seed, first, min(first + batch_size, start + n), shape, dtype=dtype)
                result = solver.solve(field, noise.to(device), 0.0, 1.0, steps)
                nfe = max(nfe, int(result.nfe))
                out.append(result.x)
    finally:
        field.train(was_training)
    return torch.cat(out, dim=0), nfe


__all__ = ["chunk_generator", "resolve_solver", "sample_field", "source_noise"]
