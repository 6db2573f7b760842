"""Benchmark: training and sampling cost vs window length N (the normalised chain; linear in N?).

Usage (from the repository root)::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/long_sequences.py [--lengths 24 64 256 1024] [--batch 16]

For each N, in a fresh subprocess (so peak memory is that N's alone): the chain field (default
sizes) with the channel skip (the window skip's covariance would be (N·d)² and is not what long windows use),
Sines windows of length N (1000 of them, posterior target), ``--steps`` Trainer steps at batch
``--batch`` after one warm-up step, then ``--batch`` windows sampled with the midpoint solver
(2 steps, NFE 4; after a one-window warm-up). Reported: seconds per training step and per window, seconds per field
evaluation in sampling, and the peak resident memory above the process's memory before the first
step (``ru_maxrss``; it includes the data and the allocator's slack). The log-log slope between
consecutive N says how cost grows (1 = linear). Writes ``OUT/long_sequences.{json,md}``.

Two more measurements, each in its own subprocess: the largest N trained again with subnormal
numbers kept (training and sampling flush them to zero, :mod:`kernelops.utils.numerics`), and,
at ``--contraction-lengths``, the training chain alone (the field's contraction shape: 8 blocks
of k = 32 features, rank 32 per block, complex64; forward, input gradient with create_graph,
backward of a loss on it) with the sequential and the tree-scan contraction, at batch
``--contraction-batch``.
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


def measure(length: int, batch: int, steps: int, keep_subnormals: bool = False) -> dict[str, Any]:
    """One N, in this process."""
    import contextlib

    import torch

    if keep_subnormals:
        import kernelops.flows.sample.ode
        import kernelops.flows.train.loop

        kernelops.flows.train.loop.flush_denormals = kernelops.flows.sample.ode.flush_denormals = contextlib.nullcontext  # type: ignore[assignment]

    import kernelops as ko
    from kernelops.data import make_sines
    from kernelops.flows import FieldConfig, FlowMatchingObjective, SpectralVelocityField, TrainConfig, Trainer
    from kernelops.flows.sample.ode import sample_field

    x = torch.from_numpy(make_sines(1000, seq_len=length, seed=0)) * 2 - 1
    path = ko.path("ot")
    field = SpectralVelocityField(path, 5, length, FieldConfig(potential="chain", skip="channel"))
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
                            seed=0, batch_size=n)[1]

    sample(1)  # warm-up
    start = time.perf_counter()
    nfe = sample(batch)
    eval_s = (time.perf_counter() - start) / nfe
    return {"N": length, "batch": batch, "train_s_per_step": step_s, "train_ms_per_window": 1e3 * step_s / batch,
            "sample_s_per_eval": eval_s, "train_peak_mib_above_start": train_peak,
            "peak_mib_above_start": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - base}


def measure_chain(length: int, batch: int, contraction: str, blocks: int = 8, k: int = 32, r: int = 32) -> dict[str, Any]:
    """Seconds for the training chain alone (module docstring), best of two, in this process."""
    import torch

    from kernelops.chains import factored_chain_evaluate

    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    h = torch.randn(batch, length, blocks, k, dtype=torch.complex64, generator=g)
    heads = [(torch.randn(blocks, k, r, dtype=torch.complex64, generator=g) / k).requires_grad_(True) for _ in range(4)]
    lam = (0.9 * torch.randn(blocks, r, dtype=torch.complex64, generator=g).sgn()).requires_grad_(True)
    best = math.inf
    for _ in range(2):
        start = time.perf_counter()
        x = h.clone().requires_grad_(True)
        f = factored_chain_evaluate(x, *heads, lam, normalise=True, check_finite=False, contraction=contraction).real
        (v,) = torch.autograd.grad(f.sum(), x, create_graph=True)
        (v.real.square() + v.imag.square()).sum().backward()
        best = min(best, time.perf_counter() - start)
    return {"N": length, "batch": batch, "contraction": contraction, "seconds": best}


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
    parser.add_argument("--contraction-lengths", type=int, nargs="*", default=[256, 1024])
    parser.add_argument("--contraction-batch", type=int, default=4)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # measure this N here and print JSON
    parser.add_argument("--keep-subnormals", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--chain", help=argparse.SUPPRESS)  # time the chain alone with this contraction
    args = parser.parse_args(argv)
    if args.one and args.chain:
        print(json.dumps(measure_chain(args.one, args.batch, args.chain)))
        return 0
    if args.one:
        print(json.dumps(measure(args.one, args.batch, args.steps, args.keep_subnormals)))
        return 0
    command = "OMP_NUM_THREADS=1 python benchmarks/long_sequences.py " + shlex.join(argv if argv is not None else sys.argv[1:])
    load_before = os.getloadavg()
    def child(*extra: str) -> dict[str, Any]:
        proc = subprocess.run([sys.executable, __file__, *extra], capture_output=True, text=True,
                              env={**os.environ, "OMP_NUM_THREADS": "1", "KERNELOPS_LOAD_PLUGINS": ""})
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(extra)} failed:\n{proc.stderr[-2000:]}")
        return json.loads(proc.stdout.strip().splitlines()[-1])

    rows = []
    for length in args.lengths:
        rows.append(child("--one", str(length), "--batch", str(args.batch), "--steps", str(args.steps)))
        print(f"N={length}: {rows[-1]['train_s_per_step']:.3f} s/step, {rows[-1]['sample_s_per_eval']:.3f} s/eval, "
              f"peak +{rows[-1]['peak_mib_above_start']:.0f} MiB", flush=True)
    kept = child("--one", str(args.lengths[-1]), "--batch", str(args.batch), "--steps", str(args.steps),
                 "--keep-subnormals")
    print(f"N={args.lengths[-1]} keeping subnormals: {kept['train_s_per_step']:.3f} s/step", flush=True)
    chains = []
    for length in args.contraction_lengths:
        for contraction in ("sequential", "scan"):
            chains.append(child("--one", str(length), "--batch", str(args.contraction_batch), "--chain", contraction))
            print(f"chain N={length} {contraction}: {chains[-1]['seconds']:.3f} s", flush=True)
    import torch

    result = {"command": command, "torch": torch.__version__, "nproc": os.cpu_count(),
              "load_average_before": [round(v, 2) for v in load_before],
              "load_average_after": [round(v, 2) for v in os.getloadavg()], "rows": rows,
              "subnormals_kept": kept, "chain_contractions": chains}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from kernelops.utils.atomic import atomic_write

    atomic_write(out / "long_sequences.json", lambda fh: fh.write(json.dumps(result, indent=2) + "\n"), mode="w")
    s_train, s_eval, s_mem = (slopes(rows, k) for k in ("train_s_per_step", "sample_s_per_eval", "peak_mib_above_start"))

    def fmt(v: float | None) -> str:
        return "—" if v is None else f"{v:.2f}"

    lines = ["# Cost vs window length N (chain field of default size, channel skip, normalised chain)", "",
             f"`{command}`; torch {torch.__version__}, {os.cpu_count()} CPUs, one thread; 1-min load average "
             f"{result['load_average_before'][0]} before, {result['load_average_after'][0]} after.", "",
             f"| N | train s/step (batch {args.batch}) | slope | sample s/eval (batch {args.batch}) | slope | "
             "peak MiB above start | slope |", "|---|---|---|---|---|---|---|"]
    for row, a, b, c in zip(rows, s_train, s_eval, s_mem):
        lines.append(f"| {row['N']} | {row['train_s_per_step']:.3f} | {fmt(a)} | {row['sample_s_per_eval']:.4f} | "
                     f"{fmt(b)} | {row['peak_mib_above_start']:.0f} | {fmt(c)} |")
    last = rows[-1]
    lines += ["", f"Subnormal numbers: at N = {last['N']} a training step took {kept['train_s_per_step']:.3f} s with "
              f"subnormals kept and {last['train_s_per_step']:.3f} s with them flushed to zero (the default; "
              f"{kept['train_s_per_step'] / last['train_s_per_step']:.2f}×); sampling {kept['sample_s_per_eval']:.4f} vs "
              f"{last['sample_s_per_eval']:.4f} s/eval.", "",
              f"The training chain alone (8 blocks, k = 32, r = 32, complex64, batch {args.contraction_batch}; "
              "forward, input gradient, backward):", "", "| N | sequential s | tree scan s | scan / sequential |",
              "|---|---|---|---|"]
    for seq, scan in zip(chains[0::2], chains[1::2]):
        lines.append(f"| {seq['N']} | {seq['seconds']:.3f} | {scan['seconds']:.3f} | {scan['seconds'] / seq['seconds']:.1f}× |")
    atomic_write(out / "long_sequences.md", lambda fh: fh.write("\n".join(lines) + "\n"), mode="w")
    print((out / "long_sequences.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
