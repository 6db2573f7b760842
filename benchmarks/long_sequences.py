"""Benchmark: training and sampling cost vs window length N (the normalised chain; linear in N?).

Usage (from the repository root)::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/long_sequences.py [--lengths 24 64 256 1024] [--batch 16]

For each N, in a fresh subprocess (so peak memory is that N's alone): the default field with the
channel skip (the window skip's covariance would be (N·d)² and is not what long windows use),
Sines windows of length N (1000 of them, posterior target), ``--steps`` Trainer steps at batch
``--batch`` after one warm-up step, then ``--batch`` windows sampled with the midpoint solver
(2 steps, NFE 4; after a one-window warm-up). Reported: seconds per training step and per window, seconds per field
evaluation in sampling, and the peak resident memory above the process's memory before the first
step (``ru_maxrss``; it includes the data and the allocator's slack). The log-log slope between
consecutive N says how cost grows (1 = linear). Writes ``OUT/long_sequences.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def _rss_mib() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def measure(length: int, batch: int, steps: int) -> dict[str, Any]:
    """One N, in this process."""
    import torch

    import kernelops as ko
    from kernelops.data import make_sines
    from kernelops.flows import FieldConfig, FlowMatchingObjective, SpectralVelocityField, TrainConfig, Trainer
    from kernelops.flows.sampler import sample_field

    x = torch.from_numpy(make_sines(1000, seq_len=length, seed=0)) * 2 - 1
    path = ko.path("ot")
    field = SpectralVelocityField(path, 5, length, FieldConfig(skip="channel"))
    field.fit_data(x)
    config = TrainConfig(steps=1 + steps, batch_size=batch, warmup=0)
    trainer = Trainer(field, FlowMatchingObjective(path, config.target), config)
    base = _rss_mib()
    stamps: list[float] = []
    trainer.fit(x, progress=False, callback=lambda *_: stamps.append(time.perf_counter()))
    train_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - base
    step_s = (stamps[-1] - stamps[0]) / steps

    def sample(n: int) -> int:
        return sample_field(field.eval(), path, ko.solver("midpoint"), n, (length, 5), steps=2,
                            generator=torch.Generator().manual_seed(0), batch_size=n)[1]

    sample(1)  # warm-up
    start = time.perf_counter()
    nfe = sample(batch)
    eval_s = (time.perf_counter() - start) / nfe
    return {"N": length, "batch": batch, "train_s_per_step": step_s, "train_ms_per_window": 1e3 * step_s / batch,
            "sample_s_per_eval": eval_s, "train_peak_mib_above_start": train_peak,
            "peak_mib_above_start": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - base}


def slopes(rows: list[dict[str, Any]], key: str) -> list[float | None]:
    """log-log slope of ``key`` against N from the previous row (None for the first)."""
    out: list[float | None] = [None]
    for prev, row in zip(rows, rows[1:]):
        out.append(math.log(row[key] / prev[key]) / math.log(row["N"] / prev["N"]) if prev[key] > 0 and row[key] > 0 else None)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[24, 64, 256, 1024])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=2, help="timed training steps per N (after one warm-up step)")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # measure this N here and print JSON
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(measure(args.one, args.batch, args.steps)))
        return 0
    command = "OMP_NUM_THREADS=1 python benchmarks/long_sequences.py " + shlex.join(argv if argv is not None else sys.argv[1:])
    load_before = os.getloadavg()
    rows = []
    for length in args.lengths:
        proc = subprocess.run([sys.executable, __file__, "--one", str(length), "--batch", str(args.batch), "--steps",
                               str(args.steps)], capture_output=True, text=True,
                              env={**os.environ, "OMP_NUM_THREADS": "1", "KERNELOPS_LOAD_PLUGINS": ""})
        if proc.returncode != 0:
            raise SystemExit(f"N={length} failed:\n{proc.stderr[-2000:]}")
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(f"N={length}: {rows[-1]['train_s_per_step']:.3f} s/step, {rows[-1]['sample_s_per_eval']:.3f} s/eval, "
              f"peak +{rows[-1]['peak_mib_above_start']:.0f} MiB", flush=True)
    import torch

    result = {"command": command, "torch": torch.__version__, "nproc": os.cpu_count(),
              "load_average_before": [round(v, 2) for v in load_before],
              "load_average_after": [round(v, 2) for v in os.getloadavg()], "rows": rows}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "long_sequences.json").write_text(json.dumps(result, indent=2) + "\n")
    s_train, s_eval, s_mem = (slopes(rows, k) for k in ("train_s_per_step", "sample_s_per_eval", "peak_mib_above_start"))

    def fmt(v: float | None) -> str:
        return "—" if v is None else f"{v:.2f}"

    lines = ["# Cost vs window length N (default field, channel skip, normalised chain)", "",
             f"`{command}`; torch {torch.__version__}, {os.cpu_count()} CPUs, one thread; 1-min load average "
             f"{result['load_average_before'][0]} before, {result['load_average_after'][0]} after.", "",
             f"| N | train s/step (batch {args.batch}) | slope | sample s/eval (batch {args.batch}) | slope | "
             "peak MiB above start | slope |", "|---|---|---|---|---|---|---|"]
    for row, a, b, c in zip(rows, s_train, s_eval, s_mem):
        lines.append(f"| {row['N']} | {row['train_s_per_step']:.3f} | {fmt(a)} | {row['sample_s_per_eval']:.4f} | "
                     f"{fmt(b)} | {row['peak_mib_above_start']:.0f} | {fmt(c)} |")
    (out / "long_sequences.md").write_text("\n".join(lines) + "\n")
    print((out / "long_sequences.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
