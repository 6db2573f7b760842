"""Training on a series with missing cells: imputation and forecasts against the model trained on the complete series.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/gappy_training.py [--fractions 0.01 0.03 0.1 0.3] [--conditional]

The recipe of issue 24: a 600 × 3 series (three sines of periods 20, 12.5 and 9.1 steps, noise of
standard deviation 0.05), a fraction of its cells set to NaN at random; a window-potential,
window-skip model trained with ``kernelops fit``'s settings ``--window 16 --steps 200 --batch-size
16`` (the same calls: min-max scaler over the series, windows of stride 1, warm-up 20 steps) on
the gappy series and on the complete one. Scored on 10 windows of a continuation of the series
(steps 600–999): the median of 10 draws, MSE in the original scale, on 30 % of the entries hidden
at random (imputation) and on the last 4 steps given the first 12 (forecasting); and the mean
training loss of the last 50 steps.

Each fraction is run with two estimates of the window Gaussian's moments: ``em`` (what the library
does, :mod:`kernelops.flows.gappy_moments`) and ``pairwise``, the pairwise-complete covariance
with its eigenvalues floored, which the library used before (rebuilt here by replacing the
estimator, for the comparison only). Writes benchmarks/results/gappy_training{_conditional}.{md,json}.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from _results import run_meta, write_results  # noqa: E402

WINDOW, HISTORY = 16, 12
FREQUENCIES = np.array([0.05, 0.08, 0.11])


def make_data(fraction: float, seed: int = 0) -> dict[str, np.ndarray]:
    """The complete series, its gappy copy, and the 10 test windows with their hidden entries.

    Shape:
        clean, gaps: (600, 3). test, hidden: (10, 16, 3).
    """
    rng = np.random.default_rng(seed)
    phases = rng.uniform(0, 2 * np.pi, 3)

    def series(start: int, length: int) -> np.ndarray:
        t = np.arange(start, start + length)[:, None]
        return np.sin(2 * np.pi * FREQUENCIES * t + phases) + 0.05 * rng.standard_normal((length, 3))

    clean = series(0, 600)
    gaps = clean.copy()
    gaps[rng.random(gaps.shape) < fraction] = np.nan
    future = series(600, 400)
    starts = rng.choice(400 - WINDOW, 10, replace=False)
    test = np.stack([future[s:s + WINDOW] for s in starts])
    return {"clean": clean, "gaps": gaps, "test": test, "hidden": rng.random(test.shape) < 0.3}


def pairwise_moments(flat: torch.Tensor, **_: Any) -> Any:
    """The estimate the library used before: pairwise-complete covariance (floored by the skip)."""
    from kernelops.flows.gappy_moments import GappyMoments

    observed = (~torch.isnan(flat)).double()
    mean = torch.nan_to_num(flat).sum(0) / observed.sum(0)
    centred = torch.nan_to_num(flat - mean)
    return GappyMoments(mean, centred.T @ centred / (observed.T @ observed - 1).clamp_min(1), 0, False)


def train_and_score(series: np.ndarray, data: dict[str, np.ndarray], conditional: bool) -> dict[str, float]:
    """Fit as `kernelops fit --window 16 --steps 200 --batch-size 16` does, then impute and forecast."""
    from kernelops.data.scaling import MinMaxScaler
    from kernelops.data.windows import sliding_windows
    from kernelops.flows import SpectralMeanFlow

    scaler = MinMaxScaler().fit(series)
    windows = sliding_windows(scaler.transform(series).astype(np.float32), WINDOW, 1)
    model = SpectralMeanFlow(seed=0, conditional=conditional)
    started = time.time()
    model.fit(windows, steps=200, batch_size=16, warmup=20, progress=False)
    seconds = time.time() - started
    test, hidden = data["test"], data["hidden"]
    future = np.zeros(test.shape, dtype=bool)
    future[:, HISTORY:] = True
    scores = {}
    for name, mask in (("impute", hidden), ("forecast", future)):
        observed = torch.from_numpy(scaler.transform(np.where(mask, np.nan, test)).astype(np.float32))
        draws = scaler.inverse_transform(model.sample(10, observed=observed, seed=0).double().numpy())
        scores[name] = float(np.mean((np.median(draws, 1)[mask] - test[mask]) ** 2))
    lam = model.field.skip.eigvals  # type: ignore[union-attr]
    return {**scores, "loss": float(np.mean([loss for _, loss, _ in model.history[-50:]])),
            "floored": int((lam <= 1.0001e-6).sum()), "train_seconds": seconds}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.01, 0.03, 0.1, 0.3])
    parser.add_argument("--conditional", action="store_true", help="train --conditional models")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    import kernelops.flows.gaussian as skip

    em = skip.gappy_moments
    rows = []
    for fraction in args.fractions:
        data = make_data(fraction)
        clean = train_and_score(data["clean"], data, args.conditional)
        for estimator, function in (("em", em), ("pairwise", pairwise_moments)):
            skip.gappy_moments = function  # type: ignore[assignment]
            try:
                gappy = train_and_score(data["gaps"], data, args.conditional)
            finally:
                skip.gappy_moments = em
            rows.append({"fraction": fraction, "estimator": estimator, "clean": clean, "gaps": gappy,
                         "impute_ratio": gappy["impute"] / clean["impute"],
                         "forecast_ratio": gappy["forecast"] / clean["forecast"]})
            print(rows[-1], flush=True)
    stem = "gappy_training_conditional" if args.conditional else "gappy_training"
    meta = run_meta("gappy_training.py", argv if argv is not None else sys.argv[1:], conditional=args.conditional)
    lines = [f"# Training on a 600 × 3 series with missing cells{' (--conditional)' if args.conditional else ''}", "",
             f"Command: `{meta['command']}` on {meta['date']}; {meta['machine']}; load {meta['load_average']}. "
             "Window potential and skip, 200 steps of 16 windows of 16 steps; 10 test windows; MSE of the median "
             "of 10 draws (original scale); imputation: 30 % of entries hidden; forecast: last 4 steps from 12. "
             "`em`: the library's estimate of the skip Gaussian; `pairwise`: the pairwise-complete one it used "
             "before. Floored: eigenvalues of the skip covariance at the floor (of 48).", "",
             "| cells missing | estimator | impute MSE (clean) | impute MSE (gaps) | ratio | forecast MSE (clean) "
             "| forecast MSE (gaps) | ratio | loss (clean) | loss (gaps) | floored |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        c, g = r["clean"], r["gaps"]
        lines.append(f"| {100 * r['fraction']:g} % | {r['estimator']} | {c['impute']:.4f} | {g['impute']:.4f} | "
                     f"{r['impute_ratio']:.2f}× | {c['forecast']:.4f} | {g['forecast']:.4f} | "
                     f"{r['forecast_ratio']:.2f}× | {c['loss']:.3f} | {g['loss']:.3f} | {g['floored']} |")
    write_results(args.out, stem, meta, rows, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
