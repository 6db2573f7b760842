"""Table 5 of the paper: a pendulum with and without the eigenvalue (stability) regulariser.

Usage (from the repository root)::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/pendulum.py [--steps 1000] [--weights 0 1] [--runs 5]
    .venv/bin/python benchmarks/pendulum.py --smoke --out /tmp/pendulum     # pipeline check, seconds

Data: ``kernelops.data.Pendulum`` — ``--num`` trajectories of 40 steps of (angle, angular
velocity), θ'' = −sin θ observed every 0.2 time units (docs/datasets.md, "Pendulum"), min-max
scaled to [0, 1]. For every regulariser weight w in ``--weights`` a spectral mean flow with the
chain potential (the regulariser acts on the chain's spectrum) is trained on all of them with
``TrainConfig(stability_weight=w)``, as many trajectories are sampled, and the correlational score
is taken ``--runs`` times (``kernelops.metrics.evaluate_all``: each run draws num / runs windows
with replacement from each set). Beside them: the Gaussian baseline (windows from the Gaussian
with the data's mean and covariance) and the floor (two independent draws of the data). Also
reported: how far the generated trajectories break energy conservation, and the moduli of the
trained chain's eigenvalues.

Writes ``OUT/pendulum.{md,json}`` and ``OUT/pendulum.png`` (real and generated trajectories in
the phase plane and over time).
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

#: transcribed from the paper's Table 5 (correlational score, weight 0 → 1); not measured here
ANCHORS = {"SMF (paper)": (0.0029, 0.0005), "KoVAE (paper)": (0.004, 0.003)}
SMOKE = {"num": 64, "steps": 2, "runs": 2, "depth": 1, "width": 8}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--num", type=int, default=3000, help="trajectories (training set and samples)")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--weights", type=float, nargs="+", default=[0.0, 1.0], help="stability_weight values")
    p.add_argument("--runs", type=int, default=5, help="correlational evaluations")
    p.add_argument("--depth", type=int, default=None)
    p.add_argument("--width", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    p.add_argument("--smoke", action="store_true", help="tiny sizes: checks the pipeline only")
    args = p.parse_args(argv)
    if args.smoke:
        for key, value in SMOKE.items():
            setattr(args, key, value)
    return args


def energy_drift(windows01: np.ndarray, scaler: Any) -> float:
    """Mean over trajectories of max_t |E_t − E_0|, E = ½θ'² − cos θ on the original scale."""
    from kernelops.data import pendulum_energy

    energy = pendulum_energy(scaler.inverse_transform(np.asarray(windows01, dtype=np.float64)))
    return float(np.abs(energy - energy[:, :1]).max(axis=1).mean())


def correlational(real: np.ndarray, fake: np.ndarray, runs: int, seed: int) -> dict[str, Any]:
    from kernelops.metrics import evaluate_all

    return dict(evaluate_all(real, fake, metrics=("correlational",), runs=runs, seed=seed, progress=False)["correlational"])


def train_and_sample(data: np.ndarray, weight: float, args: argparse.Namespace) -> tuple[np.ndarray, dict[str, Any]]:
    import torch

    from kernelops.flows import SpectralMeanFlow, TrainConfig
    from kernelops.flows.stability import chain_eigenvalues

    model = SpectralMeanFlow(potential="chain", depth=args.depth, width=args.width, seed=args.seed)
    config = TrainConfig(steps=args.steps, batch_size=args.batch_size, stability_weight=weight)
    start = time.perf_counter()
    model.fit(data, config=config, progress=sys.stderr.isatty())
    train_s = time.perf_counter() - start
    torch.manual_seed(args.seed + 1)
    start = time.perf_counter()
    fake = model.sample(len(data)).numpy()
    sample_s = time.perf_counter() - start
    with torch.no_grad():
        moduli = chain_eigenvalues(model.trainer.ema.module).abs().double().numpy()  # type: ignore[union-attr]
    losses = [h[1] for h in model.history]
    tail = losses[-min(100, len(losses)):]
    return fake, {"train_seconds": round(train_s, 1), "sample_seconds": round(sample_s, 1),
                  "final_loss": float(np.mean(tail)), "eig_modulus_mean": float(moduli.mean()),
                  "eig_modulus_min": float(moduli.min()), "eig_modulus_max": float(moduli.max()),
                  "field": model.field_config.to_dict()}


def plot(real: np.ndarray, fakes: dict[str, np.ndarray], path: Path, scaler: Any, count: int = 6) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from kernelops.utils.atomic import atomic_write

    sets = {"real": real, **fakes}
    fig, axes = plt.subplots(2, len(sets), figsize=(3.6 * len(sets), 6.4), squeeze=False)
    for col, (name, windows) in enumerate(sets.items()):
        raw = scaler.inverse_transform(np.asarray(windows[:count], dtype=np.float64))
        for traj in raw:
            axes[0, col].plot(traj[:, 0], traj[:, 1], lw=1)
            axes[1, col].plot(traj[:, 0], lw=1)
        axes[0, col].set_title(name, fontsize=9)
        axes[0, col].set_xlabel("angle θ")
        axes[1, col].set_xlabel("step")
    axes[0, 0].set_ylabel("angular velocity θ'")
    axes[1, 0].set_ylabel("angle θ")
    fig.tight_layout()
    atomic_write(path, lambda fh: fig.savefig(fh, format="png", dpi=110))
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    import torch

    from kernelops.data import Pendulum

    args = parse_args(argv)
    torch.set_num_threads(1)
    data = Pendulum(num=args.num, seed=args.seed)
    real = data.windows
    rows: list[dict[str, Any]] = []
    # an independent draw of the data, scaled with the training set's scaler
    floor = data.scaler.transform(Pendulum(num=args.num, seed=args.seed + 1000).raw_windows()).astype(np.float32)
    references = {"floor (independent draw of the data)": floor,
                  "Gaussian (data mean and covariance)": gaussian_windows(real, len(real), args.seed + 2)}
    for name, windows in references.items():
        rows.append({"model": name, "weight": None, "correlational": correlational(real, windows, args.runs, args.seed),
                     "energy_drift": energy_drift(windows, data.scaler)})
    fakes: dict[str, np.ndarray] = {}
    for weight in args.weights:
        fake, info = train_and_sample(real, weight, args)
        fakes[f"SMF, w = {weight:g}"] = fake
        rows.append({"model": "spectral mean flow (chain)", "weight": weight,
                     "correlational": correlational(real, fake, args.runs, args.seed),
                     "energy_drift": energy_drift(fake, data.scaler), **info})
        print(f"[pendulum] w={weight:g}: correlational {rows[-1]['correlational']['mean']:.4f}", flush=True)
    out = Path(args.out)
    plot(real, fakes, out / "pendulum.png", data.scaler)
    argv_list = list(sys.argv[1:] if argv is None else argv)
    meta = run_meta("pendulum.py", argv_list, num=args.num, steps=args.steps, batch_size=args.batch_size,
                    runs=args.runs, stability="circle", potential="chain", anchors_transcribed=ANCHORS)
    write_results(out, "pendulum", meta, rows, render(rows, meta))
    return 0


def render(rows: list[dict[str, Any]], meta: dict[str, Any]) -> list[str]:
    lines = ["# Table 5: pendulum, with and without the stability regulariser", "",
             f"`{meta['command']}`; {meta['machine']}; load average {meta['load_average']} at the end; {meta['date']}.",
             "",
             f"{meta['num']} trajectories of 40 steps (angle, angular velocity; docs/datasets.md), chain potential, "
             f"{meta['steps']} steps at batch {meta['batch_size']}, regulariser `{meta['stability']}` "
             "(docs/spectral_mean_flow.md, \"The stability regulariser\"). Correlational score (lower is better): "
             f"mean ± std over {meta['runs']} evaluations. Energy drift: mean over trajectories of "
             "max_t |E_t − E_0|, E = ½θ'² − cos θ (0 for the real data).", "",
             "| model | weight | correlational | energy drift | eigenvalue moduli (min / mean / max) | train s |",
             "|---|---|---|---|---|---|"]
    for row in rows:
        c = row["correlational"]
        weight = "—" if row["weight"] is None else f"{row['weight']:g}"
        eig = (f"{row['eig_modulus_min']:.3f} / {row['eig_modulus_mean']:.3f} / {row['eig_modulus_max']:.3f}"
               if "eig_modulus_mean" in row else "—")
        lines.append(f"| {row['model']} | {weight} | {c['mean']:.4f} ± {c['std']:.4f} | {row['energy_drift']:.3f} | "
                     f"{eig} | {row.get('train_seconds', '—')} |")
    lines += ["", "Transcribed from the paper's Table 5 (correlational score, weight 0 → 1; not measured here):", ""]
    lines += [f"- {name}: {a:g} → {b:g}" for name, (a, b) in meta["anchors_transcribed"].items()]
    lines += ["", "![real and generated trajectories](pendulum.png)"]
    return lines


if __name__ == "__main__":
    raise SystemExit(main())
