"""Benchmark: what a training step of a mask-conditioned field costs, beside the unconditional one.

Usage (from the repository root, nothing else running)::

    python benchmarks/conditional_cost.py [--threads 2] [--steps 10] [--out benchmarks/results]

For each window shape (Sines 24 × 5; history + horizon 48 × 7 as in ETTh forecasting; 48 × 28 as
in Energy forecasting) a ``SpectralMeanFlow()`` and a ``SpectralMeanFlow(conditional=True)`` (the
defaults otherwise: window potential, window skip, batch 128, posterior target) are trained on
2 000 random windows: 3 warm-up steps, then ``--steps`` timed steps. The conditional step draws a
mask per window and conditions the skip Gaussian on it (a Woodbury solve of rank ``condition_rank`` per window,
:func:`kernelops.flows.gaussian.conditioned_with_variance`). Writes ``OUT/conditional_cost.md``
and ``.json``; read the ratios (measured in one process).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from _results import run_meta, write_results

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

SHAPES = ((24, 5), (48, 7), (48, 28))


def seconds_per_step(conditional: bool, seq_len: int, features: int, steps: int) -> float:
    import torch

    from kernelops.flows import SpectralMeanFlow

    x = torch.rand(2000, seq_len, features, generator=torch.Generator().manual_seed(0))
    model = SpectralMeanFlow(conditional=conditional, seed=0)
    model.fit(x, steps=3, progress=False)
    started = time.perf_counter()
    model.fit(x, steps=3 + steps, progress=False)
    return (time.perf_counter() - started) / steps


def main(argv: list[str] | None = None) -> int:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = []
    for seq_len, features in SHAPES:
        plain = seconds_per_step(False, seq_len, features, args.steps)
        conditional = seconds_per_step(True, seq_len, features, args.steps)
        rows.append({"seq_len": seq_len, "features": features, "unconditional_ms": 1e3 * plain,
                     "conditional_ms": 1e3 * conditional, "ratio": conditional / plain})
        print(rows[-1], flush=True)
    meta = run_meta("conditional_cost.py", argv or sys.argv[1:], single_thread=False, threads=args.threads,
                    steps=args.steps)
    lines = ["# Training step of a mask-conditioned field", "",
             f"Command: `{meta['command']}` on {meta['date']}; {meta['machine']}; "
             f"load {meta['load_average']}. Batch 128, default model, "
             f"mean over {args.steps} steps after 3 warm-up steps.", "",
             "| window N × d (values) | unconditional, ms/step | conditional, ms/step | ratio |", "|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['seq_len']} × {r['features']} ({r['seq_len'] * r['features']}) | "
                     f"{r['unconditional_ms']:.0f} | {r['conditional_ms']:.0f} | {r['ratio']:.1f} |")
    write_results(args.out, "conditional_cost", meta, rows, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
