"""Other window lengths: a chain trained on 24-step Sines windows samples longer ones.

Usage (from the repository root; RUN is a ``kernelops fit --dataset sines --potential chain``
run folder with an any-length skip, e.g. ``--skip stationary``)::

    python benchmarks/other_lengths.py --run RUN [--length 96] [--num 1000] [--runs 3] [--out benchmarks/results]

Scores ``--num`` windows of ``--length`` steps sampled from the run (``SpectralMeanFlow.sample``
with ``seq_len``) against real Sines windows of that length drawn independently of the training
set (``make_sines(num, seq_len=length, seed=1)``), beside the two Gaussian skips the field can
start from, each fit to the run's own 24-step training windows and sampled exactly at the new
length: the channel Gaussian (each feature's mean and variance, independent steps) and the
stationary Gaussian (each feature a stationary process, :mod:`kernelops.flows.stationary_gaussian`).
Scores: Context-FID and discriminative (``--runs`` protocol runs; not for a set with over half its
values outside [0, 1], which has diverged), roughness (mean |Δ²x| over the
real windows'), the share of values outside [0, 1] and the largest |value − 0.5|. Writes
``OUT/other_lengths.{md,json,png}`` (the PNG: the first channel of six windows of each).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _results import run_meta, write_results  # noqa: E402

#: a set with more than this share of values outside [0, 1] counts as diverged and is not scored
DIVERGED = 0.5


def gaussian_baselines(train: np.ndarray, length: int, num: int, seed: int) -> dict[str, np.ndarray]:
    """Exact draws of the channel and stationary Gaussians fit to ``train`` (windows in [0, 1]).

    The fit and the draws are in model coordinates x = 2·data − 1, as the model's skip sees them.

    Shape:
        train: (n, N_train, d). returns: each (num, length, d) in [0, 1] scale.
    """
    from kernelops.flows.gaussian import ChannelGaussian
    from kernelops.flows.stationary_gaussian import StationaryGaussian

    x = torch.as_tensor(train, dtype=torch.float64) * 2 - 1
    d = x.shape[-1]
    g = torch.Generator().manual_seed(seed)
    channel = ChannelGaussian(d, torch.float64).fit(x)
    white = channel.mean + channel.variance.sqrt() * torch.randn(num, length, d, generator=g, dtype=torch.float64)
    stationary = StationaryGaussian(x.shape[1], d, torch.float64).fit(x)
    lam, q = torch.linalg.eigh(stationary.covariance(length))  # (d, L), (d, L, L)
    z = torch.randn(num, d, length, generator=g, dtype=torch.float64)
    correlated = stationary.mean + torch.einsum("dnk,bdk->bnd", q, lam.clamp_min(0).sqrt() * z)
    return {"channel Gaussian": ((white + 1) / 2).float().numpy(),
            "stationary Gaussian": ((correlated + 1) / 2).float().numpy()}


def shape_scores(real: np.ndarray, fake: np.ndarray) -> dict[str, float]:
    """Roughness relative to the real windows', share outside [0, 1], largest |value − 0.5|."""
    def rough(a: np.ndarray) -> float:
        return float(np.abs(np.diff(a, 2, axis=1)).mean())

    return {"roughness_ratio": rough(fake) / rough(real), "outside": float(((fake < 0) | (fake > 1)).mean()),
            "largest_excursion": float(np.abs(fake - 0.5).max())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, help="a kernelops fit run folder (chain potential, any-length skip)")
    parser.add_argument("--length", type=int, default=96, help="window length to sample and score (default 96)")
    parser.add_argument("--num", type=int, default=1000, help="windows per set (default 1000)")
    parser.add_argument("--runs", type=int, default=3, help="protocol runs of each metric (default 3)")
    parser.add_argument("--steps", type=int, help="solver steps (default: the model's)")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    args = parser.parse_args(argv)

    from kernelops.data import make_sines, resolve_dataset
    from kernelops.flows import SpectralMeanFlow
    from kernelops.metrics import evaluate_all

    run = Path(args.run)
    model = SpectralMeanFlow.load(run / "checkpoint.pt")
    train = resolve_dataset("sines").windows
    real = np.asarray(make_sines(args.num, seq_len=args.length, seed=1), dtype=np.float32)
    started = time.perf_counter()
    # the draw is kept beside the run (not in the results): scoring again does not sample again
    cached = run / f"other_lengths_{args.length}_{args.num}_{args.steps or model.sample_steps}.npy"
    if cached.exists():
        drawn = np.load(cached)
    else:
        drawn = model.sample(args.num, steps=args.steps, seq_len=args.length, seed=0).numpy().astype(np.float32)
        np.save(cached, drawn)
    sets: dict[str, np.ndarray] = {f"chain ({model.field_config.skip} skip)": drawn}
    sample_seconds = time.perf_counter() - started
    sets.update(gaussian_baselines(train, args.length, args.num, seed=0))
    rows: list[dict[str, Any]] = []
    for name, fake in sets.items():
        shape = shape_scores(real, np.nan_to_num(fake, nan=np.inf))
        # a set that has left the data's range is not scored: the learned metrics would only say so slowly
        diverged = shape["outside"] > DIVERGED
        scores = {} if diverged else evaluate_all(real, fake, metrics=["context_fid", "discriminative"],
                                                  runs=args.runs, seed=0)
        row = {"set": name, **{k: [v.get("mean"), v.get("std")] for k, v in scores.items()}, **shape,
               "diverged": bool(diverged)}
        rows.append(row)
        print(row, flush=True)
    meta = run_meta("other_lengths.py", sys.argv[1:] if argv is None else argv, single_thread=False, run=str(run),
                    train_length=model.seq_len, length=args.length, num=args.num, runs=args.runs,
                    field=dataclasses.asdict(model.field_config),
                    sample_seconds=round(sample_seconds, 1))
    lines = render(meta, rows)
    write_results(args.out, "other_lengths", meta, rows, lines)
    plot(Path(args.out) / "other_lengths.png", {"real": real, **sets}, args.length, model.seq_len)
    return 0


def render(meta: dict[str, Any], rows: list[dict[str, Any]]) -> list[str]:
    """The markdown table of ``rows``, headed by how they were made."""
    field = meta["field"]
    lines = [f"# Other window lengths: {meta['length']}-step Sines windows from a model trained on "
             f"{meta['train_length']}", "",
             f"Command: `{meta['command']}` ({meta['date']}, {meta['machine']}, load {meta['load_average']}), "
             f"on a run of `kernelops fit --dataset sines --potential {field['potential']} --skip {field['skip']} "
             f"--depth {field['depth']}` (every other setting at its default).",
             f"Real: `make_sines({meta['num']}, seq_len={meta['length']}, seed=1)`, independent of the training "
             f"windows (seed 0); each set {meta['num']} windows; protocol runs per metric: {meta['runs']}; "
             "roughness = mean |Δ²x| over the real windows'. The two Gaussians are fit to the run's 24-step "
             "training windows and drawn exactly at the new length.", "",
             "| set | Context-FID | discriminative | roughness × real | outside [0, 1] | largest \\|x − 0.5\\| |",
             "|---|---|---|---|---|---|"]
    for row in rows:
        def cell(key: str) -> str:
            value = row.get(key)
            return f"{value[0]:.3f} ± {value[1]:.3f}" if value else "not scored (diverged)"
        lines.append(f"| {row['set']} | {cell('context_fid')} | {cell('discriminative')} | "
                     f"{row['roughness_ratio']:.3g} | {100 * row['outside']:.1f} % | {row['largest_excursion']:.3g} |")
    return lines


def plot(path: Path, sets: dict[str, np.ndarray], length: int, train_length: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(sets), figsize=(4 * len(sets), 3), sharey=True)
    for ax, (name, windows) in zip(axes, sets.items()):
        ax.plot(np.clip(windows[:6, :, 0].T, -0.5, 1.5), lw=1)
        ax.axvline(train_length - 1, color="grey", ls=":", lw=1)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel(f"step (training length {train_length} dotted)")
    axes[0].set_ylim(-0.5, 1.5)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
