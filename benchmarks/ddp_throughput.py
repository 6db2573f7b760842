"""Benchmark: data-parallel training throughput, K processes × 1 thread vs 1 process × K threads.

Usage (from the repository root)::

    .venv/bin/python benchmarks/ddp_throughput.py [--steps 30] [--warmup 5] [--batch-size 64] [--out benchmarks/results]

Trains the default field (``FieldConfig()``, ``TrainConfig()`` with the given global batch, Sines
windows 24 × 5, posterior target) with :class:`kernelops.flows.Trainer` in three settings, each
in a fresh subprocess so its thread count is set before torch starts:

* 1 process × 1 thread (the reference);
* 1 process × 2 threads (intra-op parallelism);
* 2 processes × 1 thread (DistributedDataParallel over gloo, each rank half of the batch).

Steps/s is taken over the steps after ``--warmup`` (the step callback's clock on rank 0);
windows/s = steps/s × global batch. Writes ``OUT/ddp_throughput.json`` and ``.md`` with the
machine, the load average before and after, and this command.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SETTINGS = ((1, 1), (1, 2), (2, 1))  # (processes, threads per process)


def _train(steps: int, batch: int) -> list[float]:
    """Train the default field ``steps`` steps; the wall-clock time after each step."""
    import torch

    import kernelops as ko
    from kernelops.data import make_sines
    from kernelops.flows import FieldConfig, FlowMatchingObjective, SpectralVelocityField, TrainConfig, Trainer

    x = torch.from_numpy(make_sines(10000, seed=0)) * 2 - 1
    path = ko.path("ot")
    field = SpectralVelocityField(path, 5, 24, FieldConfig())
    field.fit_data(x)
    config = TrainConfig(steps=steps, batch_size=batch)
    trainer = Trainer(field, FlowMatchingObjective(path, config.target), config)
    stamps: list[float] = []
    trainer.fit(x, progress=False, callback=lambda *_: stamps.append(time.perf_counter()))
    return stamps


def _rank(rank: int, world: int, store: str, steps: int, batch: int, out: str) -> None:
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    try:
        stamps = _train(steps, batch)
        if rank == 0:
            Path(out).write_text(json.dumps(stamps))
    finally:
        dist.destroy_process_group()


def run_setting(processes: int, threads: int, steps: int, batch: int) -> list[float]:
    """One setting, in this process (called in a subprocess by :func:`main`)."""
    import torch

    torch.set_num_threads(threads)
    if processes == 1:
        return _train(steps, batch)
    import torch.multiprocessing as mp

    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "stamps.json")
        mp.spawn(_rank, args=(processes, os.path.join(tmp, "store"), steps, batch, out), nprocs=processes, join=True)
        return json.loads(Path(out).read_text())


def summarise(stamps: list[float], warmup: int, batch: int) -> dict[str, float]:
    """Steps/s and windows/s over the steps after ``warmup``."""
    timed = stamps[warmup:]
    if len(timed) < 2:
        raise ValueError(f"--steps: expected more than warmup + 1 = {warmup + 1} steps, got {len(stamps)}")
    rate = (len(timed) - 1) / (timed[-1] - timed[0])
    return {"steps_per_s": rate, "windows_per_s": rate * batch, "timed_steps": len(timed) - 1}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    parser.add_argument("--setting", help=argparse.SUPPRESS)  # "P,T": run one setting, print its stamps
    args = parser.parse_args(argv)
    if args.setting:
        processes, threads = (int(v) for v in args.setting.split(","))
        print(json.dumps(run_setting(processes, threads, args.steps, args.batch_size)))
        return 0
    import torch

    command = "python benchmarks/ddp_throughput.py " + shlex.join(argv if argv is not None else sys.argv[1:])
    load_before = os.getloadavg()
    rows = []
    for processes, threads in SETTINGS:
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "KERNELOPS_LOAD_PLUGINS": ""}
        proc = subprocess.run([sys.executable, __file__, "--setting", f"{processes},{threads}", "--steps",
                               str(args.steps), "--batch-size", str(args.batch_size)], env=env, capture_output=True,
                              text=True, check=False)
        if proc.returncode != 0:
            raise SystemExit(f"setting {processes}×{threads} failed:\n{proc.stderr[-2000:]}")
        stamps = json.loads(proc.stdout.strip().splitlines()[-1])
        rows.append({"processes": processes, "threads": threads, **summarise(stamps, args.warmup, args.batch_size)})
        print(f"{processes} process(es) × {threads} thread(s): {rows[-1]['steps_per_s']:.2f} steps/s, "
              f"{rows[-1]['windows_per_s']:.0f} windows/s", flush=True)
    result: dict[str, Any] = {
        "command": command, "torch": torch.__version__, "nproc": os.cpu_count(),
        "load_average_before": [round(v, 2) for v in load_before],
        "load_average_after": [round(v, 2) for v in os.getloadavg()],
        "batch_size": args.batch_size, "steps": args.steps, "warmup": args.warmup, "rows": rows,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "ddp_throughput.json").write_text(json.dumps(result, indent=2) + "\n")
    base = rows[0]["steps_per_s"]
    lines = [f"# Data-parallel throughput (default field, global batch {args.batch_size})", "",
             f"`{command}`; torch {torch.__version__}, {os.cpu_count()} CPUs; 1-min load average "
             f"{result['load_average_before'][0]} before, {result['load_average_after'][0]} after.", "",
             "| processes × threads | steps/s | windows/s | vs 1 × 1 |", "|---|---|---|---|"]
    lines += [f"| {r['processes']} × {r['threads']} | {r['steps_per_s']:.2f} | {r['windows_per_s']:.0f} | "
              f"{r['steps_per_s'] / base:.2f}× |" for r in rows]
    (out / "ddp_throughput.md").write_text("\n".join(lines) + "\n")
    print((out / "ddp_throughput.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
