"""Table 3 of the paper: FRED-MD and NN5 Daily at full length, with the LS4 protocol's scores.

Usage (from the repository root)::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/table3.py [--datasets fred_md nn5_daily] [--models chain window]
    .venv/bin/python benchmarks/table3.py --smoke --out /tmp/table3     # pipeline check, seconds

Data: ``ko.dataset(name)`` from kernelops-datasets — every series one sample over its full length
(FRED-MD 107 × 728, NN5 Daily 111 × 791, one channel), z-scored per series as LS4 does
(docs/datasets.md). Models: the spectral mean flow with the chain potential (the paper's model,
any length; at N ≈ 750 a training step costs seconds, so it gets ``--chain-steps`` steps of a
smaller chain) and with the window potential built at the full length (``--window-steps``), both
with the default Gaussian window skip, trained on all series; as many sequences are sampled as
there are real ones. Beside them the Gaussian baseline: sequences drawn from the Gaussian with
the real sequences' mean and covariance. Scores (``kernelops.metrics.long_series``, defined in
docs/metrics.md, "Long series"), on the z-scored values: marginal (lower is better),
classification cross-entropy (higher is better) with the held-out accuracy, prediction MSE
(train on generated, test on real; lower is better); the two learned scores ``--runs`` times.

Writes ``OUT/table3.{md,json}``. Generated sequences are not kept.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _gaussian import gaussian_windows  # noqa: E402
from _results import run_meta, write_results  # noqa: E402

#: transcribed from the paper's Table 3 (SMF: marginal / classification / prediction); not measured here
ANCHORS = {"fred_md": (0.019, 1.338, 0.030), "nn5_daily": (0.006, 0.950, 0.539)}
SMOKE = {"chain_steps": 2, "window_steps": 2, "chain_depth": 1, "chain_width": 8, "window_width": 16,
         "iterations": 2, "max_series": 12, "max_length": 40, "runs": 1}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", nargs="+", default=["fred_md", "nn5_daily"])
    p.add_argument("--models", nargs="+", choices=("chain", "window"), default=["chain", "window"])
    p.add_argument("--chain-steps", type=int, default=60)
    p.add_argument("--chain-batch", type=int, default=8)
    p.add_argument("--chain-depth", type=int, default=2)
    p.add_argument("--chain-width", type=int, default=32)
    p.add_argument("--window-steps", type=int, default=1000)
    p.add_argument("--window-batch", type=int, default=32)
    p.add_argument("--window-width", type=int, default=None)
    p.add_argument("--iterations", type=int, default=150, help="training steps of the classifier and forecaster")
    p.add_argument("--metric-batch", type=int, default=16, help="their batch (of each set, for the classifier)")
    p.add_argument("--runs", type=int, default=1, help="repetitions of the two learned scores")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    p.add_argument("--smoke", action="store_true", help="tiny sizes (a few short series): checks the pipeline only")
    args = p.parse_args(argv)
    args.max_series = args.max_length = None
    if args.smoke:
        for key, value in SMOKE.items():
            setattr(args, key, value)
    return args


def load(name: str, args: argparse.Namespace) -> tuple[np.ndarray, Any, str]:
    """The [0, 1] sequences, their scaler (back to the z-scored values) and the source line."""
    import kernelops as ko

    data = ko.dataset(name)
    windows = data.windows[:args.max_series, :args.max_length]
    return windows, data.scaler, data.source


def scores(real_z: np.ndarray, fake_z: np.ndarray, args: argparse.Namespace) -> dict[str, Any]:
    from kernelops.metrics.long_series import classification_score, marginal_score, prediction_score

    out: dict[str, Any] = {"marginal": marginal_score(real_z, fake_z),
                           "marginal_per_step": marginal_score(real_z, fake_z, per_step=True)}
    ce, acc, pred = [], [], []
    start = time.perf_counter()
    for run in range(args.runs):
        c, a = classification_score(real_z, fake_z, iterations=args.iterations, batch_size=args.metric_batch,
                                    seed=args.seed + run, return_accuracy=True)
        ce.append(c)
        acc.append(a)
        pred.append(prediction_score(real_z, fake_z, iterations=args.iterations, batch_size=args.metric_batch,
                                     seed=args.seed + run))

    def summary(values: list[float]) -> dict[str, Any]:
        return {"mean": float(np.mean(values)), "std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
                "values": values}

    out.update(classification=summary(ce), accuracy=summary(acc), prediction=summary(pred),
               metric_seconds=round(time.perf_counter() - start, 1))
    return out


def train_and_sample(real: np.ndarray, potential: str, args: argparse.Namespace) -> tuple[np.ndarray, dict[str, Any]]:
    from kernelops.flows import SpectralMeanFlow, TrainConfig

    if potential == "chain":
        model = SpectralMeanFlow(potential="chain", depth=args.chain_depth, width=args.chain_width, seed=args.seed)
        config = TrainConfig(steps=args.chain_steps, batch_size=args.chain_batch, warmup=min(100, args.chain_steps // 5))
    else:
        model = SpectralMeanFlow(potential="window", width=args.window_width, seed=args.seed)
        config = TrainConfig(steps=args.window_steps, batch_size=args.window_batch)
    start = time.perf_counter()
    model.fit(real, config=config, progress=sys.stderr.isatty())
    train_s = time.perf_counter() - start
    start = time.perf_counter()
    fake = model.sample(len(real), batch_size=64, seed=args.seed + 1).numpy()
    losses = [h[1] for h in model.history]
    return fake, {"train_seconds": round(train_s, 1), "sample_seconds": round(time.perf_counter() - start, 1),
                  "steps": config.steps, "batch_size": config.batch_size, "warmup": config.warmup,
                  "final_loss": float(np.mean(losses[-min(50, len(losses)):])), "field": model.field_config.to_dict()}


def main(argv: list[str] | None = None) -> int:
    import torch

    args = parse_args(argv)
    torch.set_num_threads(1)
    rows: list[dict[str, Any]] = []
    for name in args.datasets:
        real, scaler, source = load(name, args)
        real_z = scaler.inverse_transform(real.astype(np.float64))
        gauss = gaussian_windows(real, len(real), args.seed + 2)
        rows.append({"dataset": name, "model": "Gaussian (mean and covariance of the series)", "shape": list(real.shape),
                     "source": source, **scores(real_z, scaler.inverse_transform(gauss), args)})
        print(f"[{name}] Gaussian: {rows[-1]['marginal']:.4f} / {rows[-1]['classification']['mean']:.3f} / "
              f"{rows[-1]['prediction']['mean']:.3f}", flush=True)
        for potential in args.models:
            fake, info = train_and_sample(real, potential, args)
            rows.append({"dataset": name, "model": f"spectral mean flow ({potential} potential)", "shape": list(real.shape),
                         "source": source, **info, **scores(real_z, scaler.inverse_transform(fake.astype(np.float64)), args)})
            print(f"[{name}] {potential}: {rows[-1]['marginal']:.4f} / {rows[-1]['classification']['mean']:.3f} / "
                  f"{rows[-1]['prediction']['mean']:.3f}", flush=True)
    argv_list = list(sys.argv[1:] if argv is None else argv)
    meta = run_meta("table3.py", argv_list, runs=args.runs, iterations=args.iterations, metric_batch=args.metric_batch,
                    smoke=args.smoke,
                    anchors_transcribed={k: list(v) for k, v in ANCHORS.items()})
    write_results(Path(args.out), "table3", meta, rows, render(rows, meta))
    return 0


def render(rows: list[dict[str, Any]], meta: dict[str, Any]) -> list[str]:
    lines = ["# Table 3: long series at full length (LS4 protocol)", "",
             f"`{meta['command']}`; {meta['machine']}; load average {meta['load_average']} at the end; {meta['date']}.",
             "",
             "Scores on the z-scored series (docs/metrics.md, \"Long series\"): marginal ↓ (histograms pooled over "
             "steps; per step and channel in brackets), classification "
             "cross-entropy ↑ (held-out accuracy beside it; 0.5 = chance), prediction MSE ↓. The two learned "
             f"scores: mean ± std over {meta['runs']} run(s) of {meta['iterations']} training steps at batch "
             f"{meta['metric_batch']}.", "",
             "| dataset | model | marginal ↓ (per step) | classification ↑ (accuracy) | prediction ↓ | training |",
             "|---|---|---|---|---|---|"]
    for row in rows:
        c, a, p = row["classification"], row["accuracy"], row["prediction"]
        train = (f"{row['steps']} steps × {row['batch_size']}, {row['train_seconds']:.0f} s"
                 if "train_seconds" in row else "—")
        lines.append(f"| {row['dataset']} {tuple(row['shape'])} | {row['model']} | {row['marginal']:.4f} "
                     f"({row['marginal_per_step']:.3f}) | "
                     f"{c['mean']:.3f} ± {c['std']:.3f} ({a['mean']:.2f}) | {p['mean']:.3f} ± {p['std']:.3f} | {train} |")
    lines += ["", "Transcribed from the paper's Table 3 (SMF, marginal / classification / prediction; not measured "
              "here): " + "; ".join(f"{k} {m:g} / {c:g} / {p:g}" for k, (m, c, p) in meta["anchors_transcribed"].items())
              + "."]
    return lines


if __name__ == "__main__":
    raise SystemExit(main())
