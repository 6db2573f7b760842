"""Imputation on held-out Sines windows: `kernelops impute` against naive per-channel baselines.

Usage (from the repository root, one thread)::

    OMP_NUM_THREADS=1 kernelops fit --dataset sines --out runs/sines          # the README's main job
    OMP_NUM_THREADS=1 python benchmarks/imputation.py --run runs/sines [--missing 0.7] [--windows 500]

Held-out windows are ``make_sines(WINDOWS, seed=2026)`` (training uses seed 0: fresh random
frequencies and phases, never seen in training). ``--missing`` of their entries are blanked at
random (seed 0) as NaN, written to a .npy and completed by the ``kernelops impute`` command
itself (in process, ``--samples`` draws, once per ``--methods`` entry). Scored on the blanked
entries in the original scale: MSE and MAE of the median of the draws, and CRPS of the draws
(:mod:`kernelops.metrics.imputation`). Baselines, each channel of each window on its own: linear
interpolation in time between observed steps (constant beyond the first / last), the mean of the
observed values, the last observed value (the first observed one before it). A channel with
no observed value gets the training data's mean of that channel. A reference row: the run's skip
Gaussian alone, its conditional mean given the observed entries (no flow).

Writes ``OUT/NAME.md`` and ``OUT/NAME.json`` (``--name``, default imputation; default OUT:
benchmarks/results), with the command, machine and load.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _results import run_meta, write_results

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def _channels(x: np.ndarray):
    """Yield (window, channel, observed steps, observed values) of windows (n, T, d) with NaN."""
    for i in range(x.shape[0]):
        for c in range(x.shape[2]):
            col = x[i, :, c]
            steps = np.flatnonzero(~np.isnan(col))
            yield i, c, steps, col[steps]


def baseline(x: np.ndarray, kind: str, fallback: np.ndarray) -> np.ndarray:
    """Fill NaNs per window and channel: "linear", "mean" or "last" (docstring above).

    Shape:
        x: (n, T, d) with NaN. fallback: (d,). returns: (n, T, d).
    """
    out = x.copy()
    grid = np.arange(x.shape[1])
    for i, c, steps, values in _channels(x):
        if steps.size == 0:
            out[i, :, c] = fallback[c]
        elif kind == "linear":
            out[i, :, c] = np.interp(grid, steps, values)
        elif kind == "mean":
            out[i, :, c] = np.where(np.isnan(x[i, :, c]), values.mean(), x[i, :, c])
        elif kind == "last":
            index = np.searchsorted(steps, grid, side="right") - 1  # last observed step ≤ t
            out[i, :, c] = values[np.maximum(index, 0)]
        else:
            raise ValueError(kind)
    return out


def gaussian_reference(run: str, x: np.ndarray, full: np.ndarray, hidden: np.ndarray) -> dict:
    """The run's skip Gaussian alone: its conditional mean given the observed entries (no flow)."""
    import torch

    from kernelops.data.scaling import MinMaxScaler
    from kernelops.flows import SpectralMeanFlow
    from kernelops.flows.gaussian import fill_missing
    from kernelops.metrics.imputation import masked_mae, masked_mse

    model = SpectralMeanFlow.load(Path(run) / "checkpoint.pt")
    scaler = MinMaxScaler.from_state_dict(model.scaler_state)
    y = model.to_model(torch.from_numpy(scaler.transform(x)))
    skip = model.field.skip
    filled = fill_missing(y, ~torch.isnan(y), skip)
    pred = scaler.inverse_transform(model.from_model(filled).numpy())
    return {"method": "reference: the run's skip Gaussian, conditional mean (no flow)",
            "mse": masked_mse(pred, full, hidden), "mae": masked_mae(pred, full, hidden), "crps": None, "seconds": None}


def main(argv: list[str] | None = None) -> int:
    import torch

    from kernelops.cli.main import main as cli
    from kernelops.data import make_sines
    from kernelops.metrics.imputation import crps, masked_mae, masked_mse

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", required=True, help="a `kernelops fit --dataset sines` run folder")
    parser.add_argument("--missing", type=float, default=0.7, help="fraction of entries blanked (default 0.7)")
    parser.add_argument("--windows", type=int, default=500, help="held-out windows (default 500)")
    parser.add_argument("--samples", type=int, default=10, help="draws per window (default 10)")
    parser.add_argument("--methods", nargs="+", default=["gaussian", "replacement", "guidance"])
    parser.add_argument("--steps", type=int, help="solver steps (default: the run's)")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    parser.add_argument("--note", default="", help="a line added to the report (e.g. how the run was trained)")
    parser.add_argument("--name", default="imputation", help="OUT/NAME.md and .json (default imputation)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    full = make_sines(args.windows, seed=2026).astype(np.float64)
    rng = np.random.default_rng(0)
    hidden = rng.random(full.shape) < args.missing
    x = np.where(hidden, np.nan, full)
    train_mean = make_sines(10000, seed=0).reshape(-1, full.shape[2]).mean(0)
    rows: list[dict] = []
    for kind in ("linear", "mean", "last"):
        pred = baseline(x, kind, train_mean)
        rows.append({"method": f"baseline: {kind}", "mse": masked_mse(pred, full, hidden),
                     "mae": masked_mae(pred, full, hidden), "crps": None, "seconds": None})
    rows.append(gaussian_reference(args.run, x, full, hidden))
    with tempfile.TemporaryDirectory() as tmp:
        np.save(Path(tmp) / "x.npy", x)
        for method in args.methods:
            out = Path(tmp) / f"{method}.npy"
            cmd = ["impute", args.run, "--input", str(Path(tmp) / "x.npy"), "--samples", str(args.samples),
                   "--out", str(out), "--method", method, "--device", "cpu"]
            if args.steps:
                cmd += ["--steps", str(args.steps)]
            started = time.time()
            if cli(cmd) != 0:
                raise SystemExit(f"imputation: kernelops {' '.join(cmd)} failed")
            seconds = time.time() - started
            draws, median = np.load(out), np.load(out.with_name(f"{method}_median.npy"))
            if not np.array_equal(median[~hidden], x[~hidden]):
                raise SystemExit(f"imputation: {method} changed observed entries")
            rows.append({"method": f"spectral mean flow, {method} (median of {args.samples})",
                         "mse": masked_mse(median, full, hidden), "mae": masked_mae(median, full, hidden),
                         "crps": crps(draws, full, hidden), "seconds": seconds})
    config = json.loads((Path(args.run) / "config.json").read_text()) if (Path(args.run) / "config.json").exists() else {}
    shown = [a for a in (argv or sys.argv[1:]) if a != args.note and a != "--note"]
    meta = run_meta("imputation.py", shown, windows=args.windows, missing=args.missing, samples=args.samples,
                    run_step=config.get("step"), run_train=config.get("train"), note=args.note)
    best = min(r["mse"] for r in rows if r["method"].startswith("baseline"))  # naive baselines only
    lines = [f"# Imputation on held-out Sines windows, {100 * args.missing:.0f} % of entries missing", "",
             f"Command: `{meta['command']}` on {meta['date']}; machine: {meta['machine']}; load average "
             f"{meta['load_average']} (timings are unreliable under that load).",
             f"Model: the run `{args.run}` (step {meta['run_step']}). {args.note}".rstrip(), "",
             f"{args.windows} windows `make_sines(n, seed=2026)`, entries blanked at random (seed 0); scores on the "
             "blanked entries in the original scale. CRPS is CSDI's normalised quantile loss of the draws.", "",
             "| method | MSE | MAE | CRPS | MSE / best naive baseline | seconds |", "|---|---|---|---|---|---|"]
    for r in rows:
        crps_text = f"{r['crps']:.4f}" if r["crps"] is not None else "–"
        secs = f"{r['seconds']:.0f}" if r["seconds"] is not None else "–"
        lines.append(f"| {r['method']} | {r['mse']:.3e} | {r['mae']:.4f} | {crps_text} | {r['mse'] / best:.3f} | {secs} |")
    write_results(args.out, args.name, meta, rows, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
