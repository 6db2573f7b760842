"""The default model on data far from Gaussian: every member of kernelops.data.nongaussian.

Usage (from the repository root)::

    OMP_NUM_THREADS=1 python benchmarks/non_gaussian.py [--members oscillations regimes ...] [--num 3000]
        [--runs 1] [--fast-metrics] [--budget-minutes M] [--skip window|channel|none] [--sample-steps K]
    python benchmarks/non_gaussian.py --smoke --out /tmp/ng      # pipeline check, about a minute

For every member (docs/datasets.md, "Data far from Gaussian"): draw ``--num`` training windows
(seed ``--seed``), train ``SpectralMeanFlow()`` at its defaults (window potential, window skip,
``TrainConfig()`` steps, batch and learning rate, via table1.py's ``plan_steps`` and
``train_and_sample``; ``--budget-minutes`` cuts the steps the same way) and sample as many
windows. Three sets are scored against the training windows:

* **floor**: an independent draw of the generator (seed + 1), exactly a perfect generator;
* **Gaussian**: windows from the Gaussian with the training windows' mean and covariance
  (``_gaussian.gaussian_windows``), what the window skip alone samples;
* **model**: the default model's samples.

Scores: the four protocol metrics (``kernelops.metrics.evaluate_all``), the distribution scores
that see marginal and spectral errors (``marginal_wasserstein``, ``spectral_distance``,
``value_range_share``, kernelops.metrics.distribution) and one statistic of each member's known
law (:data:`LAW`): it is what the member was built to test.

Writes ``OUT/non_gaussian.{md,json}``, ``OUT/non_gaussian_<member>.png`` (real, Gaussian and
model windows, channel 0) and the model's windows to ``OUT/samples/non_gaussian_<member>.npy``
(float16, which rounds values in [0, 1] by at most 2.5e-4; the rows score the rounded windows).
``--rescore`` scores those saved windows again without training (the floor and the Gaussian are
redrawn from their seeds), e.g. after a metric changed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _gaussian import gaussian_windows  # noqa: E402
from _results import run_meta, write_results  # noqa: E402

METRICS = ("context_fid", "correlational", "discriminative", "predictive")
DISTRIBUTION = ("marginal_wasserstein", "spectral_distance", "value_range_share")
SMOKE = {"num": 200, "steps": 20, "depth": 1, "width": 16}
MEMBERS = ("oscillations", "regimes", "spikes", "counts", "mixture")


# -- each member's law, as one number ------------------------------------------------------------------
def _range_std(w: np.ndarray) -> float:
    # the amplitude is fixed: the range (max − min) of a window's channel varies only by sampling
    return float((w.max(1) - w.min(1)).std())


def _gap_share(w: np.ndarray) -> float:
    # levels 0.25 / 0.75 plus noise within ±0.1: no value lies in (0.35, 0.65)
    return float(((w > 0.35) & (w < 0.65)).mean())


def _spike_rate(w: np.ndarray) -> float:
    # a one-step jump of at least 0.15 stands above the mean of its neighbours by more than 0.1;
    # the slow background's curvature is below 0.003
    bump = w[:, 1:-1] - 0.5 * (w[:, :-2] + w[:, 2:])
    return float((bump > 0.1).mean())


def _off_grid(w: np.ndarray) -> float:
    # counts / 10: every value is a multiple of 0.1
    return float((np.abs(w * 10 - np.round(w * 10)) > 0.1).mean())


def _between_modes(w: np.ndarray) -> float:
    # windows whose channel mean is nearer neither ramp than 0.15 (shift ≤ 0.1, noise ≤ 0.05)
    from kernelops.data.nongaussian import mixture_shapes

    dist = np.abs(w.mean(2)[:, None, :] - mixture_shapes(w.shape[1])[None]).max(-1)
    return float((dist.min(1) > 0.15).mean())


#: member -> (name of the statistic, its value on a set of windows); the law's value is in the name
LAW: dict[str, tuple[str, Callable[[np.ndarray], float]]] = {
    "oscillations": ("std of the per-window channel range", _range_std),
    "regimes": ("share of values between the levels (0.35, 0.65); law 0", _gap_share),
    "spikes": ("share of one-step spikes > 0.1; law ≈ 0.05", _spike_rate),
    "counts": ("share of values off the count grid; law 0", _off_grid),
    "mixture": ("share of windows between the two modes; law 0", _between_modes),
}


# -- scoring -----------------------------------------------------------------------------------------
def distribution_scores(real: np.ndarray, fake: np.ndarray) -> dict[str, float]:
    """The three distribution scores of ``fake`` against ``real``, each one number (channel means)."""
    from kernelops.metrics import distribution_scores as scores

    return {name: float(value["mean"] if isinstance(value, dict) else value)
            for name, value in scores(real, fake).items()}


def score(member: str, real: np.ndarray, fake: np.ndarray, args: argparse.Namespace) -> dict[str, Any]:
    from kernelops.metrics import evaluate_all

    protocol = evaluate_all(real, fake, metrics=METRICS, runs=args.runs, seed=args.seed, fast=args.fast_metrics)
    row: dict[str, Any] = {m: {"mean": float(r["mean"]), "std": float(r["std"])} for m, r in protocol.items()}
    row.update(distribution_scores(real, fake))
    row["law"] = LAW[member][1](fake)
    return row


# -- training --------------------------------------------------------------------------------------
def model_config(args: argparse.Namespace) -> dict[str, Any]:
    """The defaults of ``SpectralMeanFlow()`` and ``TrainConfig()``, with the asked-for overrides."""
    from kernelops.flows.config import TrainConfig

    train = TrainConfig()
    cfg: dict[str, Any] = {"steps": args.steps or train.steps, "batch_size": train.batch_size, "lr": train.lr,
                           "warmup": train.warmup, "target": train.target}
    for key in ("skip", "sample_steps", "depth", "width"):
        if getattr(args, key) is not None:
            cfg[key] = getattr(args, key)
    return cfg


def train(real: np.ndarray, args: argparse.Namespace) -> tuple[np.ndarray, dict[str, Any]]:
    import table1

    cfg = model_config(args)
    budget = None if args.budget_minutes is None else 60.0 * args.budget_minutes / len(args.members)
    steps, per_step = table1.plan_steps(cfg, budget, real, "cpu", args.seed)
    fake, meta = table1.train_and_sample("non_gaussian", cfg, real, steps, "cpu", args.seed)
    meta.update(config=cfg, seconds_per_step_probe=per_step)
    return fake, meta


# -- figure and table ------------------------------------------------------------------------------
def plot(member: str, sets: dict[str, np.ndarray], path: Path, count: int = 5) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from kernelops.utils.atomic import atomic_write

    fig, axes = plt.subplots(1, len(sets), figsize=(3.4 * len(sets), 2.8), squeeze=False, sharey=True)
    for ax, (name, windows) in zip(axes[0], sets.items()):
        ax.axhspan(0, 1, color="0.92", zorder=0)
        for w in windows[:count]:
            ax.plot(w[:, 0], lw=1, marker=".", ms=3)
        ax.set_title(f"{member}: {name}", fontsize=9)
        ax.set_xlabel("step")
    axes[0, 0].set_ylabel("value (channel 0)")
    fig.tight_layout()
    atomic_write(path, lambda fh: fig.savefig(fh, format="png", dpi=100))
    plt.close(fig)


def render(rows: list[dict[str, Any]], meta: dict[str, Any]) -> list[str]:
    def cell(row: dict[str, Any], key: str) -> str:
        value = row.get(key)
        if isinstance(value, dict):
            value = value["mean"]
        return "–" if value is None else f"{value:.3f}" if key != "value_range_share" else f"{100 * value:.1f} %"

    keys = METRICS + DISTRIBUTION + ("law",)
    lines = ["# The default model on data far from Gaussian", "",
             f"Written by `benchmarks/non_gaussian.py`. Command: `{meta['command']}`.",
             f"{meta['num']} training windows per member (24 steps × 5 channels); every set is scored against "
             f"the training windows; {meta['runs']} protocol-metric run(s)"
             + (" in fast mode (not comparable with the protocol's tables)" if meta["fast_metrics"] else "") + ".",
             "*floor*: an independent draw of the generator; *Gaussian*: the training windows' mean and "
             "covariance; *model*: `SpectralMeanFlow()` defaults " + f"({meta['model']}).",
             "value_range_share: share of values outside the training windows' range. *law*: the member's own "
             "statistic (below). Lower is better for every score but *law*, which should match the floor.",
             f"Machine: {meta['machine']}, load average {meta['load_average']} (shared; times are not "
             "measurements).", "",
             "| member | set | " + " | ".join(keys) + " |", "|---|---|" + "---|" * len(keys)]
    for row in rows:
        lines.append(f"| {row['member']} | {row['set']} | " + " | ".join(cell(row, k) for k in keys) + " |")
    lines += ["", "Law statistics:", ""]
    lines += [f"- {member}: {LAW[member][0]}" for member in dict.fromkeys(r["member"] for r in rows)]
    lines += [""] + [f"- {r['member']}: trained {r['steps']} steps in {r['train_seconds']:.0f} s, "
                     f"final loss {r['final_loss']:.4f}" for r in rows if r["set"] == "model"]
    lines += [""] + [f"![{m}](non_gaussian_{m}.png)" for m in dict.fromkeys(r["member"] for r in rows)]
    return lines


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", nargs="+", default=list(MEMBERS), choices=MEMBERS, metavar="NAME")
    parser.add_argument("--num", type=int, default=3000, help="training windows per member (default 3000)")
    parser.add_argument("--runs", type=int, default=1, help="protocol-metric repetitions (default 1)")
    parser.add_argument("--fast-metrics", action="store_true", help="10x fewer metric training iterations")
    parser.add_argument("--steps", type=int, default=None, help="training steps (default: TrainConfig's)")
    parser.add_argument("--budget-minutes", type=float, default=None, help="total training budget over the members")
    parser.add_argument("--skip", choices=("window", "channel", "none"), default=None, help="default: the model's")
    parser.add_argument("--sample-steps", type=int, default=None, help="solver steps (default: the model's)")
    parser.add_argument("--depth", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--width", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    parser.add_argument("--rescore", action="store_true",
                        help="score the samples saved in OUT/samples again with the settings of OUT/non_gaussian.json")
    parser.add_argument("--smoke", action="store_true", help=f"pipeline check: {SMOKE}, fast metrics")
    args = parser.parse_args(argv)
    for name in ("num", "runs"):
        if getattr(args, name) < 2 if name == "num" else getattr(args, name) < 1:
            parser.error(f"--{name} must be at least {2 if name == 'num' else 1}")
    if args.smoke:
        args.num, args.steps, args.depth, args.width, args.fast_metrics = (
            SMOKE["num"], SMOKE["steps"], SMOKE["depth"], SMOKE["width"], True)
    return args


def main(argv: list[str] | None = None) -> int:
    import torch

    from kernelops.data.nongaussian import draw
    from kernelops.utils.atomic import atomic_write

    argv_list = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv_list)
    torch.set_num_threads(1)
    out = Path(args.out)
    rows: list[dict[str, Any]] = []
    previous: list[dict[str, Any]] = []
    if args.rescore:
        saved = json.loads((out / "non_gaussian.json").read_text())
        previous, argv_list = saved["rows"], saved["meta"]["command"].split()[3:]
        args = parse_args(argv_list)
        args.rescore = True
    for member in args.members:
        real = draw(member, args.num, args.seed)
        start = time.perf_counter()
        sample_path = out / "samples" / f"non_gaussian_{member}.npy"
        if args.rescore:
            fake = np.load(sample_path).astype(np.float32)
            meta = next(r for r in previous if r["member"] == member and r["set"] == "model")
        else:
            fake, meta = train(real, args)
            fake = fake.astype(np.float16).astype(np.float32)
            sample_path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(sample_path, lambda fh: np.save(fh, fake.astype(np.float16)))
        sets = {"floor": draw(member, args.num, args.seed + 1),
                "Gaussian": gaussian_windows(real, args.num, args.seed + 2).astype(np.float32), "model": fake}
        rows.append({"member": member, "set": "training draw", "law": LAW[member][1](real)})
        for name, windows in sets.items():
            row = {"member": member, "set": name, **score(member, real, windows, args)}
            if name == "model":
                row.update({k: meta[k] for k in ("steps", "train_seconds", "final_loss", "nfe", "config")})
            rows.append(row)
        plot(member, {"real": real, "Gaussian": sets["Gaussian"], "model": fake}, out / f"non_gaussian_{member}.png")
        print(f"[{member}] done in {time.perf_counter() - start:.0f} s", flush=True)
    model = ", ".join(f"{k}={v}" for k, v in model_config(args).items())
    meta = run_meta("non_gaussian.py", argv_list, num=args.num, runs=args.runs, fast_metrics=bool(args.fast_metrics),
                    model=model, seed=args.seed)
    write_results(out, "non_gaussian", meta, rows, render(rows, meta))
    return 0


if __name__ == "__main__":
    sys.exit(main())
