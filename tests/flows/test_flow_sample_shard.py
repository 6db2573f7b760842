"""Sharded sampling: K gloo processes draw exactly the single-process samples of the same seed.

The source noise is drawn per window index (kernelops.flows.sample.ode), so splitting a draw
across ranks changes no window. The workers join a group through a file store in tmp_path and
run both the Python entry point (``sample_sharded``) and the CLI (``kernelops sample`` inside
the group, as under torchrun); the parent compares with single-process draws.
"""

from __future__ import annotations

import datetime

import numpy as np
import pytest
import torch
import torch.distributed as torch_dist
import torch.multiprocessing as mp

from kernelops.cli.main import main as cli
from kernelops.flows import SpectralMeanFlow
from kernelops.flows.sample.shard import sample_sharded, sample_shares

pytestmark = [pytest.mark.skipif(not (torch_dist.is_available() and torch_dist.is_gloo_available()),
                                 reason="torch.distributed with gloo is not available"),
              pytest.mark.timeout(300)]
WORLD = 2


def _model(dtype: torch.dtype) -> SpectralMeanFlow:
    """A tiny model after two steps (its learned part is non-zero)."""
    data = torch.rand(64, 6, 2, dtype=dtype, generator=torch.Generator().manual_seed(0))
    model = SpectralMeanFlow(path="ot", depth=2, width=6, time_features=2, dtype=dtype, skip="channel")
    return model.fit(data, steps=2, batch_size=16, warmup=0, progress=False)


def _worker(rank: int, store: str, tmp: str) -> None:
    torch.set_num_threads(1)  # the parent's reference runs on one thread too: the same kernels
    torch_dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=WORLD,
                                  timeout=datetime.timedelta(seconds=60))
    try:
        model = SpectralMeanFlow.load(f"{tmp}/f64.pt")
        # 5 windows in one batch: fewer batches than ranks, so shares 3 + 2 cut the batch
        small, nfe = sample_sharded(model, 5, seed=11, steps=3, batch_size=1000)
        if rank == 0:
            torch.save({"small": small, "nfe": nfe}, f"{tmp}/python.pt")
        else:
            assert small is None
        # the CLI in the group: 37 windows in batches of 10 → ranks take 20 and 17, whole batches
        # (-n, as under torchrun, where --num would be taken for torchrun's --numa-binding)
        code = cli(["sample", f"{tmp}/f32.pt", "-n", "37", "--batch-size", "10", "--steps", "2",
                    "--seed", "3", "--device", "cpu", "--out", f"{tmp}/sharded.npy"])
        torch.save(code, f"{tmp}/code.{rank}")
    finally:
        torch_dist.destroy_process_group()


def test_two_gloo_processes_draw_the_single_process_samples(tmp_path):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        f64, f32 = _model(torch.float64), _model(torch.float32)
        f64.save(tmp_path / "f64.pt")
        f32.save(tmp_path / "f32.pt")
        method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
        mp.start_processes(_worker, args=(str(tmp_path / "store"), str(tmp_path)), nprocs=WORLD, join=True,
                           start_method=method)
        assert cli(["sample", str(tmp_path / "f32.pt"), "--num", "37", "--batch-size", "10", "--steps", "2",
                    "--seed", "3", "--device", "cpu", "--out", str(tmp_path / "alone.npy")]) == 0
        expected, nfe = f64.sample(5, seed=11, steps=3, batch_size=1000, return_nfe=True)
    finally:
        torch.set_num_threads(threads)
    got = torch.load(tmp_path / "python.pt", weights_only=True)
    torch.testing.assert_close(got["small"], expected, atol=1e-12, rtol=0)
    assert got["nfe"] == nfe == 6  # midpoint, 3 steps
    assert [torch.load(tmp_path / f"code.{r}") for r in range(WORLD)] == [0, 0]
    for name in ("sharded", "sharded_scaled"):  # bit for bit, in float32
        alone = np.load(tmp_path / f"{name.replace('sharded', 'alone')}.npy")
        sharded = np.load(tmp_path / f"{name}.npy")
        assert sharded.shape == (37, 6, 2) and sharded.dtype == np.float32
        assert np.array_equal(sharded, alone)
    alone = np.load(tmp_path / "alone.npy")
    assert not np.array_equal(alone[:10], alone[10:20])  # distinct windows, not one repeated


def test_shares_are_whole_batches_when_there_are_enough():
    assert sample_shares(37, 2, 10) == [20, 17]  # 4 batches: 2 + 2, the short one last
    assert sample_shares(1050, 2, 100) == [500, 550]  # 11 batches: 5 + 6
    assert sample_shares(950, 3, 100) == [300, 300, 350]
    assert sample_shares(5, 2, 4) == [4, 1]  # one batch each, however uneven
    assert sample_shares(5, 2, 1000) == [3, 2]  # one batch for two ranks: split evenly
    assert sample_shares(1000, 2, 1000) == [500, 500]
    assert sample_shares(1, 3, 10) == [1, 0, 0]
    for n, world, batch in ((37, 2, 10), (1999, 2, 1000), (7, 4, 1), (100, 3, 7)):
        assert sum(sample_shares(n, world, batch)) == n
