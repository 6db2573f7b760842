"""Data-parallel training of a velocity field: batch shares, per-rank random streams, the DDP step.

**One ordinary backward.** The field's velocity takes an input gradient with
``create_graph=True`` inside its forward (∇ₓ of the chain potential, with respect to x, out of
place); that ``torch.autograd.grad`` call reaches no parameter's accumulator, so none of
DistributedDataParallel's gradient hooks fire during the forward. The parameter gradients then
come from the single ``loss.backward()`` of the step, whose graph runs through both the potential
and its input gradient; autograd sums every path into each parameter's accumulator once, so each
DDP hook fires exactly once per step and the reducer averages complete gradients. DDP only sees
calls to its own ``forward``, and the objective calls ``field.denoise``/``field.loss_weight``,
not ``field(...)``: :class:`LossModule` therefore makes the whole loss (objective and field) one
module whose ``forward`` DDP wraps. ``tests/flows/test_flow_distributed.py`` proves the result:
two gloo processes give the parameters of one process on the concatenated batch to 1e-10.

**Batch shares.** The global batch B is split into shares that differ by at most one window
(:func:`shard_sizes`); rank r's loss is scaled by b_r·K/B before the backward, so DDP's average
over K ranks is the gradient of the mean over all B windows (the factor is exactly 1 when K
divides B).

**Random streams.** Each rank draws its windows, flow times and noise from its own
:class:`~kernelops.flows.training.TrainGenerators`, seeded from (run seed, rank): rank 0 of any
run uses exactly the streams of a single-process run, other ranks seeds mixed by
``numpy.random.SeedSequence``. Checkpoints hold every rank's streams (gathered to rank 0). On
resume, rank r continues the stream rank r had when the checkpoint was written; a rank that did
not exist then starts a fresh stream seeded from (seed, rank, step), and streams of ranks that no
longer exist are dropped. So a resume with the same number of processes continues exactly; one
with a different number is reproducible (same checkpoint and process count → same run) but draws
a different sequence than the old process count would have. Everything else in a checkpoint —
weights, EMA, AdamW state, step — is identical on every rank and independent of the world size.

**Sharded sampling.** :func:`sample_sharded` splits a draw of n windows into contiguous shares
(:func:`sample_shares`); rank r integrates its windows ``start_r … start_r + n_r − 1`` of the draw
and rank 0 gathers them in order. The source noise is drawn per window index
(:mod:`kernelops.flows.sampler`), so with a fixed-step solver the result is the single-process
draw with the same seed, whatever the number of processes: bit for bit when the draw has at
least one batch per rank (each rank then integrates whole batches of the single-process run)
and the processes run the same kernels (same CPU type and thread count, or same GPU); to
rounding otherwise (float32 kernels may round a window differently in a batch of another
size: about 1e-7 relative; 1e-15 in float64). An adaptive solver chooses its steps per batch,
so its draws agree only to its tolerance unless the batches are the same.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from kernelops.flows.training import TrainGenerators


def shard_sizes(batch_size: int, world: int) -> list[int]:
    """Windows per rank: ``batch_size`` split into ``world`` shares differing by at most one.

    Raises:
        ValueError: fewer windows than ranks.
    """
    if batch_size < world:
        raise ValueError(f"batch_size: expected at least one window per process, got batch_size={batch_size} "
                         f"for {world} processes")
    base, extra = divmod(batch_size, world)
    return [base + (r < extra) for r in range(world)]


def rank_generators(seed: int, rank: int, step: int = 0) -> TrainGenerators:
    """The fresh random streams of ``rank`` starting at ``step`` (module docstring).

    Rank 0 at step 0 gets ``TrainGenerators(seed)``, the streams of a single-process run.
    """
    if rank == 0 and step == 0:
        return TrainGenerators(seed)
    gens = TrainGenerators(0)
    words = np.random.SeedSequence([int(seed) & (2**64 - 1), int(rank), int(step)]).generate_state(3, np.uint64)
    for name, word in zip(TrainGenerators.NAMES, words):
        getattr(gens, name).manual_seed(int(word) & (2**63 - 1))
    return gens


def resume_streams(states: list[dict[str, torch.Tensor]], seed: int, rank: int, step: int) -> TrainGenerators:
    """Rank ``rank``'s streams given every rank's ``states`` at a checkpoint (module docstring)."""
    if rank < len(states):
        gens = TrainGenerators(seed)
        gens.load_state_dict(states[rank])
        return gens
    return rank_generators(seed, rank, step)


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
        model: a trained :class:`~kernelops.flows.SpectralMeanFlow` (the same weights on every rank).
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
    from kernelops.utils import distributed as dist

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
    shares = sample_shares(n, world, int(kwargs.get("batch_size", 1000)))
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


class LossModule(nn.Module):
    """The training loss as one module, so DistributedDataParallel sees the whole step's forward.

    Args:
        field: the velocity field (its parameters are this module's).
        objective: ``objective(field, x1, generators, data, batch_index) -> loss``.
    """

    def __init__(self, field: nn.Module, objective: Any):
        super().__init__()
        self.field = field
        self.objective = objective

    def forward(self, x1: torch.Tensor, generators: TrainGenerators, data: torch.Tensor,
                batch_index: torch.Tensor) -> torch.Tensor:
        """Shape: x1: (b, N, d). data: (num, N, d). batch_index: (b,). returns: ()."""
        return self.objective(self.field, x1, generators, data, batch_index)


def wrap_ddp(field: nn.Module, objective: Any) -> nn.Module:
    """``DistributedDataParallel(LossModule(field, objective))`` on the field's device.

    Buffers (the skip's Gaussian, σ_d) are fit before training and never change during it, so
    they are synchronised once, when DDP starts, not on every forward.
    """
    import inspect

    device = next(field.parameters()).device
    ddp = nn.parallel.DistributedDataParallel
    # torch ≥ 2.12 names the per-forward buffer sync forward_sync_buffers (broadcast_buffers warns)
    no_sync = ("forward_sync_buffers" if "forward_sync_buffers" in inspect.signature(ddp).parameters
               else "broadcast_buffers")
    return ddp(LossModule(field, objective), device_ids=[device] if device.type == "cuda" else None, **{no_sync: False})  # type: ignore[arg-type]


__all__ = ["LossModule", "rank_generators", "resume_streams", "sample_shares", "sample_sharded", "shard_sizes", "wrap_ddp"]
