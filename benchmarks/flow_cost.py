"""Benchmark: what a spectral mean flow costs to train and to sample, beside a transformer reference.

Usage (from the repository root, nothing else running)::

    .venv/bin/python benchmarks/flow_cost.py [--threads 2] [--old-src DIR] [--out benchmarks/results]

A. **Training cost per window** of the default model (``SpectralMeanFlow()`` with the
   ``TrainConfig`` defaults, Sines windows 24 × 5) and of the same model with the window potential
   (``potential="window"``) at batch 64 and 128, and in the same process a
   transformer denoiser of Diffusion-TS's size (d_model 64, 3 encoder layers, 4 heads, feed-forward
   256; x₀-prediction MSE with Adam) at the same batches: milliseconds per training window and their
   ratio. ``--old-src DIR`` also times the ``SpectralMeanFlow`` of another checkout (e.g. a
   ``git worktree`` of an earlier commit) in a subprocess right after, with the same settings.
L. **Cost levers, side by side** (one process, ratios to the transformer timed in it): one
   training step as ``fit`` runs it (the posterior target over the 10 000 training windows, the
   loss's backward, AdamW) for the chain with its complex kernel and the double-backward gradient
   (what the library does), with the real-arithmetic kernel, with the first-order (central
   difference) gradient, and both; the window potential with either gradient; and, with
   ``--compile``, the chain with the first-order gradient and ``torch.compile``'d potential (its
   compile time reported apart). The variants that lost live in ``benchmarks/cost_variants.py``.
B. **Sampling** (part B: chain potential, part BW: window potential): windows/s with the midpoint
   solver at NFE ∈ {4, 8, 16, 32, 64} for a model
   trained ``--train-steps`` steps, and the MMD (RBF, median bandwidth) of 1 000 generated windows
   to 1 000 held-out Sines windows at each NFE, beside the MMD of a second held-out real set (the
   floor) — how few evaluations the sampler needs.

Writes ``OUT/flow_cost.json`` and ``OUT/flow_cost.md``. Timings are the median of repeats after
warm-up steps; read the ratios (measured in one process), not the absolute times, on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
BATCHES = (64, 128)
NFES = (4, 8, 16, 32, 64)


def machine() -> dict[str, Any]:
    import torch

    try:
        cpu = next(line.split(":", 1)[1].strip() for line in subprocess.run(
            ["lscpu"], capture_output=True, text=True).stdout.splitlines() if line.startswith("Model name"))
    except Exception:
        cpu = platform.processor() or "unknown"
    return {"cpu": cpu, "nproc": os.cpu_count(), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "load_average_start": list(os.getloadavg())}


def flow_ms_per_window(batch: int, steps: int = 12, warmup: int = 4, potential: str | None = None) -> float:
    """Median ms per training window of ``SpectralMeanFlow()`` (whichever kernelops is importable),
    with the given learned potential (None: the default, for checkouts that predate the option)."""
    from kernelops.data import make_sines
    from kernelops.flows import SpectralMeanFlow

    data = make_sines(10000, seed=0)
    stamps: list[float] = []
    model = SpectralMeanFlow(path="ot", **({"potential": potential} if potential else {}))
    model.fit(data, steps=warmup + steps, batch_size=batch, progress=False,
              callback=lambda step, loss, lr: stamps.append(time.perf_counter()))
    gaps = np.diff(stamps[warmup:])
    return float(np.median(gaps)) * 1000 / batch


class TransformerDenoiser:
    """Diffusion-TS-size reference: linear embedding, 3 pre-norm encoder layers (d_model 64, 4 heads,
    feed-forward 256), a learned position and a sinusoidal noise-level embedding, linear read-out;
    trained by x₀-prediction MSE with Adam."""

    def __init__(self, seq_len: int = 24, features: int = 5, d_model: int = 64):
        import torch
        from torch import nn

        torch.manual_seed(0)
        self.embed = nn.Linear(features, d_model)
        self.position = nn.Parameter(torch.zeros(1, seq_len, d_model))
        self.time = nn.Sequential(nn.Linear(d_model, d_model), nn.SiLU(), nn.Linear(d_model, d_model))
        layer = nn.TransformerEncoderLayer(d_model, 4, 4 * d_model, dropout=0.0, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, 3, enable_nested_tensor=False)
        self.out = nn.Linear(d_model, features)
        self.modules = nn.ModuleList([self.embed, self.time, self.encoder, self.out])
        self.params = [*self.modules.parameters(), self.position]
        self.opt = torch.optim.Adam(self.params, lr=1e-3)
        self.d_model = d_model

    def step(self, x1: Any) -> float:
        import torch

        t = torch.rand(x1.shape[0])
        noisy = t[:, None, None] * x1 + (1 - t[:, None, None]) * torch.randn_like(x1)
        freqs = torch.exp(-torch.arange(self.d_model // 2) * (9.2 / (self.d_model // 2)))
        emb = torch.cat([(t[:, None] * 1000 * freqs).sin(), (t[:, None] * 1000 * freqs).cos()], -1)
        h = self.embed(noisy) + self.position + self.time(emb)[:, None, :]
        loss = (self.out(self.encoder(h)) - x1).square().mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return float(loss)


def transformer_ms_per_window(batch: int, steps: int = 12, warmup: int = 4) -> float:
    import torch

    from kernelops.data import make_sines

    data = torch.from_numpy(make_sines(10000, seed=0)) * 2 - 1
    net = TransformerDenoiser()
    stamps = []
    for _ in range(warmup + steps):
        net.step(data[torch.randint(len(data), (batch,))])
        stamps.append(time.perf_counter())
    return float(np.median(np.diff(stamps[warmup:]))) * 1000 / batch


def part_a(old_src: str | None) -> dict[str, Any]:
    import torch

    rows = []
    for batch in BATCHES:
        flow = flow_ms_per_window(batch, potential="chain")
        window = flow_ms_per_window(batch, potential="window")
        ref = transformer_ms_per_window(batch)
        row = {"batch": batch, "flow_ms": flow, "transformer_ms": ref, "flow_over_transformer": flow / ref,
               "window_ms": window, "window_over_transformer": window / ref}
        if old_src:
            code = (f"import sys, torch; torch.set_num_threads({torch.get_num_threads()}); "
                    f"sys.path.insert(0, {str(Path(__file__).resolve().parent)!r}); "
                    f"import flow_cost; print(flow_cost.flow_ms_per_window({batch}, potential='chain'))")
            env = {**os.environ, "PYTHONPATH": str(Path(old_src).resolve())}
            out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
            row["old_flow_ms"] = float(out.stdout.strip().splitlines()[-1])
            row["old_over_new"] = row["old_flow_ms"] / flow
        rows.append(row)
        print(f"  A {row}", flush=True)
    return {"rows": rows, "old_src": old_src}


def lever_ms_per_window(model: Any, gradient: str, batch: int = 128, steps: int = 12, warmup: int = 3) -> float:
    """Median ms per window of one training step of a prepared ``model``: draw a batch, the posterior
    target over the training set, the loss with the ``gradient`` ("double": the library's objective;
    "first": :func:`cost_variants.first_order_loss`), backward, AdamW."""
    import cost_variants
    import torch

    from kernelops.data import make_sines

    data = torch.from_numpy(make_sines(10000, seed=0)) * 2 - 1
    field, objective = model.field, model._objective()
    opt = torch.optim.AdamW(field.parameters(), lr=1e-4)
    g = torch.Generator().manual_seed(0)
    times = []
    for _ in range(warmup + steps):
        start = time.perf_counter()
        idx = torch.randint(len(data), (batch,), generator=g)
        x1 = data[idx]
        if gradient == "double":
            loss = objective(field, x1, None, data=data, batch_index=idx)
        else:
            t = objective.path.sample_t(batch, generator=g, dtype=x1.dtype)
            x_t = objective.path.sample(torch.randn(x1.shape, generator=g), x1, t).x_t
            clean = objective.path.posterior_mean(x_t, t, data)
            loss = cost_variants.first_order_loss(field, t, x_t, clean)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - start)
    return float(np.median(times[warmup:])) * 1000 / batch


def part_l(repeats: int, compile_too: bool) -> dict[str, Any]:
    import cost_variants
    import torch

    from kernelops.data import make_sines
    from kernelops.flows import SpectralMeanFlow
    from kernelops.flows import potentials as pot

    data = make_sines(10000, seed=0)
    models = {name: SpectralMeanFlow(path="ot", potential=name).fit(data, steps=0, progress=False)
              for name in ("chain", "window")}
    library_forward = pot.ChainPotential.forward

    def real_forward(self: Any, y: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        h = self.features(y, t[:, None]).reshape(*y.shape[:2], *self.features.blocks)
        s, o = self.heads_s, self.heads_o
        start, b, lh, rh, end, hh = (torch.cat([a, c]) for a, c in ((s.start, o.start), (s.B, o.B), (s.L, o.L),
                                                                   (s.R, o.R), (s.end, -o.end), (s.H, -o.H)))
        rows = torch.cat([h.real, h.imag], -1)
        return cost_variants.identity_plus_chain_real(
            torch.cat([rows, rows], dim=2), start, b, lh, rh, end, hh, torch.cat([s.eigvals(), o.eigvals()]),
            torch.cat([s.gain(), o.gain()]), check_finite=False)[0]

    rows: list[dict[str, Any]] = []
    for repeat in range(repeats):
        row: dict[str, Any] = {"repeat": repeat, "transformer_ms": transformer_ms_per_window(128)}
        for kernel, forward in (("complex", library_forward), ("real", real_forward)):
            pot.ChainPotential.forward = forward  # type: ignore[method-assign]
            try:
                for gradient in ("double", "first"):
                    row[f"chain_{kernel}_{gradient}_ms"] = lever_ms_per_window(models["chain"], gradient)
            finally:
                pot.ChainPotential.forward = library_forward  # type: ignore[method-assign]
        for gradient in ("double", "first"):
            row[f"window_{gradient}_ms"] = lever_ms_per_window(models["window"], gradient)
        rows.append(row)
        print(f"  L {row}", flush=True)
    out: dict[str, Any] = {"rows": rows, "load_average_end": list(os.getloadavg())}
    if compile_too:
        field = models["chain"].field
        eager = field.potential_net
        start = time.perf_counter()
        field.potential_net = torch.compile(eager, dynamic=False)
        try:
            lever_ms_per_window(models["chain"], "first", steps=1, warmup=0)
            out["compile_seconds"] = time.perf_counter() - start
            out["compile"] = {"transformer_ms": transformer_ms_per_window(128),
                              "chain_complex_first_compiled_ms": lever_ms_per_window(models["chain"], "first")}
        finally:
            field.potential_net = eager
        out["compile"]["chain_complex_first_ms"] = lever_ms_per_window(models["chain"], "first")
        print(f"  L compile {out['compile']} compile {out['compile_seconds']:.0f} s", flush=True)
    return out


def part_b(train_steps: int, potential: str = "chain") -> dict[str, Any]:
    import torch

    from kernelops.data import make_sines
    from kernelops.embeddings import mmd
    from kernelops.features.kernels import median_bandwidth
    from kernelops.flows import SpectralMeanFlow

    data = make_sines(10000, seed=0)
    held = torch.from_numpy(make_sines(1000, seed=1)).flatten(1)
    second = torch.from_numpy(make_sines(1000, seed=2)).flatten(1)
    bw = float(median_bandwidth(held))
    model = SpectralMeanFlow(path="ot", potential=potential)
    start = time.perf_counter()
    model.fit(data, steps=train_steps, progress=False)
    out: dict[str, Any] = {"potential": potential, "train_steps": train_steps, "train_seconds": time.perf_counter() - start,
                           "floor_mmd": float(mmd(second, held, bandwidth=bw)), "rows": []}
    model.sample(50, steps=2, seed=0)  # warm-up
    for nfe in NFES:
        start = time.perf_counter()
        fake = model.sample(1000, steps=nfe // 2, solver="midpoint", batch_size=500, seed=3)
        seconds = time.perf_counter() - start
        row = {"nfe": nfe, "windows_per_s": 1000 / seconds, "mmd": float(mmd(fake.flatten(1), held, bandwidth=bw))}
        out["rows"].append(row)
        print(f"  B {row}", flush=True)
    return out


def write_md(res: dict[str, Any], path: Path) -> None:
    m = res["machine"]
    lines = ["# Spectral mean flow: training and sampling cost", "",
             f"Machine: {m['cpu']}, nproc {m['nproc']}, torch {m['torch']}, {m['threads']} torch thread(s), "
             f"load average at start {', '.join(f'{v:.1f}' for v in m['load_average_start'])}. "
             f"Command: `{res['command']}`. Written by `benchmarks/flow_cost.py`.", ""]
    if "A" in res:
        old = res["A"].get("old_src")
        lines += ["## A. Training cost per window (Sines 24 × 5, default model, median of 12 steps)", "",
                  "| batch | chain potential (ms/window) | window potential (ms/window) | transformer reference "
                  "(ms/window) | chain / transformer | window / transformer |"
                  + (" previous flow (ms/window) | previous / chain |" if old else ""),
                  "|---|---|---|---|---|---|" + ("---|---|" if old else "")]
        for r in res["A"]["rows"]:
            lines.append(f"| {r['batch']} | {r['flow_ms']:.3f} | {r['window_ms']:.3f} | {r['transformer_ms']:.3f} | "
                         f"{r['flow_over_transformer']:.2f} | {r['window_over_transformer']:.2f} |"
                         + (f" {r['old_flow_ms']:.3f} | {r['old_over_new']:.2f} |" if old else ""))
        lines += ["", "Transformer reference: d_model 64, 3 pre-norm encoder layers, 4 heads, feed-forward 256, "
                  "x₀-prediction MSE, Adam (the size of Diffusion-TS's Sines model)."
                  + (f" Previous flow: `SpectralMeanFlow` imported from `{old}`, timed in a subprocess of the same "
                     "run." if old else ""), ""]
    if "L" in res:
        names = [("chain_complex_double_ms", "chain: complex kernel, double backward (the library)"),
                 ("chain_real_double_ms", "chain: real-arithmetic kernel, double backward"),
                 ("chain_complex_first_ms", "chain: complex kernel, first-order gradient"),
                 ("chain_real_first_ms", "chain: real-arithmetic kernel, first-order gradient"),
                 ("window_double_ms", "window: double backward (the library)"),
                 ("window_first_ms", "window: first-order gradient")]
        rows = res["L"]["rows"]
        lines += ["## L. Cost levers side by side (batch 128, one training step as fit runs it, per window)", "",
                  "Each cell: ms per window / the transformer's in the same repeat. Load average at the end "
                  f"{', '.join(f'{v:.1f}' for v in res['L']['load_average_end'])}.", "",
                  "| variant | " + " | ".join(f"repeat {r['repeat'] + 1}" for r in rows) + " |",
                  "|---|" + "---|" * len(rows)]
        for key, label in names:
            lines.append(f"| {label} | " + " | ".join(
                f"{r[key]:.3f} / {r[key] / r['transformer_ms']:.2f}×" for r in rows) + " |")
        lines.append("| transformer reference | " + " | ".join(f"{r['transformer_ms']:.3f}" for r in rows) + " |")
        if "compile" in res["L"]:
            c = res["L"]["compile"]
            lines += ["", f"torch.compile of the chain potential (first-order gradient; double backward does not "
                      f"compile): {c['chain_complex_first_compiled_ms']:.3f} ms per window against "
                      f"{c['chain_complex_first_ms']:.3f} eager (transformer {c['transformer_ms']:.3f}), after "
                      f"{res['L']['compile_seconds']:.0f} s of compiling."]
        lines.append("")
    for key in ("B", "B_window"):
        if key not in res:
            continue
        b = res[key]
        lines += [f"## B. Sampling rate and quality vs NFE, {b.get('potential', 'chain')} potential (midpoint; model "
                  f"trained {b['train_steps']} steps, {b['train_seconds']:.0f} s)", "",
                  f"MMD of 1 000 generated to 1 000 held-out Sines windows (RBF, median bandwidth); two real "
                  f"sets score {b['floor_mmd']:.4f} (the floor).", "",
                  "| NFE | windows/s | MMD |", "|---|---|---|"]
        lines += [f"| {r['nfe']} | {r['windows_per_s']:.0f} | {r['mmd']:.4f} |" for r in b["rows"]]
        lines.append("")
    from kernelops.utils.atomic import atomic_write

    atomic_write(path, lambda fh: fh.write("\n".join(lines) + "\n"), mode="w")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", default="A,B,BW", help="A (training cost), L (cost levers side by side), "
                        "B (sampling, chain potential), BW (sampling, window potential)")
    parser.add_argument("--repeats", type=int, default=3, help="part L: repeats of the whole comparison")
    parser.add_argument("--compile", action="store_true", help="part L: also time torch.compile (minutes)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default torch's)")
    parser.add_argument("--old-src", help="a checkout whose SpectralMeanFlow part A also times")
    parser.add_argument("--train-steps", type=int, default=1500)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    args = parser.parse_args(argv)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    parts = {p.strip().upper() for p in args.parts.split(",")}
    command = shlex.join(["python", "benchmarks/flow_cost.py", *(argv or sys.argv[1:])])
    res: dict[str, Any] = {"machine": machine(), "command": command}
    if "A" in parts:
        res["A"] = part_a(args.old_src)
    if "L" in parts:
        res["L"] = part_l(args.repeats, args.compile)
    if "B" in parts:
        res["B"] = part_b(args.train_steps, "chain")
    if "BW" in parts:
        res["B_window"] = part_b(args.train_steps, "window")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    previous = out / "flow_cost.json"
    if previous.exists():  # running one part keeps the other's figures
        res = {**json.loads(previous.read_text()), **res}
    from kernelops.utils.atomic import atomic_write

    atomic_write(previous, lambda fh: fh.write(json.dumps(res, indent=2) + "\n"), mode="w")
    write_md(res, out / "flow_cost.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
