"""The training loop of a flow-matching velocity field: optimizer, schedule, EMA, checkpoints.

:class:`Trainer` owns everything that changes while a field trains — AdamW state, the weight
average used for sampling, the step counter and the three random streams (batches, flow times,
source noise) — and nothing about what the field is. Its :meth:`Trainer.state_dict` holds tensors
and primitives only, so a checkpoint loads with ``torch.load(weights_only=True)`` and a resumed
run reproduces the uninterrupted one bit for bit on the CPU.

Stopping: Ctrl-C (SIGINT), SIGTERM and SIGUSR1 (what cluster schedulers send before a kill) set
a flag that is checked between steps, so the checkpoint written on the way out is consistent; a
second signal interrupts at once. A non-finite loss or gradient norm stops training before the
optimizer step, so neither the weights nor the last checkpoint ever hold a non-finite state.

Data parallel: when a ``torch.distributed`` process group with more than one process is active
(``torchrun``; :mod:`kernelops.utils.distributed`), :meth:`Trainer.fit` trains with
DistributedDataParallel: each rank draws its share of the batch from its own streams, the loss
and the stop flag are summed over ranks every step (so every rank logs the global loss and all
stop at the same step), and the checkpoint callable runs on rank 0 alone while the others wait.
How the streams are seeded and resumed on another number of processes:
:mod:`kernelops.flows.train.ddp`.
"""

from __future__ import annotations

import contextlib
import copy
import math
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import torch
from torch import nn

from kernelops.flows.config import TrainConfig
from kernelops.flows.train.ddp import rank_generators, resume_streams, shard_sizes, wrap_ddp
from kernelops.flows.train.state import EMA, TrainGenerators, WarmupCosine, param_groups
from kernelops.utils import distributed as dist
from kernelops.utils.numerics import flush_denormals

#: signals that stop training cleanly (checkpoint, then :class:`TrainingInterrupted`)
STOP_SIGNALS = tuple(s for s in (getattr(signal, n, None) for n in ("SIGINT", "SIGTERM", "SIGUSR1")) if s is not None)


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped on a signal after writing its checkpoint; ``signal_name`` says which."""

    def __init__(self, signal_name: str, step: int):
        super().__init__(f"training stopped by {signal_name} at step {step}")
        self.signal_name, self.step = signal_name, step


class Objective(Protocol):
    """What the trainer needs of a loss: a scalar from a field, a batch and the random streams
    (and, for data with missing entries, ``mask=`` the batch's observed entries)."""

    def __call__(self, field: nn.Module, x1: torch.Tensor, generators: TrainGenerators,
                 data: torch.Tensor, batch_index: torch.Tensor) -> torch.Tensor: ...


class _StopFlag:
    """Turns the first stop signal into a flag checked between steps; a second one raises at once."""

    def __init__(self) -> None:
        self.received: str | None = None

    @contextlib.contextmanager
    def installed(self) -> Iterator[_StopFlag]:
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}

        def handler(signum: int, frame: Any) -> None:
            if self.received is not None:
                raise KeyboardInterrupt
            self.received = signal.Signals(signum).name

        for sig in STOP_SIGNALS:
            signal.signal(sig, handler)
        try:
            yield self
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)


class Trainer:
    """Trains ``field`` on ``objective`` with AdamW, warm-up + cosine rate, clipping and an EMA.

    Args:
        field: the velocity field (an ``nn.Module``) whose parameters are trained.
        objective: ``objective(field, x1, generators, data, batch_index[, mask=]) -> loss``.
        config: the training settings.
        seed: seeds the batch, time and noise generators.

    Attributes:
        step: optimisation steps done so far.
        history: ``(step, loss, lr)`` of every step run by this object (not stored in checkpoints).
        ema: the weight average (``ema.module`` is a copy of the field used for sampling).
    """

    def __init__(self, field: nn.Module, objective: Objective, config: TrainConfig | None = None, *, seed: int = 0):
        self.field, self.objective = field, objective
        self.config = config if config is not None else TrainConfig()
        self.config.validate()
        self.ema = EMA(field, self.config.ema_decay, self.config.ema_warmup)
        self.seed = int(seed)
        self.generators: TrainGenerators = rank_generators(self.seed, 0)
        # the (rank, world size) the live generators belong to; every rank's streams as read from
        # a checkpoint (until the next fit binds them) or gathered at the last checkpoint step
        self._bound = (0, 1)
        self._loaded_streams: list[dict[str, torch.Tensor]] | None = None
        self._gathered: tuple[int, list[dict[str, torch.Tensor]]] | None = None
        self.step = 0
        self.history: list[tuple[int, float, float]] = []
        self._optimizer: torch.optim.Optimizer | None = None
        self._pending_optimizer: dict[str, Any] | None = None

    # -- state -------------------------------------------------------------------------------
    @property
    def optimizer(self) -> torch.optim.Optimizer:
        """AdamW (``config.betas``), created on first use (and filled from a loaded state)."""
        if self._optimizer is None:
            self._optimizer = torch.optim.AdamW(param_groups(self.field, self.config.weight_decay),
                                                lr=self.config.lr, betas=self.config.betas)
            if self._pending_optimizer is not None:
                self._optimizer.load_state_dict(self._pending_optimizer)
                self._pending_optimizer = None
        for group in self._optimizer.param_groups:
            if group["weight_decay"] > 0:
                group["weight_decay"] = self.config.weight_decay
        return self._optimizer

    def streams(self) -> list[dict[str, torch.Tensor]]:
        """Every rank's random-stream state, indexed by rank (one entry for a single process).

        Raises:
            RuntimeError: in a multi-process run, the streams were not gathered at this step
                (they are at every checkpoint step and at the end of :meth:`fit`).
        """
        if self._loaded_streams is not None:
            return self._loaded_streams
        if self._bound[1] == 1:
            return [self.generators.state_dict()]
        if self._gathered is None or self._gathered[0] != self.step:
            raise RuntimeError(f"the {self._bound[1]} ranks' random streams were last gathered at step "
                               f"{None if self._gathered is None else self._gathered[0]}, not {self.step}: save "
                               "checkpoints through fit's checkpoint callable or after fit returns")
        return self._gathered[1]

    def state_dict(self) -> dict[str, Any]:
        """Config, step, EMA, optimizer and random streams, as tensors and primitives.

        ``rng`` holds rank 0's streams, ``rng_ranks`` every rank's (:meth:`streams`).
        """
        optimizer = self._optimizer.state_dict() if self._optimizer is not None else self._pending_optimizer
        streams = self.streams()
        return {"config": self.config.to_dict(), "step": self.step, "ema": self.ema.state_dict(),
                "optimizer": optimizer, "rng": streams[0], "rng_ranks": list(streams)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict` (the field's own weights are loaded by its owner).

        The per-rank streams are bound to this process's rank when :meth:`fit` starts
        (:func:`kernelops.flows.train.ddp.resume_streams`); until then ``generators`` holds rank 0's.
        """
        self.config = TrainConfig.from_dict(state["config"], where="checkpoint train config")
        self.step = int(state["step"])
        self.ema.load_state_dict(state["ema"])
        self.generators.load_state_dict(state["rng"])
        self._loaded_streams = list(state.get("rng_ranks") or [state["rng"]])
        self._bound, self._gathered = (0, 1), None
        # a copy: AdamW's load keeps the given tensors, and two trainers loading one dict would share moments
        self._optimizer, self._pending_optimizer = None, copy.deepcopy(state.get("optimizer"))

    def _bind_streams(self, rank: int, world: int) -> None:
        """Give this process the streams of ``rank`` in a run of ``world`` processes."""
        if self._loaded_streams is None and self._bound == (rank, world):
            return
        self.generators = resume_streams(self.streams(), self.seed, rank, self.step)
        self._bound, self._loaded_streams, self._gathered = (rank, world), None, None

    def _gather_streams(self) -> None:
        """Collect every rank's streams (a collective in a multi-process run)."""
        if self._bound[1] > 1:
            self._gathered = (self.step, dist.all_gather_object(self.generators.state_dict()))

    # -- the loop ----------------------------------------------------------------------------
    def fit(self, data: torch.Tensor, *, mask: torch.Tensor | None = None, checkpoint: Callable[[], Any] | None = None,
            progress: bool = True, callback: Callable[[int, float, float], Any] | None = None) -> Trainer:
        """Train until ``config.steps`` steps in total.

        Args:
            data: training windows in the field's coordinates, on the field's device (every
                rank holds all of them and draws its own share of each batch).
            mask: True where ``data`` is observed (missing entries filled,
                :func:`~kernelops.flows.gaussian.fill_missing`); each batch's rows go to the
                objective as ``mask=``. None: every entry is observed.
            checkpoint: called every ``config.checkpoint_every`` steps, at the end and when a
                stop signal arrives (it should write the checkpoint atomically); in a
                multi-process run on rank 0 only, after every rank's streams are gathered, while
                the other ranks wait.
            progress: show a tqdm bar (rank 0 only).
            callback: ``callback(step, loss, lr)`` after every step, on every rank, with the
                loss of the whole (global) batch.

        Raises:
            ValueError: the batch has fewer windows than there are processes.
            TrainingInterrupted: a stop signal arrived (after ``checkpoint`` ran).
            FloatingPointError: the loss or the gradient norm became non-finite (before the
                step that would have used it; the weights and the last checkpoint are those of
                the step before).

        Shape:
            data, mask: (num, N, d).
        """
        cfg = self.config
        if mask is not None and mask.shape != data.shape:
            raise ValueError(f"mask: expected the shape of data {tuple(data.shape)}, got {tuple(mask.shape)}")
        self.ema.decay, self.ema.warmup = cfg.ema_decay, cfg.ema_warmup
        schedule = WarmupCosine(cfg.lr, cfg.steps, cfg.warmup, cfg.final_lr_ratio)
        optimizer = self.optimizer
        params = [p for p in self.field.parameters() if p.requires_grad]
        rank, world = dist.rank(), dist.world_size()
        self._bind_streams(rank, world)
        local = shard_sizes(cfg.batch_size, world)[rank]
        # rank r's loss × b_r·K/B: DDP's average over K ranks is then the mean over all B windows
        backward_scale, share = local * world / cfg.batch_size, local / cfg.batch_size
        ddp = wrap_ddp(self.field, self.objective) if world > 1 else None
        bar = None
        if progress and rank == 0:
            from kernelops.utils.progress import progress_bar  # plain lines when stderr is not a terminal

            bar = progress_bar(cfg.steps, self.step, "fit", dynamic_ncols=True, leave=True)
        stop = _StopFlag()
        was_training = self.field.training
        self.field.train()
        try:
            # flush_denormals: the backward through a long chain is otherwise slowed by subnormals
            with stop.installed(), flush_denormals():
                while self.step < cfg.steps:
                    lr_now = schedule(self.step)
                    for group in optimizer.param_groups:
                        group["lr"] = lr_now
                    idx = torch.randint(data.shape[0], (local,), generator=self.generators.batch).to(data.device)
                    given = {} if mask is None else {"mask": mask[idx]}
                    if ddp is None:
                        loss = self.objective(self.field, data[idx], self.generators, data, idx, **given)
                    else:
                        loss = ddp(data[idx], self.generators, data, idx, **given)
                    optimizer.zero_grad(set_to_none=True)
                    (loss if backward_scale == 1.0 else loss * backward_scale).backward()
                    if ddp is None:
                        value, stopping = float(loss.detach()), stop.received is not None
                    else:  # the global loss and "any rank was signalled", so every rank decides alike
                        stats = torch.stack([loss.detach().double() * share,
                                             torch.tensor(float(stop.received is not None), dtype=torch.float64,
                                                          device=loss.device)])
                        torch.distributed.all_reduce(stats)
                        value, stopping = float(stats[0]), bool(stats[1] > 0)
                    # a finite loss can still have an infinite gradient, which the clipping below
                    # would turn into NaN weights (and a NaN checkpoint): check both before the step.
                    # After the DDP backward the gradients are already averaged, so every rank
                    # computes the same norm and raises alike.
                    norm = float(nn.utils.clip_grad_norm_(params, cfg.grad_clip if cfg.grad_clip else math.inf))
                    for what, number in (("loss", value), ("gradient norm", norm)):
                        if not math.isfinite(number):
                            raise FloatingPointError(
                                f"the {what} became {number} at step {self.step + 1} (learning rate {lr_now:.3g}); "
                                "lower --lr or check the data for extreme values; the last checkpoint is kept")
                    optimizer.step()
                    self.ema.update(self.field)
                    self.step += 1
                    self.history.append((self.step, value, lr_now))
                    if callback is not None:
                        callback(self.step, value, lr_now)
                    if bar is not None:
                        bar.update(1)
                        if self.step % cfg.log_every == 0 or self.step == 1:
                            recent = [h[1] for h in self.history[-cfg.log_every:]]
                            bar.set_postfix(loss=f"{sum(recent) / len(recent):.4f}", lr=f"{lr_now:.2e}", refresh=False)
                    if ddp is None:
                        stopping = stop.received is not None
                    due = self.step % cfg.checkpoint_every == 0 or self.step == cfg.steps
                    if due or stopping:
                        self._gather_streams()
                        if checkpoint is not None:
                            if rank == 0:
                                checkpoint()
                            dist.barrier()
                    if stopping:
                        raise TrainingInterrupted(stop.received or "a stop signal on another rank", self.step)
                if world > 1 and (self._gathered is None or self._gathered[0] != self.step):
                    self._gather_streams()
        finally:
            if bar is not None:
                bar.close()
            self.field.train(was_training)
        return self


def check_total_steps(steps: int, step: int) -> None:
    """Refuse a total ``steps`` below the step a model is at (steps count from the start of
    training: a lower total would silently train nothing).

    Raises:
        ValueError: naming both numbers.
    """
    if steps < step:
        raise ValueError(f"steps: expected the total number of optimisation steps, at least {step} "
                         f"(the model is at step {step}), got {steps}")


__all__ = ["STOP_SIGNALS", "Objective", "Trainer", "TrainingInterrupted", "check_total_steps"]
