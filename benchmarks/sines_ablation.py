"""Short Sines training runs that compare one setting at a time (a cheap screen, not Table 1).

Usage (from the repository root; one thread per run, two runs side by side on two cores)::

    OMP_NUM_THREADS=1 python benchmarks/sines_ablation.py TAG STEPS [key=value ...]

``key=value`` pairs are ``SpectralMeanFlow`` arguments (``skip=channel``, ``depth=6``), the fit
settings ``lr``, ``batch_size``, ``target`` and ``warmup``, and ``nfe`` (sampling evaluations,
default 32). Unlisted settings are the defaults of ``SpectralMeanFlow``, ``FieldConfig`` and
``TrainConfig`` — so ``TAG 1500`` with no settings is the README's main job.

Each run trains on ``make_sines(10000, seed=0)``, saves the model to ``OUT/models/ablation-TAG.pt`` (git-ignored), reads the
field (benchmarks/field_diagnostics.py) on the first 256 training windows at t = 0.5, 0.9, 0.97,
0.99, samples 2 000 windows (seed 1), and scores them against the first 2 000 training windows:
out-of-range fraction (> 0.05 outside the real range), roughness ratio, one run of Context-FID
and of the discriminative score (single runs: the discriminative score in particular is noisy).
One JSON line per run is appended to ``OUT/sines_ablation.jsonl`` (default OUT:
benchmarks/results) and ``OUT/sines_ablation.md`` is rewritten from all of them
(``--render`` rewrites it without training).
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
for entry in (REPO, REPO / "benchmarks"):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

FIT_KEYS = ("lr", "batch_size", "target", "warmup")


def parse_settings(pairs: list[str]) -> dict[str, object]:
    """``["lr=4e-3", "skip=channel"]`` → {"lr": 0.004, "skip": "channel"} (Python literals, else strings)."""
    out: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"sines_ablation: expected key=value, got {pair!r}")
        try:
            out[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key] = value  # a bare word such as skip=channel
    return out


def render(records: list[dict]) -> str:
    """The markdown table of all runs, in the order they were made."""
    lines = ["# Sines ablation: one setting at a time, short runs",
             "",
             "Written by `benchmarks/sines_ablation.py` from `sines_ablation.jsonl` (its docstring has the",
             "protocol). Single runs, one seed: a screen for large effects, not a table of results. 2-core",
             "AMD EPYC CPU, torch 2.13.0+cpu, two runs side by side with one thread each.",
             "*contraction c(t)*: −⟨v, z⟩/⟨z, z⟩ at x_t = t·x₁ + (1 − t)·z (ideal ≈ 0.9, see",
             "`field_diagnostics.py`). Settings not listed are the defaults of SpectralMeanFlow, FieldConfig",
             "and TrainConfig. The loss column is the training objective (with the default posterior target:",
             "the model's weighted excess over the training set's exact denoiser).",
             "",
             "| run | steps | settings | loss (last 50) | c(0.5) / c(0.9) / c(0.97) / c(0.99) | out of range | "
             "roughness ratio | Context-FID (1 run) | discriminative (1 run) | train s |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in records:
        settings = ", ".join(f"{k}={v}" for k, v in r["settings"].items()) or "defaults"
        contraction = " / ".join(f"{v:.2f}" for v in r["contraction"].values())
        lines.append(f"| {r['tag']} | {r['steps']} | {settings} | {r['final_loss']:.3f} | {contraction} | "
                     f"{100 * r['out_of_range']:.0f} % | {r['roughness_ratio']:.1f} | {r['fid']:.3f} | "
                     f"{r['disc']:.3f} | {r['train_s']} |")
    return "\n".join(lines) + "\n"


def write_table(out: Path) -> None:
    from kernelops.utils.atomic import atomic_write

    records = [json.loads(line) for line in (out / "sines_ablation.jsonl").read_text().splitlines() if line.strip()]
    text = render(records)
    atomic_write(out / "sines_ablation.md", lambda fh: fh.write(text), mode="w")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tag", nargs="?")
    parser.add_argument("steps", nargs="?", type=int)
    parser.add_argument("settings", nargs="*", metavar="key=value")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    parser.add_argument("--render", action="store_true", help="rewrite OUT/sines_ablation.md from the jsonl and stop")
    args = parser.parse_args(argv)
    if args.render:
        write_table(Path(args.out))
        return 0
    if args.tag is None or args.steps is None:
        parser.error("TAG and STEPS are required (or --render)")
    import torch
    from field_diagnostics import field_report, model_field

    from kernelops.data import make_sines
    from kernelops.flows import SpectralMeanFlow
    from kernelops.metrics import evaluate_all
    from kernelops.metrics.diagnostics import roughness

    settings = parse_settings(args.settings)
    fit = {key: settings.pop(key) for key in FIT_KEYS if key in settings}
    nfe = int(settings.pop("nfe", 32))
    real = make_sines(10000, seed=0)
    model = SpectralMeanFlow(**settings)
    start = time.perf_counter()
    model.fit(real, steps=args.steps, progress=False, **fit)
    train_s = time.perf_counter() - start
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "models").mkdir(exist_ok=True)
    model.save(out / "models" / f"ablation-{args.tag}.pt")  # git-ignored
    x1 = model.to_model(torch.as_tensor(real[:256], dtype=torch.float32))
    field = field_report(model_field(model), x1, times=(0.5, 0.9, 0.97, 0.99), seed=0)
    start = time.perf_counter()
    fake = model.sample(2000, steps=nfe // 2, seed=1).numpy()
    sample_s = time.perf_counter() - start
    lo, hi = real.min(), real.max()
    start = time.perf_counter()
    scores = evaluate_all(real[:2000], fake, metrics=("context_fid", "discriminative"), runs=1, seed=0)
    record = {
        "tag": args.tag, "steps": args.steps, "settings": {**settings, **fit}, "nfe": nfe,
        "final_loss": float(np.mean([h[1] for h in model.history[-50:]])),
        "train_s": round(train_s), "sample_s": round(sample_s), "eval_s": round(time.perf_counter() - start),
        "contraction": {str(row["t"]): round(row["contraction"], 3) for row in field},
        "out_of_range": float(((fake < lo - 0.05) | (fake > hi + 0.05)).any(axis=(1, 2)).mean()),
        "roughness_ratio": round(roughness(fake) / roughness(real), 2),
        "fid": round(scores["context_fid"]["mean"], 4), "disc": round(scores["discriminative"]["mean"], 4),
    }
    print(json.dumps(record))
    with open(out / "sines_ablation.jsonl", "a") as fh:
        fh.write(json.dumps(record) + "\n")
    write_table(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
