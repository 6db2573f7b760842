"""Sharded sampling: one seeded draw split across the processes of a ``torch.distributed`` group.

:func:`sample_sharded` splits a draw of n windows into contiguous shares
(:func:`sample_shares`); rank r integrates its windows ``start_r … start_r + n_r − 1`` of the draw
and rank 0 gathers them in order. The source noise is drawn per window index
(:mod:`kernelops.flows.sample.ode`), so with a fixed-step solver the result is the single-process
draw with the same seed, whatever the number of processes: bit for bit when the draw has at
least one batch per rank (each rank then integrates whole batches of the single-process run)
and the processes run the same kernels (same CPU type and thread count, or same GPU); to
rounding otherwise (float32 kernels may round a window differently in a batch of another
size: about 1e-7 relative; 1e-15 in float64). An adaptive solver chooses its steps per batch,
so its draws agree only to its tolerance unless the batches are the same.
"""

from __future__ import annotations

from typing import Any

import torch

from kernelops.flows.config import SampleConfig
from kernelops.utils import distributed as dist


def sample_shares(n: int, world: int, batch_size: int) -> list[int]:
    """Windows per rank for a draw of ``n`` integrated ``batch_size`` at a time (module docstring).

    With at least ``world`` batches, every share is whole batches of the single-process run
    (the ranks' batch counts differing by at most one, the short last batch on the last rank),
    so each rank repeats exactly the single-process batches. Otherwise the windows are split
    into shares differing by at most one (zero when n < world).
    """
    batches = -(-n // batch_size)
    if batches < world:
        base, extra = divmod(n, world)
        return [base + (r < extra) for r in range(world)]
    base, extra = divmod(batches, world)
    # the extra batches go to the last ranks, so the short last batch of the draw is on the last rank
    shares = [(base + (r >= world - extra)) * batch_size for r in range(world)]
    shares[-1] -= batches * batch_size - n
    return shares


def sample_sharded(model: Any, n: int, *, seed: int | None = None,
                   **kwargs: Any) -> tuple[torch.Tensor | None, int]:
    """``model.sample(n, seed=seed, **kwargs)`` split across the ranks of the process group.

    A collective: every rank calls it with the same arguments. Without a process group it is
    ``model.sample`` itself.

    Args:
        model: anything with the unconditional ``sample(n, seed=, start=, return_nfe=, ...)``, ``seq_len``,
            ``in_dim``, ``dtype`` and ``device`` of :class:`~kernelops.flows.SpectralMeanFlow` (the
            same weights on every rank).
        n: windows in the whole draw.
        seed: seed of the draw (None: rank 0 draws one from torch's global RNG and sends it).
        kwargs: the other unconditional arguments of ``model.sample`` (steps, solver, seq_len,
            batch_size, ema, solver_kwargs).

    Returns:
        on rank 0 the n windows, in the order of the single-process draw, on the model's
        device; None on the other ranks. With it the largest NFE per window over the ranks.

    Shape:
        returns: (n, N, d) on rank 0.
    """
    for key in ("observed", "mask", "start", "return_nfe"):
        if key in kwargs:
            raise ValueError(f"{key}: not accepted by sample_sharded (unconditional draws only; the NFE is returned)")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n: expected a positive integer, got {n!r}")
    if seed is None:
        seed = dist.broadcast_object(int(torch.randint(0, 2**62, (), dtype=torch.int64)))
    if not dist.is_parallel():
        samples, nfe = model.sample(n, seed=seed, return_nfe=True, **kwargs)
        return samples, int(nfe)
    world, rank = dist.world_size(), dist.rank()
    shares = sample_shares(n, world, int(kwargs.get("batch_size", SampleConfig().batch_size)))
    start = sum(shares[:rank])
    length = kwargs.get("seq_len") or model.seq_len
    shape = (max(shares), length, model.in_dim)
    part = torch.zeros(shape, dtype=model.dtype, device=model.device)  # padded: gather needs equal sizes
    nfe = 0
    if shares[rank]:
        drawn, nfe = model.sample(shares[rank], seed=seed, start=start, return_nfe=True, **kwargs)
        part[:shares[rank]] = drawn
    nfe = max(dist.all_gather_object(int(nfe)))
    parts = [torch.empty_like(part) for _ in range(world)] if rank == 0 else None
    torch.distributed.gather(part, parts, dst=0)
    if rank != 0:
        return None, nfe
    assert parts is not None
    return torch.cat([p[:b] for p, b in zip(parts, shares)]), nfe


__all__ = ["sample_shares", "sample_sharded"]
