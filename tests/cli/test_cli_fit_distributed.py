"""`kernelops fit` on several processes, resumed on another number of processes.

The fast test runs the command's own ``main`` in two forked workers with the environment
torchrun would give them (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT): 2 → 1 → 2 processes. The
slow one runs the README's torchrun command line in subprocesses: 2 → 1.
"""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as torch_dist
import torch.multiprocessing as mp

from kernelops.cli.main import main

pytestmark = [pytest.mark.skipif(not (torch_dist.is_available() and torch_dist.is_gloo_available()),
                                 reason="torch.distributed with gloo is not available"),
              pytest.mark.timeout(600)]  # a rank left waiting on a collective fails the test, never hangs CI

TINY = ["--depth", "1", "--width", "4", "--batch-size", "8", "--sample-steps", "1", "--no-progress", "--device", "cpu"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _series(tmp_path: Path) -> Path:
    path = tmp_path / "series.npy"
    t = np.arange(80)[:, None]
    np.save(path, np.concatenate([np.sin(t / 5.0), np.cos(t / 7.0)], axis=1).astype(np.float32))
    return path


def _worker(rank: int, port: int, argv: list[str]) -> None:
    torch.set_num_threads(1)  # a forked child must not use the parent's OpenMP pool
    os.environ.update({"RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": "2",
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
    code = main(argv)
    if code != 0:
        raise SystemExit(f"rank {rank}: kernelops exited with {code}")


def _rows(run: Path) -> list[list[str]]:
    return list(csv.reader((run / "loss.csv").open()))


def test_fit_on_two_processes_then_resume_on_one(tmp_path, capsys):
    import torch._dynamo  # noqa: F401  (DDP imports it: once here, not in each forked worker)

    run = tmp_path / "run"
    argv = ["fit", "--data", str(_series(tmp_path)), "--window", "6", "--steps", "3", "--checkpoint-every", "2",
            "--out", str(run), *TINY]
    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    mp.start_processes(_worker, args=(_free_port(), argv), nprocs=2, join=True, start_method=method)
    config = json.loads((run / "config.json").read_text())
    assert config["world_size"] == 2 and config["world_sizes"] == [[0, 2]] and config["step"] == 3
    assert [int(r[0]) for r in _rows(run)[1:]] == [1, 2, 3]  # one writer: no step logged twice
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    assert state["trainer"]["step"] == 3 and len(state["trainer"]["rng_ranks"]) == 2
    assert not [p.name for p in run.iterdir() if p.name.startswith(".")]  # no temporary file left

    assert main(["fit", "--resume", str(run), "--steps", "5", "--no-progress", "--device", "cpu"]) == 0
    assert "at step 3 of 5 on 1 process" in capsys.readouterr().err
    config = json.loads((run / "config.json").read_text())
    assert config["world_size"] == 1 and config["world_sizes"] == [[0, 2], [3, 1]] and config["step"] == 5
    rows = _rows(run)
    assert [int(r[0]) for r in rows[1:]] == [1, 2, 3, 4, 5] and all(np.isfinite(float(r[1])) for r in rows[1:])
    state = torch.load(run / "checkpoint.pt", weights_only=True)
    assert state["trainer"]["step"] == 5 and len(state["trainer"]["rng_ranks"]) == 1

    # and back to two processes: rank 0 continues the single stream, rank 1 starts a fresh one
    resume = ["fit", "--resume", str(run), "--steps", "6", "--no-progress", "--device", "cpu"]
    mp.start_processes(_worker, args=(_free_port(), resume), nprocs=2, join=True, start_method=method)
    config = json.loads((run / "config.json").read_text())
    assert config["world_sizes"] == [[0, 2], [3, 1], [5, 2]] and config["step"] == 6
    assert [int(r[0]) for r in _rows(run)[1:]] == [1, 2, 3, 4, 5, 6]
    assert len(torch.load(run / "checkpoint.pt", weights_only=True)["trainer"]["rng_ranks"]) == 2


@pytest.mark.slow
def test_torchrun_two_processes_then_one(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "KERNELOPS_LOAD_PLUGINS": ""}
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    fit = ["-m", "kernelops", "fit"]
    data = ["--data", str(_series(tmp_path)), "--window", "6", *TINY]

    def call(*argv: str) -> subprocess.CompletedProcess:
        proc = subprocess.run(list(argv), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return proc

    out = call(*torchrun, *fit, *data, "--steps", "4", "--out", "run")
    assert out.stdout.count("kernelops fit: 4 steps") == 1  # rank 0 alone reports
    call(sys.executable, *fit, "--resume", "run", "--steps", "6", "--no-progress")
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["world_sizes"] == [[0, 2], [4, 1]] and config["step"] == 6
    assert [int(r[0]) for r in _rows(tmp_path / "run")[1:]] == list(range(1, 7))
