"""Data-parallel training: K gloo processes equal one process on the concatenated batch.

The workers are spawned with a file store in tmp_path (no network port needed); each writes
what it ends with to tmp_path, and the parent compares with a single-process reference that
takes the same windows, flow times and noise (drawn from the K ranks' streams) in one backward.
"""

from __future__ import annotations

import copy
import datetime
import os
import signal

import pytest
import torch
import torch.distributed as torch_dist
import torch.multiprocessing as mp

import kernelops as ko
from kernelops.flows import FieldConfig, FlowMatchingObjective, SpectralVelocityField, TrainConfig, Trainer
from kernelops.flows.train.ddp import rank_generators, resume_streams, shard_sizes
from kernelops.flows.train.loop import TrainingInterrupted
from kernelops.flows.train.state import TrainGenerators

pytestmark = [pytest.mark.skipif(not (torch_dist.is_available() and torch_dist.is_gloo_available()),
                                 reason="torch.distributed with gloo is not available"),
              pytest.mark.timeout(300)]  # a rank waiting on a collective fails the test, never hangs CI
#: collectives give up after this long (a deadlock becomes an error in the worker, hence the test)
COLLECTIVE_TIMEOUT = datetime.timedelta(seconds=60)

WORLD = 2


def _data() -> torch.Tensor:
    return torch.rand(40, 4, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(3)) * 2 - 1


def _trainer(steps: int, batch_size: int, target: str = "posterior") -> Trainer:
    """A tiny float64 field (every parameter used) fit to the data, with its trainer."""
    torch.set_num_threads(1)
    field = SpectralVelocityField(ko.path("ot"), 2, 4, FieldConfig(depth=2, width=6, time_features=2),
                                  dtype=torch.float64, seed=1)
    field.fit_data(_data())
    config = TrainConfig(steps=steps, batch_size=batch_size, warmup=1, lr=5e-3, target=target)
    return Trainer(field, FlowMatchingObjective(field.path, target), config, seed=7)


def _worker(rank: int, store: str, out: str, plan: list[tuple[int, int]], resume: str | None) -> None:
    """Train in a group of WORLD gloo processes; rank 0 saves its state after every stage of ``plan``.

    plan: (steps in total, batch size) per stage; resume: a trainer state to start from.
    """
    torch.set_num_threads(1)  # a forked child must not use the parent's OpenMP pool
    torch_dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=WORLD,
                                 timeout=COLLECTIVE_TIMEOUT)
    try:
        trainer = _trainer(*plan[0])
        if resume is not None:
            state = torch.load(resume, weights_only=True)
            trainer.field.load_state_dict(state["field"])
            trainer.load_state_dict(state["trainer"])
        for stage, (steps, batch) in enumerate(plan):
            trainer.config = trainer.config.replace(steps=steps, batch_size=batch)
            trainer.fit(_data(), progress=False)
            gathered = [None] * WORLD
            torch_dist.all_gather_object(gathered, [p.detach() for p in trainer.field.parameters()])
            if rank == 0:
                torch.save({"field": trainer.field.state_dict(), "trainer": trainer.state_dict(),
                            "replicas": gathered, "history": trainer.history}, f"{out}.{stage}")
    finally:
        torch_dist.destroy_process_group()


def _signal_worker(rank: int, store: str, out: str) -> None:
    """Rank 1 alone gets SIGTERM after step 2; every rank records where it stopped and why."""
    torch.set_num_threads(1)
    torch_dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=WORLD,
                                 timeout=COLLECTIVE_TIMEOUT)
    try:
        trainer = _trainer(50, 8)
        saved: list[int] = []

        def callback(step, loss, lr):
            if rank == 1 and step == 2:
                os.kill(os.getpid(), signal.SIGTERM)

        try:
            trainer.fit(_data(), progress=False, callback=callback, checkpoint=lambda: saved.append(trainer.step))
        except TrainingInterrupted as exc:
            torch.save({"step": trainer.step, "signal": exc.signal_name, "saved": saved,
                        "streams": len(trainer.streams())}, f"{out}.{rank}")
    finally:
        torch_dist.destroy_process_group()


def _start(worker, *args) -> None:
    """Run ``worker(rank, *args)`` in WORLD processes: forked where possible (no fresh torch import)."""
    # import once here what every child would import (DistributedDataParallel loads torch._dynamo, ~5 s)
    import torch._dynamo  # noqa: F401

    _trainer(1, 2)
    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    mp.start_processes(worker, args=args, nprocs=WORLD, join=True, start_method=method)


def _spawn(tmp_path, name: str, plan: list[tuple[int, int]], resume: str | None = None) -> list[dict]:
    out = str(tmp_path / name)
    _start(_worker, str(tmp_path / f"{name}.store"), out, plan, resume)
    return [torch.load(f"{out}.{i}", weights_only=True) for i in range(len(plan))]


def _reference_objective(objective, streams, batch_size: int):
    """The loss of the concatenated batch: each rank's share drawn from that rank's streams."""
    shares = shard_sizes(batch_size, len(streams))

    def loss(field, x1, generators, data, batch_index):  # the trainer's own draw is ignored
        total = 0.0
        for gens, b in zip(streams, shares):
            idx = torch.randint(data.shape[0], (b,), generator=gens.batch)
            total = total + objective(field, data[idx], gens, data, idx) * (b / batch_size)
        return total

    return loss


def test_two_gloo_processes_equal_one_process_on_the_concatenated_batch(tmp_path):
    (ddp,) = _spawn(tmp_path, "ddp", [(4, 10)])
    reference = _trainer(4, 10)
    streams = [rank_generators(7, r) for r in range(WORLD)]
    reference.objective = _reference_objective(reference.objective, streams, 10)
    reference.fit(_data(), progress=False)
    expected = [p.detach() for p in reference.field.parameters()]
    for replica in ddp["replicas"]:  # every rank holds the same weights: the gradients were averaged
        for got, want in zip(replica, expected, strict=True):
            torch.testing.assert_close(got, want, atol=1e-10, rtol=0)
    assert any((p - q).abs().max() > 1e-4 for p, q in zip(expected, _trainer(4, 10).field.parameters()))  # it moved
    for name, value in reference.ema.state_dict().items():
        torch.testing.assert_close(ddp["trainer"]["ema"][name], value, atol=1e-10, rtol=0)
    assert [round(h[1], 10) for h in ddp["history"]] == [round(h[1], 10) for h in reference.history]
    # the checkpoint holds both ranks' streams, exactly where the reference's copies are
    assert len(ddp["trainer"]["rng_ranks"]) == WORLD
    for saved, gens in zip(ddp["trainer"]["rng_ranks"], streams):
        assert all(torch.equal(saved[n], getattr(gens, n).get_state()) for n in ("batch", "time", "noise"))


def test_resume_on_another_number_of_processes(tmp_path):
    # two processes, unequal shares (7 = 4 + 3): 3 steps, then 5
    first, full = _spawn(tmp_path, "two", [(3, 7), (5, 7)])
    # 2 → 1: rank 0's streams continue in the single process; weights, EMA and AdamW state carry over
    alone = _trainer(3, 7)
    alone.field.load_state_dict(first["field"])
    alone.load_state_dict(copy.deepcopy(first["trainer"]))
    alone.config = alone.config.replace(steps=5)
    alone.fit(_data(), progress=False)
    check = _trainer(3, 7)
    check.field.load_state_dict(first["field"])
    check.load_state_dict(copy.deepcopy(first["trainer"]))
    check.generators = resume_streams(first["trainer"]["rng_ranks"], 7, 0, 3)
    check._loaded_streams = None
    check.config = check.config.replace(steps=5)
    check.fit(_data(), progress=False)
    assert alone.step == 5 and [h[1] for h in alone.history] == [h[1] for h in check.history]
    assert alone.state_dict()["rng_ranks"][0]["noise"].equal(check.generators.noise.get_state())
    # 1 → 2: rank 0 keeps the single process's streams, rank 1 starts one seeded from (seed, 1, step)
    single = tmp_path / "single.pt"
    torch.save({"field": alone.field.state_dict(), "trainer": alone.state_dict()}, single)
    (grown,) = _spawn(tmp_path, "grown", [(6, 8)], resume=str(single))
    rank1 = rank_generators(7, 1, 5)
    torch.randint(40, (4,), generator=rank1.batch)  # rank 1 drew one share of 4 windows, at step 6
    assert grown["trainer"]["rng_ranks"][1]["batch"].equal(rank1.batch.get_state())
    assert not grown["trainer"]["rng_ranks"][1]["batch"].equal(rank_generators(7, 1, 0).batch.get_state())
    assert grown["trainer"]["step"] == 6
    for got, want in zip(grown["replicas"][0], grown["replicas"][1], strict=True):
        torch.testing.assert_close(got, want, atol=0, rtol=0)
    # a resume on the same number of processes continues exactly: 3 + 2 steps equal 5 in one go
    (resumed,) = _spawn(tmp_path, "same", [(5, 7)], resume=str(_save(tmp_path, first)))
    for got, want in zip(resumed["replicas"][0], full["replicas"][0], strict=True):
        torch.testing.assert_close(got, want, atol=1e-12, rtol=0)


def _save(tmp_path, state: dict):
    path = tmp_path / "first.pt"
    torch.save({"field": state["field"], "trainer": state["trainer"]}, path)
    return path


def test_shares_and_fresh_streams():
    assert shard_sizes(7, 2) == [4, 3] and shard_sizes(64, 4) == [16] * 4
    with pytest.raises(ValueError, match="at least one window per process"):
        shard_sizes(1, 2)
    # rank 0 of any run uses the single-process streams; other ranks and later steps differ
    assert rank_generators(5, 0).batch.get_state().equal(TrainGenerators(5).batch.get_state())
    states = {(r, s): rank_generators(5, r, s).noise.get_state() for r in range(3) for s in (0, 10)}
    assert len({bytes(v.numpy()) for v in states.values()}) == len(states)
    assert rank_generators(5, 2, 10).time.get_state().equal(rank_generators(5, 2, 10).time.get_state())


@pytest.mark.skipif(not hasattr(signal, "SIGTERM"), reason="no SIGTERM on this platform")
def test_a_signal_on_one_rank_stops_every_rank_at_the_same_step(tmp_path):
    out = str(tmp_path / "sig")
    _start(_signal_worker, str(tmp_path / "sig.store"), out)
    rank0, rank1 = (torch.load(f"{out}.{r}", weights_only=False) for r in range(WORLD))
    # rank 1 was signalled after its step-2 all-reduce: the flag travels with step 3's, both stop there
    assert rank0["step"] == rank1["step"] == 3
    assert rank1["signal"] == "SIGTERM" and "another rank" in rank0["signal"]
    assert rank0["saved"] == [3] and rank1["saved"] == []  # rank 0 alone checkpoints, once
    assert rank0["streams"] == rank1["streams"] == WORLD  # gathered for that checkpoint
