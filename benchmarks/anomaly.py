"""Likelihood as a score: real vs corrupted Sines windows, and injected anomalies on a real dataset.

Usage (from the repository root, one thread; each run trains for a minute or two)::

    OMP_NUM_THREADS=1 python benchmarks/anomaly.py [--datasets etth] [--steps 1500] [--batch-size 64]
        [--sines-run RUN] [--run etth=RUN] [--solver rk4 --loglik-steps 8] [--windows 200]

**Sines.** ``kernelops fit --dataset sines`` (the default model) is trained (or ``--sines-run``
given); ``--windows`` held-out windows ``make_sines(n, seed=2026)`` (training uses seed 0) are
scored by ``SpectralMeanFlow.log_prob`` beside two corruptions of each: its time steps in a
random order (all channels alike), and one random channel reversed in time. Reported: the share
of pairs where the real window scores higher, for the flow and for the run's window Gaussian
(the skip's N(m, Σ), closed form).

**Anomalies on a real dataset** (ETTh, Energy from the kernelops-datasets plugin). The series is
split in time: the first 80 % is written to a .npy and trained on (``kernelops fit --data TRAIN.npy
--window 24``, scaler fit on it); the last 20 % is cut into windows of 24 with stride 24, never
seen in training. Each test window gets one copy per anomaly kind (seeded): ``spike`` (one entry
moved by 5 training standard deviations of its channel), ``level shift`` (one channel moved by 2
standard deviations from a random step in [6, 18) on), ``swapped channels`` (two random
channels exchanged), ``time reversal`` (the window reversed in time). Score: −log p in the
original scale (``kernelops loglik``'s values); AUROC of clean vs anomalous windows per kind
and over all, for the flow and for the window Gaussian baseline.

Throughput: windows per second of ``log_prob`` at the chosen solver and steps, exact divergence
and Hutchinson (16 probes), on held-out Sines windows. The machine is shared: these are the
numbers of a busy 2-core machine, not a clean measurement.

Writes ``OUT/NAME.md`` and ``OUT/NAME.json`` (``--name``, default anomaly; default OUT: benchmarks/results).
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _results import run_meta, write_results

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

WINDOW = 24
KINDS = ("spike", "level shift", "swapped channels", "time reversal")
SPIKE_STDS, SHIFT_STDS = 5.0, 2.0


def auroc(normal: np.ndarray, anomalous: np.ndarray) -> float:
    """P(score of an anomalous window > score of a normal one), ties counting one half (Mann–Whitney).

    Shape:
        normal: (n,). anomalous: (m,).
    """
    greater = (anomalous[:, None] > normal[None, :]).mean()
    ties = (anomalous[:, None] == normal[None, :]).mean()
    return float(greater + 0.5 * ties)


def time_shuffled(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each window's steps in a random order (the same order for all its channels). Shape: (n, N, d)."""
    return np.stack([w[rng.permutation(w.shape[0])] for w in x])


def channel_reversed(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each window with one random channel reversed in time. Shape: (n, N, d)."""
    out = x.copy()
    for i, c in enumerate(rng.integers(0, x.shape[2], size=len(x))):
        out[i, :, c] = x[i, ::-1, c]
    return out


def inject(x: np.ndarray, kind: str, std: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One anomaly of ``kind`` in every window (module docstring).

    Shape:
        x: (n, N, d) in the original scale. std: (d,), the training series' per-channel std. returns: (n, N, d).
    """
    out = x.copy()
    n, length, d = x.shape
    for i in range(n):
        c = int(rng.integers(d))
        sign = 1.0 if rng.random() < 0.5 else -1.0
        if kind == "spike":
            out[i, int(rng.integers(length)), c] += sign * SPIKE_STDS * std[c]
        elif kind == "level shift":
            out[i, int(rng.integers(length // 4, 3 * length // 4)):, c] += sign * SHIFT_STDS * std[c]
        elif kind == "swapped channels":
            other = (c + 1 + int(rng.integers(d - 1))) % d
            out[i, :, [c, other]] = x[i, :, [other, c]]
        elif kind == "time reversal":
            out[i] = x[i, ::-1]
        else:
            raise ValueError(f"kind: expected one of {', '.join(KINDS)}, got {kind!r}")
    return out


def gaussian_log_prob(model: Any, windows: np.ndarray, scale: str) -> np.ndarray:
    """The run's window Gaussian N(m, Σ) (its skip, model coordinates), closed form, in ``scale``.

    The same coordinates and Jacobian as the flow's log_prob, so the two are in the same units.

    Shape:
        windows: (n, N, d). returns: (n,).
    """
    import torch

    from kernelops.flows.model_likelihood import to_field_coordinates

    x, log_det = to_field_coordinates(model, torch.from_numpy(windows).double(), scale)
    skip = model.field.skip
    lam, q, m = skip.eigvals.double(), skip.eigvecs.double(), skip.mean.double()
    coords = (x.reshape(len(x), -1).double() - m) @ q
    logp = -0.5 * (coords.square() / lam + lam.log() + math.log(2 * math.pi)).sum(1)
    return (logp + log_det).numpy()


def flow_log_prob(model: Any, windows: np.ndarray, scale: str, args: argparse.Namespace) -> tuple[np.ndarray, Any]:
    """log p of windows under the run's flow (shape (n,)) and the LogProb record."""
    result = model.log_prob(windows.astype(np.float64), steps=args.loglik_steps, solver=args.solver, scale=scale,
                            batch_size=args.batch)
    return result.log_prob.detach().double().numpy(), result


def train(cli: Any, folder: Path, name: str, source: list[str], args: argparse.Namespace) -> tuple[str, float]:
    run = str(folder / name)
    started = time.time()
    if cli(["fit", *source, "--steps", str(args.steps), "--batch-size", str(args.batch_size), "--out", run,
            "--no-progress", "--device", "cpu"]) != 0:
        raise SystemExit(f"anomaly: kernelops fit failed for {name}")
    return run, time.time() - started


def sines_section(model: Any, args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """Pairs real vs corrupted on held-out Sines, and the throughput figures."""
    from kernelops.data import make_sines

    rng = np.random.default_rng(0)
    real = make_sines(args.windows, seed=2026).astype(np.float64)
    corrupted = {"time-shuffled": time_shuffled(real, rng), "one channel reversed": channel_reversed(real, rng)}
    started = time.time()
    flow_real, record = flow_log_prob(model, real, "unit", args)
    seconds = time.time() - started
    gauss_real = gaussian_log_prob(model, real, "unit")
    rows = {}
    for name, fake in corrupted.items():
        flow_fake = flow_log_prob(model, fake, "unit", args)[0]
        gauss_fake = gaussian_log_prob(model, fake, "unit")
        rows[name] = {"flow_share_real_higher": float((flow_real > flow_fake).mean()),
                      "gaussian_share_real_higher": float((gauss_real > gauss_fake).mean()),
                      "flow_median_gap_nats": float(np.median(flow_real - flow_fake)),
                      "gaussian_median_gap_nats": float(np.median(gauss_real - gauss_fake))}
    sines = {"windows": args.windows, "pairs": rows, "flow_mean_log_prob": float(flow_real.mean()),
             "gaussian_mean_log_prob": float(gauss_real.mean()),
             "flow_bits_per_value": float(record.bits_per_value.mean()), "nfe": record.nfe, "exact": record.exact}
    # throughput: the exact pass above, and Hutchinson with 16 probes on the same windows
    count = min(args.windows, args.throughput_windows)
    started = time.time()
    hutch = model.log_prob(real[:count], steps=args.loglik_steps, solver=args.solver, exact=False, probes=16,
                           batch_size=args.batch)
    hutch_seconds = time.time() - started
    throughput = {"exact_windows_per_s": args.windows / seconds, "exact_nfe": record.nfe,
                  "hutchinson16_windows_per_s": count / hutch_seconds, "hutchinson16_nfe": hutch.nfe,
                  "hutchinson16_rms_stderr": float(hutch.stderr.square().mean().sqrt()),
                  "hutchinson16_minus_exact_mean": float((hutch.log_prob.double().numpy() - flow_real[:count]).mean())}
    return sines, throughput


def dataset_section(cli: Any, name: str, run: str | None, folder: Path, args: argparse.Namespace
                    ) -> dict[str, Any]:
    """Train (or take) a run on the first 80 % of the series and score injected anomalies on the rest."""
    from kernelops.data import resolve_dataset
    from kernelops.flows import SpectralMeanFlow

    series = resolve_dataset(dataset=name).series
    if series is None:
        raise SystemExit(f"anomaly: dataset {name!r} has no raw series")
    series = np.asarray(series, dtype=np.float64)
    cut = int(0.8 * series.shape[0])
    train_part, test_part = series[:cut], series[cut:]
    windows = np.stack([test_part[s:s + WINDOW] for s in range(0, len(test_part) - WINDOW + 1, WINDOW)])
    if args.max_windows:
        windows = windows[:args.max_windows]
    seconds = None
    if run is None:
        np.save(folder / f"{name}_train.npy", train_part)
        run, seconds = train(cli, folder, name, ["--data", str(folder / f"{name}_train.npy"), "--window", str(WINDOW)],
                             args)
    model = SpectralMeanFlow.load(Path(run) / "checkpoint.pt")
    std = train_part.std(0)
    rng = np.random.default_rng(1)
    started = time.time()
    clean_flow, record = flow_log_prob(model, windows, "original", args)
    clean_gauss = gaussian_log_prob(model, windows, "original")
    rows, all_flow, all_gauss = [], [], []
    for kind in KINDS:
        bad = inject(windows, kind, std, rng)
        flow_bad = flow_log_prob(model, bad, "original", args)[0]
        gauss_bad = gaussian_log_prob(model, bad, "original")
        all_flow.append(flow_bad)
        all_gauss.append(gauss_bad)
        rows.append({"kind": kind, "flow_auroc": auroc(-clean_flow, -flow_bad),
                     "gaussian_auroc": auroc(-clean_gauss, -gauss_bad)})
    rows.append({"kind": "all kinds", "flow_auroc": auroc(-clean_flow, -np.concatenate(all_flow)),
                 "gaussian_auroc": auroc(-clean_gauss, -np.concatenate(all_gauss))})
    return {"dataset": name, "test_windows": int(len(windows)), "train_steps": int(cut), "train_seconds": seconds,
            "score_seconds": time.time() - started, "nfe": record.nfe, "exact": record.exact,
            "probes": record.probes, "values_per_window": record.values,
            "clean_mean_log_prob": float(clean_flow.mean()), "clean_gaussian_mean_log_prob": float(clean_gauss.mean()),
            "clean_bits_per_value": float(record.bits_per_value.mean()), "rows": rows}


def main(argv: list[str] | None = None) -> int:
    import torch

    from kernelops.cli.main import main as cli
    from kernelops.flows import SpectralMeanFlow

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="*", default=["etth"], choices=("etth", "energy"))
    parser.add_argument("--sines-run", help="a run of `kernelops fit --dataset sines` (skips its training)")
    parser.add_argument("--run", action="append", default=[], metavar="NAME=RUN",
                        help="a run this script trained on NAME's first 80 %% (skips its training)")
    parser.add_argument("--keep", metavar="DIR", help="keep the trained runs in DIR")
    parser.add_argument("--steps", type=int, default=1500, help="training steps (default 1500)")
    parser.add_argument("--batch-size", type=int, default=64, help="training batch (default 64)")
    parser.add_argument("--solver", default="rk4", help="solver of log_prob (default rk4)")
    parser.add_argument("--loglik-steps", type=int, default=8, help="its steps (default 8)")
    parser.add_argument("--batch", type=int, default=64, help="windows integrated together (default 64)")
    parser.add_argument("--windows", type=int, default=200, help="held-out Sines windows (default 200)")
    parser.add_argument("--throughput-windows", type=int, default=64, help="windows of the Hutchinson timing")
    parser.add_argument("--max-windows", type=int, help="score only the first this many test windows of a dataset")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    parser.add_argument("--name", default="anomaly", help="results file stem (default anomaly)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    given = dict(item.split("=", 1) for item in args.run)

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.keep) if args.keep else Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        sines_run, sines_seconds = (args.sines_run, None) if args.sines_run else \
            train(cli, folder, "sines", ["--dataset", "sines"], args)
        sines, throughput = sines_section(SpectralMeanFlow.load(Path(sines_run) / "checkpoint.pt"), args)
        sines["train_seconds"] = sines_seconds
        datasets = [dataset_section(cli, name, given.get(name), folder, args) for name in args.datasets]

    meta = run_meta("anomaly.py", argv if argv is not None else sys.argv[1:], solver=args.solver,
                    loglik_steps=args.loglik_steps, steps=args.steps, batch_size=args.batch_size,
                    time_power=4.0)
    lines = ["# Likelihood as a score: corrupted Sines windows and injected anomalies", "",
             f"Command: `{meta['command']}` on {meta['date']}; {meta['machine']}; load {meta['load_average']} "
             "(a shared machine: other jobs ran beside this one, so the seconds are not clean measurements).",
             f"Models: the default model (`kernelops fit`, {args.steps} steps at batch {args.batch_size}"
             + (f"; the Sines run given: {args.sines_run}" if args.sines_run else "")
             + (f"; given runs: {', '.join(args.run)}" if args.run else "") + "). "
             f"log p: `SpectralMeanFlow.log_prob`, solver {args.solver} with {args.loglik_steps} steps "
             f"(NFE {sines['nfe']}), time grid t = 1 − (k/steps)^4, exact divergence where N·d ≤ 512.", "",
             f"## Sines: {sines['windows']} held-out windows against their corruptions", "",
             "| corruption | flow: real scores higher | Gaussian: real scores higher | flow: median gap (nats) "
             "| Gaussian: median gap (nats) |", "|---|---|---|---|---|"]
    for name, row in sines["pairs"].items():
        lines.append(f"| {name} | {100 * row['flow_share_real_higher']:.1f} % | "
                     f"{100 * row['gaussian_share_real_higher']:.1f} % | {row['flow_median_gap_nats']:.1f} | "
                     f"{row['gaussian_median_gap_nats']:.1f} |")
    lines += ["", f"Mean log p of the real windows: flow {sines['flow_mean_log_prob']:.1f} nats per window "
              f"({sines['flow_bits_per_value']:.3f} bits per value), window Gaussian {sines['gaussian_mean_log_prob']:.1f}.",
              "", "## Throughput (Sines, 24 × 5 values per window; shared 2-core machine, one thread)", "",
              "| divergence | NFE | windows/s |", "|---|---|---|",
              f"| exact (120 vector-Jacobian products per evaluation) | {throughput['exact_nfe']} | "
              f"{throughput['exact_windows_per_s']:.2f} |",
              f"| Hutchinson, 16 probes | {throughput['hutchinson16_nfe']} | "
              f"{throughput['hutchinson16_windows_per_s']:.2f} |", "",
              f"Hutchinson's rms standard error: {throughput['hutchinson16_rms_stderr']:.2f} nats per window; its mean "
              f"minus the exact value: {throughput['hutchinson16_minus_exact_mean']:.2f}."]
    for part in datasets:
        how = "exact divergence" if part["exact"] else f"Hutchinson, {part['probes']} probes"
        lines += ["", f"## {part['dataset']}: injected anomalies in {part['test_windows']} held-out windows", "",
                  f"Trained on the first {part['train_steps']} steps of the series (80 %); test windows of {WINDOW} "
                  f"(stride {WINDOW}) from the rest; {part['values_per_window']} values per window, {how}. "
                  f"Spike {SPIKE_STDS:g} and level shift {SHIFT_STDS:g} training standard deviations of the channel. "
                  f"Mean log p of the clean windows (original scale): flow {part['clean_mean_log_prob']:.1f}, "
                  f"window Gaussian {part['clean_gaussian_mean_log_prob']:.1f} nats per window.", "",
                  "| anomaly | AUROC, flow −log p | AUROC, window Gaussian −log p |", "|---|---|---|"]
        lines += [f"| {row['kind']} | {row['flow_auroc']:.3f} | {row['gaussian_auroc']:.3f} |" for row in part["rows"]]
    rows = [{"section": "sines", **sines}, {"section": "throughput", **throughput},
            *({"section": part["dataset"], **part} for part in datasets)]
    write_results(args.out, args.name, meta, rows, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
