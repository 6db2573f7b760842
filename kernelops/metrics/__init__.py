"""The four time-series generation metrics of the TimeGAN / Diffusion-TS protocol.

- :func:`context_fid`: Fréchet distance of TS2Vec representations (encoder trained on real data);
- :func:`correlational_score`: L1 distance of lag-0 cross-correlation matrices;
- :func:`discriminative_score`: |accuracy − 0.5| of a post-hoc GRU real-vs-generated classifier;
- :func:`predictive_score`: MAE on real data of a GRU forecaster trained on generated data.

Beyond the protocol (:mod:`kernelops.metrics.distribution`): :func:`marginal_wasserstein`,
:func:`spectral_distance` and :func:`value_range_share` (the value distribution, power spectrum
and range of each channel, which the four scores do not look at) and :func:`copy_test` (are the
samples copies of training windows?).

Imputation and forecasting (:mod:`kernelops.metrics.imputation`): :func:`masked_mse`,
:func:`masked_mae` on the hidden entries and :func:`crps` from draws.

For all four, lower is better (the long-series scores of :mod:`kernelops.metrics.long_series`
include one where higher is better: the classification cross-entropy). :func:`evaluate_all`
runs them several times with different seeds and reports mean and spread, as the published
tables do. Inputs are windows of shape (n, seq_len, features) with values in [0, 1] (numpy arrays
or tensors); see docs/metrics.md for every choice and how it matches the reference code.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from kernelops.metrics._common import check_count, check_pair
from kernelops.metrics.context_fid import context_fid, frechet_distance, gaussian_fit
from kernelops.metrics.correlational import correlational_score, lag0_cross_correlation
from kernelops.metrics.discriminative import discriminative_score
from kernelops.metrics.distribution import (
    copy_test,
    distribution_scores,
    marginal_wasserstein,
    spectral_distance,
    value_range_share,
)
from kernelops.metrics.imputation import crps, masked_mae, masked_mse
from kernelops.metrics.predictive import predictive_score
from kernelops.metrics.ts2vec import TS2Vec

METRICS = ("context_fid", "correlational", "discriminative", "predictive")
FAST_FACTOR = 10  # fast mode: this many times fewer training iterations for the learned metrics

# The protocol's training lengths of the two GRU metrics (TimeGAN).
DISCRIMINATIVE_ITERATIONS = 2000
PREDICTIVE_ITERATIONS = 5000

__all__ = [
    "DISCRIMINATIVE_ITERATIONS", "FAST_FACTOR", "METRICS", "PREDICTIVE_ITERATIONS", "TS2Vec",
    "context_fid", "copy_test", "correlational_score", "crps", "discriminative_score", "distribution_scores",
    "evaluate_all", "frechet_distance", "gaussian_fit", "lag0_cross_correlation", "marginal_wasserstein",
    "masked_mae", "masked_mse", "predictive_score", "spectral_distance", "value_range_share",
]


def _summary(values: list[float], fast: bool) -> dict[str, Any]:
    arr = np.asarray(values, dtype=np.float64)
    n = len(values)
    std = float(arr.std(ddof=1)) if n > 1 else 0.0
    if n > 1:
        from scipy.special import stdtrit  # the Student-t quantile (lighter than scipy.stats)

        # The half-width that Diffusion-TS prints after "±" (display_scores): t-quantile x s.e.m.
        ci95 = float(stdtrit(n - 1, 0.975) * std / math.sqrt(n))
    else:
        ci95 = float("nan")
    return {"mean": float(arr.mean()), "std": std, "values": list(map(float, values)),
            "ci95": ci95, "runs": n, "fast": bool(fast)}


def evaluate_all(
    real: object,
    fake: object,
    *,
    metrics: Sequence[str] = METRICS,
    runs: int = 5,
    seed: int = 0,
    fast: bool = False,
    device: torch.device | str | None = None,
    progress: bool = False,
) -> dict[str, dict[str, Any]]:
    """Run the chosen metrics ``runs`` times (seeds ``seed``, ``seed + 1``, ...) and summarise.

    Each run retrains every learned model from scratch with its run's seed, as the reference
    evaluation loops do (5 runs there). Per run:

    - context_fid: a new TS2Vec on the real windows (reference iteration count);
    - correlational: ``n // runs`` windows drawn with replacement from each set (the reference
      notebooks' per-run subset; n = min(n_real, n_fake));
    - discriminative: 2000 iterations; predictive: 5000 iterations (batch 128, width
      features // 2).

    ``fast=True`` is a quick mode for tests and smoke runs: 10x fewer training iterations for
    the three learned metrics (correlational is unchanged). Its numbers are *not* comparable with
    published tables; every entry of the result records ``"fast"``.

    Lower is better for every metric; compare against the floor (real vs. held-out real) of the
    same dataset and protocol.

    Args:
        real: real windows, values in [0, 1].
        fake: generated windows of the same (seq_len, features); the larger set is subsampled
            to the size of the smaller in each run.
        metrics: names from :data:`METRICS`.
        runs: repetitions.
        seed: base seed.
        fast: quick mode (see above).
        device: where to compute (default: the device of ``real``).
        progress: show a tqdm bar over runs x metrics.

    Returns:
        {name: {"mean", "std" (sample std, ddof 1; 0 for one run), "values" (per run),
        "ci95" (Student-t 95 % half-width, as Diffusion-TS prints), "runs", "fast"}}.

    Raises:
        ValueError: unknown metric name (listing the known ones) or bad ``runs``.
        ShapeError: bad inputs (naming the argument).

    Shape:
        real: (n_real, seq_len, features). fake: (n_fake, seq_len, features).
    """
    names = list(metrics)
    unknown = [m for m in names if m not in METRICS]
    if unknown or not names:
        raise ValueError(f"metrics: unknown or empty {unknown or names!r}; known metrics: {', '.join(METRICS)}")
    runs = check_count(runs, "runs")
    r, f = check_pair(real, fake, min_len=2, min_count=2)
    n = min(r.shape[0], f.shape[0])
    div = FAST_FACTOR if fast else 1

    def run_metric(name: str, s: int) -> float:
        if name == "context_fid":
            return context_fid(r, f, seed=s, fast=fast, device=device)
        if name == "correlational":
            return correlational_score(r, f, sample_size=max(n // runs, 1), seed=s)
        if name == "discriminative":
            return discriminative_score(r, f, iterations=DISCRIMINATIVE_ITERATIONS // div, seed=s, device=device)
        return predictive_score(r, f, iterations=PREDICTIVE_ITERATIONS // div, seed=s, device=device)

    values: dict[str, list[float]] = {m: [] for m in names}
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=runs * len(names), desc="metrics")
    for k in range(runs):
        for name in names:
            if bar is not None:
                bar.set_postfix_str(f"{name} run {k + 1}/{runs}")
            values[name].append(run_metric(name, seed + k))
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    return {name: _summary(values[name], fast) for name in names}
