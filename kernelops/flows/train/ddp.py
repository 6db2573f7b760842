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
module whose ``forward`` DDP wraps. A test (two gloo processes against one process on the concatenated
batch) checks the result.

**Batch shares.** The global batch B is split into shares that differ by at most one window
(:func:`shard_sizes`); rank r's loss is scaled by b_r·K/B before the backward, so DDP's average
over K ranks is the gradient of the mean over all B windows (the factor is exactly 1 when K
divides B).

**Random streams.** Each rank draws its windows, flow times and noise from its own
:class:`~kernelops.flows.train.state.TrainGenerators`, seeded from (run seed, rank): rank 0 of any
run uses exactly the streams of a single-process run, other ranks seeds mixed by
``numpy.random.SeedSequence``. Checkpoints hold every rank's streams (gathered to rank 0). On
resume, rank r continues the stream rank r had when the checkpoint was written; a rank that did
not exist then starts a fresh stream seeded from (seed, rank, step), and streams of ranks that no
longer exist are dropped. So a resume with the same number of processes continues exactly; one
with a different number is reproducible (same checkpoint and process count → same run) but draws
a different sequence than the old process count would have. Everything else in a checkpoint —
weights, EMA, AdamW state, step — is identical on every rank and independent of the world size.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from kernelops.flows.train.state import TrainGenerators


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


class LossModule(nn.Module):
    """The training loss as one module, so DistributedDataParallel sees the whole step's forward.

    Args:
        field: the velocity field (its parameters are this module's).
        objective: ``objective(field, x1, generators, data, batch_index[, mask=]) -> loss``.
    """

    def __init__(self, field: nn.Module, objective: Any):
        super().__init__()
        self.field = field
        self.objective = objective

    def forward(self, x1: torch.Tensor, generators: TrainGenerators, data: torch.Tensor,
                batch_index: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Shape: x1, mask: (b, N, d). data: (num, N, d). batch_index: (b,). returns: ()."""
        given = {} if mask is None else {"mask": mask}
        return self.objective(self.field, x1, generators, data, batch_index, **given)


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


__all__ = ["LossModule", "rank_generators", "resume_streams", "shard_sizes", "wrap_ddp"]
