"""Benchmark: training and sampling throughput of the spectral mean flow, and MMD versus NFE.

Three parts, all on the CPU with the default Sines model of ``kernelops fit`` (depth 4,
width 64, rank 128, batch 64, float32):

A. Throughput: training steps/s (flow matching with double backward) and sampling
   sequences/s with the midpoint solver at NFE ∈ {8, 16, 32, 64}.
B. Convergence at t = 1: a model briefly trained on the OT and on the VP path samples with the
   midpoint solver at NFE ∈ {8, 16, 32, 64}; the table gives the MMD (RBF kernel, median
   bandwidth, biased) between generated windows and held-out Sines, next to the MMD of a
   second held-out real set (the floor) and of the source noise mapped to data scale.
D. (with ``--run RUN``) MMD vs NFE for a finished run folder, e.g. the default
   ``kernelops fit --dataset sines`` run: 500 generated vs 500 held-out windows.
C. Scaling (DESIGN §2.6): loss at initialisation and after a short OT training on Sines, N = 24;
   (raw chain with the design's scaling vs the defaults, two seeds each); and N = 256 with the
   raw chain (chain_norm="none") and the pair-normalised chain ("pair").

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/flow_throughput.py
    # options: --parts A,B,C --train-steps 300 --scaling-steps 400 --out benchmarks/results
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from kernelops.data.sines import make_sines
from kernelops.embeddings import mmd
from kernelops.features.kernels import median_bandwidth
from kernelops.flows import SpectralMeanFlow

NFES = (8, 16, 32, 64)
MODEL = {"depth": 4, "width": 64}
BATCH = 64


def machine() -> dict[str, Any]:
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in subprocess.run(
            ["lscpu"], capture_output=True, text=True).stdout.splitlines() if line.startswith("Model name"))
    except Exception:
        cpu = platform.processor() or "unknown"
    return {"cpu": cpu, "nproc": os.cpu_count(), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "python": platform.python_version(), "load_average_start": list(os.getloadavg())}


def timed(fn, repeats: int = 1) -> float:
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def part_a(data: np.ndarray, train_steps: int) -> dict[str, Any]:
    model = SpectralMeanFlow(path="vp", seed=0, **MODEL)
    model.fit(data, steps=3, batch_size=BATCH, progress=False)  # warm-up (optimizer import, allocator)
    n = train_steps
    seconds = timed(lambda: model.fit(data, steps=3 + n, batch_size=BATCH, progress=False))
    out = {"train_steps": n, "train_seconds": seconds, "train_steps_per_s": n / seconds, "sampling": []}
    n_seq = 256
    for nfe in NFES:
        secs = timed(lambda: model.sample(n_seq, steps=nfe // 2, solver="midpoint", batch_size=n_seq, seed=0), repeats=2)
        out["sampling"].append({"nfe": nfe, "sequences": n_seq, "seconds": secs, "sequences_per_s": n_seq / secs})
    return out


def part_b(data: np.ndarray, held: np.ndarray, floor_set: np.ndarray, train_steps: int) -> dict[str, Any]:
    held_t = torch.from_numpy(held).flatten(1)
    bw = float(median_bandwidth(held_t))
    floor = float(mmd(torch.from_numpy(floor_set).flatten(1), held_t, bandwidth=bw))
    out: dict[str, Any] = {"bandwidth": bw, "floor_real_vs_real": floor, "paths": {}}
    for path in ("ot", "vp"):
        model = SpectralMeanFlow(path=path, seed=0, **MODEL)
        start = time.perf_counter()
        model.fit(data, steps=train_steps, batch_size=BATCH, progress=False)
        train_s = time.perf_counter() - start
        losses = [loss for _, loss, _ in model.history]
        noise = model.from_model(model.path.sample_source((len(held), *held.shape[1:]),
                                                          generator=torch.Generator().manual_seed(1)))
        rows = {"train_steps": train_steps, "train_seconds": train_s,
                "loss_first10": float(np.mean(losses[:10])), "loss_last50": float(np.mean(losses[-50:])),
                "mmd_source_noise": float(mmd(noise.flatten(1), held_t, bandwidth=bw)), "nfe": []}
        for nfe in NFES:
            fake = model.sample(len(held), steps=nfe // 2, solver="midpoint", batch_size=len(held), seed=2)
            rows["nfe"].append({"nfe": nfe, "mmd": float(mmd(fake.flatten(1), held_t, bandwidth=bw))})
        out["paths"][path] = rows
        print(f"  B {path}: {rows}", flush=True)
    return out


def _train_record(model: SpectralMeanFlow, data: np.ndarray, steps: int, batch: int, lr: float, warmup: int) -> dict[str, Any]:
    rec: dict[str, Any] = {"chain_norm": model.chain_norm, "init_velocity": model.init_velocity,
                           "batch_size": batch, "lr": lr, "steps": steps}
    start = time.perf_counter()
    try:
        model.fit(data, steps=steps, batch_size=batch, lr=lr, warmup=warmup, progress=False)
        rec["status"] = "finite"
    except FloatingPointError as exc:
        rec["status"] = f"NaN/inf at step {model.step + 1}"
        rec["error"] = str(exc)
    losses = [loss for _, loss, _ in model.history]
    blocks = [float(np.mean(losses[i:i + 50])) for i in range(0, len(losses), 50)]
    rec.update({"steps_done": model.step, "calibration": model.calibration,
                "loss_init": losses[0] if losses else None,
                "loss_first10": float(np.mean(losses[:10])) if losses else None,
                "loss_last20": float(np.mean(losses[-20:])) if len(losses) >= 20 else None,
                "loss_per50": blocks, "seconds": time.perf_counter() - start})
    return rec


def part_c(scaling_steps: int, long_steps: int) -> dict[str, Any]:
    out: dict[str, Any] = {"n24": {}, "n256": {}}
    d24 = make_sines(10000, 24, 5, seed=0)
    # "none" without calibration is exactly the design's data point (raw chain, raw scaling)
    for norm, init_v in (("none", None), ("pair", 0.3)):
        for seed in (0, 1):
            model = SpectralMeanFlow(path="ot", seed=seed, chain_norm=norm, init_velocity=init_v, **MODEL)
            rec = _train_record(model, d24, scaling_steps, 128, 1e-3, 20)
            out["n24"][f"{norm}/seed{seed}"] = rec
            print(f"  C N=24 {norm} seed {seed}: {rec}", flush=True)
    d256 = make_sines(2000, 256, 5, seed=0)
    for norm, init_v in (("none", None), ("pair", 0.3)):
        model = SpectralMeanFlow(path="ot", seed=0, chain_norm=norm, init_velocity=init_v, **MODEL)
        rec = _train_record(model, d256, long_steps, 32, 2e-3, 10)
        out["n256"][norm] = rec
        print(f"  C N=256 {norm}: {rec}", flush=True)
    return out


def part_d(run: str, held: np.ndarray) -> dict[str, Any]:
    ckpt = Path(run) / "checkpoint.pt" if Path(run).is_dir() else Path(run)
    model = SpectralMeanFlow.load(ckpt)
    held_t = torch.from_numpy(held[:500]).flatten(1)
    bw = float(median_bandwidth(held_t))
    out: dict[str, Any] = {"run": str(run), "step": model.step, "path": model.path_name, "bandwidth": bw,
                           "train": model.train_config, "nfe": []}
    for nfe in NFES:
        start = time.perf_counter()
        fake = model.sample(500, steps=nfe // 2, solver="midpoint", batch_size=500, seed=2)
        out["nfe"].append({"nfe": nfe, "mmd": float(mmd(fake.flatten(1), held_t, bandwidth=bw)),
                           "seconds": time.perf_counter() - start})
        print(f"  D {out['nfe'][-1]}", flush=True)
    return out


def _provenance(res: dict[str, Any], part: str) -> str:
    """The command that measured ``part`` and the load average when it started."""
    command = res.get("command_" + part, res["command"])
    machine = res.get("machine_" + part, res["machine"])
    load = ", ".join(f"{v:.1f}" for v in machine["load_average_start"])
    return f"Command: `{command}` (load average at start {load})."


def write_md(res: dict[str, Any], path: Path) -> None:
    m = res["machine"]
    lines = ["# Spectral mean flow: throughput, MMD vs NFE, and initialisation scaling", "",
             f"Machine: {m['cpu']}, nproc = {m['nproc']}, torch {m['torch']} (CPU), {m['threads']} torch thread(s), "
             f"Python {m['python']}. Each part names its command and the load average when it started (the "
             "1-minute figure lags a process that has just ended); on a 2-core machine a second busy process "
             "slows a run several-fold, so read ratios, not absolute times.", "",
             f"Model: the `kernelops fit --dataset sines` default — depth {MODEL['depth']}, width {MODEL['width']} "
             f"(d_f = rank = {MODEL['depth'] * MODEL['width'] // 2}), batch {BATCH}, float32, midpoint solver "
             "(2 NFE per step).", ""]
    if "A" in res:
        a = res["A"]
        lines += ["## A. Throughput (VP path)", "", _provenance(res, "A"), "",
                  f"Training: **{a['train_steps_per_s']:.2f} steps/s** ({a['train_steps']} steps in {a['train_seconds']:.1f} s; "
                  "each step is a forward, the gradient v = −∇f with create_graph, and the backward through it).", "",
                  "| NFE | sequences/s | seconds for 256 |", "|---:|---:|---:|"]
        lines += [f"| {r['nfe']} | {r['sequences_per_s']:.1f} | {r['seconds']:.2f} |" for r in a["sampling"]]
        lines += [""]
    if "B" in res:
        b = res["B"]
        lines += ["## B. MMD to held-out Sines vs NFE (midpoint), briefly trained models", "", _provenance(res, "B"), "",
                  f"RBF kernel, median bandwidth {b['bandwidth']:.3f} of the held-out set; biased MMD over windows "
                  f"flattened to 120 numbers; 1000 generated vs 1000 held-out windows. Floor (a second held-out real set): "
                  f"**{b['floor_real_vs_real']:.4f}**.", ""]
        paths = list(b["paths"])
        lines += ["| NFE | " + " | ".join(f"{p.upper()} MMD" for p in paths) + " |", "|---:|" + "---:|" * len(paths)]
        for i, nfe in enumerate(NFES):
            lines.append(f"| {nfe} | " + " | ".join(f"{b['paths'][p]['nfe'][i]['mmd']:.4f}" for p in paths) + " |")
        lines.append("| source noise | " + " | ".join(f"{b['paths'][p]['mmd_source_noise']:.4f}" for p in paths) + " |")
        lines += ["", "Training: " + "; ".join(
            f"{p.upper()} {b['paths'][p]['train_steps']} steps in {b['paths'][p]['train_seconds']:.0f} s, loss "
            f"{b['paths'][p]['loss_first10']:.3f} (first 10) → {b['paths'][p]['loss_last50']:.3f} (last 50)" for p in paths), ""]
    if "C" in res:
        c = res["C"]
        fmt = lambda v: "—" if v is None else f"{v:.3f}"  # noqa: E731
        lines += ["## C. Initialisation and scaling (DESIGN §2.6), OT path", "", _provenance(res, "C"), "",
                  "`none` = the raw chain with the design's scaling and no calibration (the design's data point: "
                  "≈ 1.4 at initialisation, < 0.35 after 400 steps); `pair` = the defaults (pair-normalised chain, "
                  "initial rms velocity calibrated to 0.3).", "",
                  "| setting | status | steps | calibration | loss init | first 10 | last 20 | loss per 50 steps |",
                  "|---|---|---:|---:|---:|---:|---:|---|"]
        for group, label in (("n24", "N = 24, batch 128, lr 1e-3"), ("n256", "N = 256, batch 32, lr 2e-3")):
            for key, rec in c[group].items():
                cal = "—" if rec["calibration"] is None else f"{rec['calibration']:.3g}"
                per50 = ", ".join(f"{v:.2f}" for v in rec["loss_per50"])
                lines.append(f"| {label}, {key} | {rec['status']} | {rec['steps_done']} | {cal} | {fmt(rec['loss_init'])} | "
                             f"{fmt(rec['loss_first10'])} | {fmt(rec['loss_last20'])} | {per50} |")
        lines += [""]
    if "D" in res:
        d = res["D"]
        lines += ["## D. MMD vs NFE (midpoint) of the default `kernelops fit --dataset sines` run", "",
                  f"Run `{d['run']}`: {d['path'].upper()} path, {d['step']} steps, batch {d['train'].get('batch_size')}; "
                  f"500 generated vs 500 held-out windows, RBF bandwidth {d['bandwidth']:.3f}. "
                  f"Command: `{res.get('command_D', res['command'])}`.", "",
                  "| NFE | MMD | seconds for 500 |", "|---:|---:|---:|"]
        lines += [f"| {r['nfe']} | {r['mmd']:.4f} | {r['seconds']:.1f} |" for r in d["nfe"]]
        lines += [""]
    path.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parts", default="A,B,C")
    parser.add_argument("--train-steps", type=int, default=300, help="steps of the briefly trained models (A timing uses 20)")
    parser.add_argument("--scaling-steps", type=int, default=400)
    parser.add_argument("--long-steps", type=int, default=40)
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--run", help="run folder (or checkpoint) for part D")
    args = parser.parse_args(argv)
    parts = {p.strip().upper() for p in args.parts.split(",")}
    torch.manual_seed(0)
    res: dict[str, Any] = {"machine": machine(),
                           "command": " ".join(["OMP_NUM_THREADS=" + os.environ.get("OMP_NUM_THREADS", "(unset)"),
                                                ".venv/bin/python benchmarks/flow_throughput.py", *map(shlex.quote, sys.argv[1:])])}
    allw = make_sines(12000, 24, 5, seed=0)
    data, held, floor_set = allw[:10000], allw[10000:11000], allw[11000:12000]
    if "A" in parts:
        res["A"] = part_a(data, 20)
        print("A", res["A"], flush=True)
    if "B" in parts:
        res["B"] = part_b(data, held, floor_set, args.train_steps)
    if "C" in parts:
        res["C"] = part_c(args.scaling_steps, args.long_steps)
    if "D" in parts:
        if not args.run:
            parser.error("part D needs --run RUN")
        res["D"] = part_d(args.run, held)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    # every part keeps the command and machine state it was measured with
    res.update({f"{key}_{part}": res[key] for part in parts for key in ("command", "machine")})
    previous = out / "flow_throughput.json"
    if previous.exists():  # running some parts updates them and keeps the others
        res = {**json.loads(previous.read_text()), **res}
    (out / "flow_throughput.json").write_text(json.dumps(res, indent=2) + "\n")
    write_md(res, out / "flow_throughput.md")
    print(f"wrote {out / 'flow_throughput.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
