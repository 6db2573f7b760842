"""Forecasting on ETTh / Energy: history 24, horizon 24, scored on the last 10 % of the series.

Usage (from the repository root, one thread; training takes a while, see ``--steps``)::

    OMP_NUM_THREADS=1 python benchmarks/forecasting.py --dataset etth --potential window [--steps 1500]
        [--batch-size 64] [--samples 10] [--methods gaussian guidance] [--conditional]

The registered dataset's series (T, d) is split in time: the first 90 % is written to a .npy and
trained on with ``kernelops fit --data TRAIN.npy --window 48`` (windows of history + horizon,
stride 1, scaler fit on the training part only); the last 10 % (never seen in training) is cut
into windows of 48 with stride 24, and ``kernelops forecast RUN --input HISTORY.npy --horizon
24`` draws ``--samples`` continuations of each first half, once per ``--methods`` entry. Scored
on the horizon in the original scale: MSE and MAE of the median of the draws, CRPS of the draws.
Baselines per channel: the last observed value and the mean of the history; reference: the
run's skip Gaussian alone, its conditional mean of the horizon given the history (no flow).
``--conditional`` also trains a mask-conditioned run (``kernelops fit --conditional``, same
settings) and scores it with ``--method field``. ``--run RUN`` / ``--conditional-run RUN`` reuse
trained runs (the split must be the same); ``--keep DIR`` keeps the runs this script trains.
Writes ``OUT/forecasting_<dataset>.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _results import run_meta, write_results

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

HISTORY = HORIZON = 24


def skip_forecast(run: str, history: np.ndarray) -> np.ndarray:
    """The run's skip Gaussian alone: E[horizon | history] in the original scale (no flow).

    Shape:
        history: (n, HISTORY, d). returns: (n, HORIZON, d).
    """
    import torch

    from kernelops.data.scaling import MinMaxScaler
    from kernelops.flows import SpectralMeanFlow
    from kernelops.flows.gaussian import fill_missing

    model = SpectralMeanFlow.load(Path(run) / "checkpoint.pt")
    scaler = MinMaxScaler.from_state_dict(model.scaler_state)
    window = np.concatenate([history, np.full((len(history), HORIZON, history.shape[2]), np.nan)], axis=1)
    y = model.to_model(torch.from_numpy(scaler.transform(window)))
    filled = model.from_model(fill_missing(y, ~torch.isnan(y), model.field.skip)).numpy()
    return scaler.inverse_transform(filled)[:, HISTORY:]


def skip_draws(run: str, history: np.ndarray, samples: int, seed: int = 0) -> np.ndarray:
    """Draws from the run's skip Gaussian's conditional law of the horizon given the history (no flow).

    The median of these is what a sampler that had learned exactly the skip Gaussian would score:
    beside the conditional mean it shows how much the median of a few draws costs by itself.

    Shape:
        history: (n, HISTORY, d). returns: (n, samples, HORIZON, d).
    """
    import torch

    from kernelops.data.scaling import MinMaxScaler
    from kernelops.flows import SpectralMeanFlow

    model = SpectralMeanFlow.load(Path(run) / "checkpoint.pt")
    scaler = MinMaxScaler.from_state_dict(model.scaler_state)
    skip = model.field.skip
    cov = ((skip.eigvecs.double() * skip.eigvals.double()) @ skip.eigvecs.double().T)
    d = history.shape[2]
    seen = torch.arange(cov.shape[0]) < HISTORY * d  # the flattened window is step-major
    gain = cov[~seen][:, seen] @ torch.linalg.pinv(cov[seen][:, seen])
    spread = cov[~seen][:, ~seen] - gain @ cov[seen][:, ~seen]
    lam, q = torch.linalg.eigh(spread)
    root = q * lam.clamp_min(0).sqrt()
    y = model.to_model(torch.from_numpy(scaler.transform(
        np.concatenate([history, np.zeros((len(history), HORIZON, d))], axis=1)))).reshape(len(history), -1)
    mean = skip.mean.double()
    centre = mean[~seen] + (y[:, seen] - mean[seen]) @ gain.T  # (n, HORIZON·d)
    noise = torch.randn(len(history), samples, root.shape[1], generator=torch.Generator().manual_seed(seed),
                        dtype=torch.float64)
    draws = centre[:, None] + noise @ root.T
    window = torch.cat([y[:, None, :HISTORY * d].expand(-1, samples, -1), draws], dim=2)
    window = model.from_model(window.reshape(len(history), samples, HISTORY + HORIZON, d)).numpy()
    return scaler.inverse_transform(window)[:, :, HISTORY:]


def main(argv: list[str] | None = None) -> int:
    import torch

    from kernelops.cli.main import main as cli
    from kernelops.data import resolve_dataset
    from kernelops.metrics.imputation import crps, masked_mae, masked_mse

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", required=True, choices=("etth", "energy"))
    parser.add_argument("--run", help="a run trained by this script (skips training)")
    parser.add_argument("--conditional", action="store_true", help="also train and score a --conditional run")
    parser.add_argument("--conditional-run", help="a --conditional run trained by this script (implies --conditional)")
    parser.add_argument("--keep", metavar="DIR", help="keep the trained runs in DIR/<dataset>[-conditional]")
    parser.add_argument("--potential", required=True, choices=("chain", "window"),
                        help="the learned potential of the trained run (passed to kernelops fit)")
    parser.add_argument("--steps", type=int, default=1500, help="training steps (default 1500)")
    parser.add_argument("--batch-size", type=int, default=64, help="training batch (default 64)")
    parser.add_argument("--samples", type=int, default=10)
    parser.add_argument("--methods", nargs="+", default=["gaussian"])
    parser.add_argument("--max-windows", type=int, help="score only the first this many test windows")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    series = resolve_dataset(dataset=args.dataset).series
    if series is None:
        raise SystemExit(f"forecasting: dataset {args.dataset!r} has no raw series")
    cut = int(0.9 * series.shape[0])
    train, test = series[:cut], series[cut:]
    starts = range(0, test.shape[0] - HISTORY - HORIZON + 1, HORIZON)
    windows = np.stack([test[s:s + HISTORY + HORIZON] for s in starts])
    if args.max_windows:
        windows = windows[:args.max_windows]
    history, future = windows[:, :HISTORY], windows[:, HISTORY:]
    conditional = args.conditional or args.conditional_run is not None
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.keep) if args.keep else Path(tmp)
        np.save(Path(tmp) / "train.npy", train)
        train_seconds: dict[str, float | None] = {}

        def trained(given: str | None, name: str, extra: list[str]) -> str:
            if given is not None:
                train_seconds[name] = None
                return given
            run = str(folder / name)
            started = time.time()
            if cli(["fit", "--data", str(Path(tmp) / "train.npy"), "--window", str(HISTORY + HORIZON), "--steps",
                    str(args.steps), "--batch-size", str(args.batch_size), "--potential", args.potential,
                    "--out", run, "--no-progress", "--device", "cpu", *extra]) != 0:
                raise SystemExit("forecasting: kernelops fit failed")
            train_seconds[name] = time.time() - started
            return run

        # (label, run, method) of every scored forecast
        scored = [("", run, method) for run in [trained(args.run, args.dataset, [])] for method in args.methods]
        if conditional:
            scored.append((" (--conditional run)", trained(args.conditional_run, f"{args.dataset}-conditional",
                                                           ["--conditional"]), "field"))
        run = scored[0][1]
        np.save(Path(tmp) / "history.npy", history)
        reference = skip_forecast(run, history)
        gaussian_draws = skip_draws(run, history, args.samples)
        results = {}
        for label, scored_run, method in scored:
            out = Path(tmp) / f"{method}.npy"
            started = time.time()
            if cli(["forecast", scored_run, "--input", str(Path(tmp) / "history.npy"), "--horizon", str(HORIZON),
                    "--samples", str(args.samples), "--method", method, "--out", str(out), "--device", "cpu"]) != 0:
                raise SystemExit("forecasting: kernelops forecast failed")
            results[f"{method}{label}"] = (np.load(out), np.load(out.with_name(f"{method}_median.npy")),
                                           time.time() - started)
    mask = np.ones_like(future)
    rows = [
        {"method": "baseline: last value", "mse": masked_mse(np.repeat(history[:, -1:], HORIZON, 1), future, mask),
         "mae": masked_mae(np.repeat(history[:, -1:], HORIZON, 1), future, mask), "crps": None},
        {"method": "baseline: history mean",
         "mse": masked_mse(np.repeat(history.mean(1, keepdims=True), HORIZON, 1), future, mask),
         "mae": masked_mae(np.repeat(history.mean(1, keepdims=True), HORIZON, 1), future, mask), "crps": None},
        {"method": "reference: the run's skip Gaussian, conditional mean (no flow)",
         "mse": masked_mse(reference, future, mask), "mae": masked_mae(reference, future, mask), "crps": None},
        {"method": f"reference: the run's skip Gaussian, median of {args.samples} draws from its conditional law",
         "mse": masked_mse(np.median(gaussian_draws, 1), future, mask),
         "mae": masked_mae(np.median(gaussian_draws, 1), future, mask), "crps": crps(gaussian_draws, future, mask)},
    ]
    for method, (draws, median, seconds) in results.items():
        rows.append({"method": f"spectral mean flow, {method} (median of {args.samples})",
                     "mse": masked_mse(median, future, mask), "mae": masked_mae(median, future, mask),
                     "crps": crps(draws, future, mask), "seconds": seconds})
    meta = run_meta("forecasting.py", argv or sys.argv[1:], test_windows=int(windows.shape[0]),
                    train_seconds=train_seconds, potential=args.potential, steps=args.steps, batch_size=args.batch_size)
    trained = "; ".join(f"{name}: trained {args.steps} steps at batch {args.batch_size} (potential {args.potential}) "
                        f"in {seconds:.0f} s" if seconds is not None else f"{name}: a given run"
                        for name, seconds in train_seconds.items())
    lines = [f"# Forecasting on {args.dataset}: history {HISTORY}, horizon {HORIZON}", "",
             f"Command: `{meta['command']}` on {meta['date']}; {meta['machine']}; load {meta['load_average']}; "
             f"{trained}; {meta['test_windows']} test windows from the last 10 % of the series. Original scale.", "",
             "| method | MSE | MAE | CRPS | seconds |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['method']} | {r['mse']:.4g} | {r['mae']:.4g} | "
                     f"{'–' if r['crps'] is None else format(r['crps'], '.4f')} | "
                     f"{format(r['seconds'], '.0f') if r.get('seconds') is not None else '–'} |")
    write_results(args.out, f"forecasting_{args.dataset}", meta, rows, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
