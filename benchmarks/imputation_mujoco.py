"""MuJoCo imputation: 100-step windows of the 14-channel hopper, 70 / 80 / 90 % of entries missing.

Usage (from the repository root, one thread)::

    # 1. the 100-step trajectories, with the project's generator (needs dm-control and mujoco, in a
    #    scratch environment; the array is ~56 MB and stays out of git)
    python -m venv /tmp/mj && /tmp/mj/bin/pip install dm-control==1.0.50 mujoco==3.17.0
    MUJOCO_GL=disable /tmp/mj/bin/python \\
        plugins/kernelops-datasets/kernelops_datasets/files/mujoco/generate_hopper.py /tmp/hopper100.npz 100
    # 2. train, impute, score
    OMP_NUM_THREADS=1 python benchmarks/imputation_mujoco.py --trajectories /tmp/hopper100.npz \\
        --potential window [--steps 3000] [--test-windows 500] [--samples 10] [--conditional]

The 10 000 trajectories (10 000 × 100 × 14, generated with seed 123) are split 80/20 in order:
the first 8 000 train a SpectralMeanFlow (``--potential``, window skip, [0, 1] min-max scaling fit
on the training split), the first ``--test-windows`` of the last 2 000 are the test set. For each
missing rate, that fraction of the test entries is blanked at random (seed 0, independently per
entry) and completed with ``--samples`` draws per window by each of ``--methods``. Scored on the
blanked entries: MSE of the median of the draws in the original scale and in the training
split's [0, 1] scale, and CRPS of the draws (:mod:`kernelops.metrics.imputation`). Beside them:
the naive per-channel baselines of ``benchmarks/imputation.py`` (linear interpolation, observed
mean, last value) and the skip Gaussian's conditional mean given the observed entries (no flow).
``--gaussian-windows`` limits the ``gaussian`` method to the first test windows (0 skips it).
``--conditional`` also trains a mask-conditioned model (``SpectralMeanFlow(conditional=True)``,
same settings) and scores it with the ``field`` method.

Writes ``OUT/imputation_mujoco.md`` and ``.json`` (default OUT: benchmarks/results).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from _results import run_meta, write_results
from imputation import baseline

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

RATES = (0.7, 0.8, 0.9)
#: published MSE at 70 / 80 / 90 % missing (on NRTSI's MuJoCo files, not ours; see the report)
ANCHORS = {
    "Diffusion-TS (paper)": {0.7: 0.37e-3},
    "Diffusion-TS (released notebook)": {0.7: 2.70e-4, 0.8: 3.21e-4, 0.9: 5.41e-4},
    "SSSD (paper)": {0.7: 0.59e-3, 0.9: 1.90e-3},
}


def skip_conditional_mean(model, x01: np.ndarray) -> np.ndarray:
    """The model's skip Gaussian alone: E[x | observed entries] in [0, 1] (no flow).

    Shape:
        x01: (n, N, d) in [0, 1] with NaN. returns: (n, N, d).
    """
    import torch

    from kernelops.flows.gaussian import fill_missing

    y = model.to_model(torch.from_numpy(x01))
    return model.from_model(fill_missing(y, ~torch.isnan(y), model.field.skip)).numpy()


def main(argv: list[str] | None = None) -> int:
    import torch

    from kernelops.data.scaling import MinMaxScaler
    from kernelops.flows import SpectralMeanFlow
    from kernelops.metrics.imputation import crps, masked_mse

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trajectories", required=True, help="generate_hopper.py output with 100-step trajectories")
    parser.add_argument("--potential", required=True, choices=("chain", "window"))
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--test-windows", type=int, default=500)
    parser.add_argument("--samples", type=int, default=10)
    parser.add_argument("--methods", nargs="+", default=["replacement", "guidance", "gaussian"])
    parser.add_argument("--gaussian-windows", type=int, help="score gaussian on this many windows (default all)")
    parser.add_argument("--rates", type=float, nargs="+", default=list(RATES))
    parser.add_argument("--model", help="a .pt saved by an earlier run of this script (skips training)")
    parser.add_argument("--save-model", help="where to save the trained model (.pt)")
    parser.add_argument("--conditional", action="store_true", help="also train a conditional model, scored with field")
    parser.add_argument("--conditional-model", help="a conditional .pt saved by an earlier run (implies --conditional)")
    parser.add_argument("--save-conditional-model", help="where to save the trained conditional model (.pt)")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    with np.load(args.trajectories) as z:
        data = z["trajectories"].astype(np.float64)
    if data.shape[1:] != (100, 14):
        raise SystemExit(f"imputation_mujoco: expected trajectories (n, 100, 14), got {data.shape}")
    cut = int(0.8 * len(data))
    train, test = data[:cut], data[cut:cut + args.test_windows]
    scaler = MinMaxScaler().fit(train)
    span2 = scaler.scale_ ** 2  # (d,): an original-scale squared error / span² is the [0, 1] one

    def trained(load: str | None, save: str | None, conditional: bool) -> tuple[SpectralMeanFlow, float | None, list]:
        """A model loaded (with the training record written beside it) or trained now."""
        if load:
            record = json.loads(Path(load + ".json").read_text()) if Path(load + ".json").exists() else {}
            args.steps, args.batch_size = record.get("steps", args.steps), record.get("batch_size", args.batch_size)
            return SpectralMeanFlow.load(load), record.get("train_seconds"), record.get("loss_profile", [])
        losses: list[float] = []
        started = time.time()
        model = SpectralMeanFlow(potential=args.potential, skip="window", conditional=conditional, seed=0)
        model.fit(scaler.transform(train).astype(np.float32), steps=args.steps, batch_size=args.batch_size,
                  progress=False, callback=lambda step, loss, lr: losses.append(float(loss)))
        seconds = time.time() - started
        profile = [float(np.mean(c)) for c in np.array_split(np.asarray(losses), 10)]
        if save:
            model.save(save)
            Path(save + ".json").write_text(json.dumps({"train_seconds": seconds, "loss_profile": profile,
                                                        "steps": args.steps, "batch_size": args.batch_size}))
        print(f"trained (conditional={conditional}) in {seconds} s; loss by tenth {profile}", flush=True)
        return model, seconds, profile

    model, train_seconds, profile = trained(args.model, args.save_model, False)
    # (label, model, methods) of every scored model
    scored = [("", model, args.methods)]
    if args.conditional or args.conditional_model:
        conditional_model, conditional_seconds, conditional_profile = trained(
            args.conditional_model, args.save_conditional_model, True)
        scored.append((", conditional model", conditional_model, ["field"]))

    def score(pred: np.ndarray, hidden: np.ndarray, truth: np.ndarray) -> dict:
        err = (pred - truth) ** 2
        return {"mse": masked_mse(pred, truth, hidden), "mse01": float((err / span2)[hidden].mean())}

    rows = []
    for rate in args.rates:
        rng = np.random.default_rng(0)
        hidden = rng.random(test.shape) < rate
        x = np.where(hidden, np.nan, test)
        for kind in ("linear", "mean", "last"):
            rows.append({"rate": rate, "method": f"baseline: {kind}", "windows": len(test), "crps": None, "seconds": None,
                         **score(baseline(x, kind, train.reshape(-1, 14).mean(0)), hidden, test)})
        t0 = time.time()
        ref = scaler.inverse_transform(skip_conditional_mean(model, scaler.transform(x)))
        rows.append({"rate": rate, "method": "skip Gaussian alone, conditional mean (no flow)", "windows": len(test),
                     "crps": None, "seconds": time.time() - t0, **score(ref, hidden, test)})
        for label, scored_model, method in ((lab, mod, meth) for lab, mod, meths in scored for meth in meths):
            n = len(test)
            if method == "gaussian" and args.gaussian_windows is not None:
                n = min(args.gaussian_windows, n)
            if n == 0:
                continue
            t0 = time.time()
            obs = torch.from_numpy(scaler.transform(x[:n])).to(scored_model.dtype)
            draws = scored_model.sample(args.samples, observed=obs, method=method, seed=1,
                                        batch_size=args.samples * 100).double().numpy()
            draws = scaler.inverse_transform(draws)
            draws = np.where(hidden[:n, None], draws, test[:n, None])
            median = np.median(draws, axis=1)
            rows.append({"rate": rate, "method": f"spectral mean flow{label}, {method} (median of {args.samples})",
                         "windows": n, "crps": crps(draws, test[:n], hidden[:n]), "seconds": time.time() - t0,
                         **score(median, hidden[:n], test[:n])})
            # the same windows' baseline, for the rows on a subset
            if n < len(test):
                lin = baseline(x[:n], "linear", train.reshape(-1, 14).mean(0))
                rows[-1]["linear_same_windows"] = score(lin, hidden[:n], test[:n])["mse"]
                rows[-1]["skip_same_windows"] = score(ref[:n], hidden[:n], test[:n])["mse"]
            print(rows[-1], flush=True)

    meta = run_meta("imputation_mujoco.py", argv or sys.argv[1:], potential=args.potential, steps=args.steps,
                    batch_size=args.batch_size, test_windows=len(test), samples=args.samples,
                    train_seconds=train_seconds, loss_profile=profile,
                    conditional=None if len(scored) == 1 else {"train_seconds": conditional_seconds,
                                                               "loss_profile": conditional_profile})
    lines = ["# MuJoCo imputation: hopper windows of 100 steps × 14 channels, entries missing at random", "",
             f"Command: `{meta['command']}` on {meta['date']}; {meta['machine']}; load {meta['load_average']} "
             "(timings unreliable under that load).",
             f"Model: potential {args.potential}, window skip, "
             + (f"{args.steps} steps at batch {args.batch_size} on the 8 000 training windows in {train_seconds or 0:.0f} s; "
                f"loss by tenth of training {' → '.join(f'{v:.4f}' for v in profile)}"
                + (f" (trained by an earlier run, loaded from {args.model})." if args.model else "."))
             + ("" if len(scored) == 1 else
                f" Conditional model (`conditional=True`, same settings): {conditional_seconds or 0:.0f} s; loss by "
                f"tenth {' → '.join(f'{v:.4f}' for v in conditional_profile)}."),
             f"Test: the first {len(test)} of the 2 000 held-out windows (rows marked otherwise use fewer). "
             "MSE on the blanked entries, original scale and the training split's [0, 1] scale; CRPS: CSDI's "
             "normalised quantile loss of the draws (original scale).", ""]
    for rate in args.rates:
        lines += [f"## {100 * rate:.0f} % missing", "", "| method | windows | MSE (original) | MSE ([0, 1]) | CRPS | seconds |",
                  "|---|---|---|---|---|---|"]
        for r in (r for r in rows if r["rate"] == rate):
            extra = (f" (on these windows: linear {r['linear_same_windows']:.3g}, skip Gaussian alone "
                     f"{r['skip_same_windows']:.3g})" if "linear_same_windows" in r else "")
            lines.append(f"| {r['method']} | {r['windows']} | {r['mse']:.3e}{extra} | {r['mse01']:.3e} | "
                         f"{'–' if r['crps'] is None else format(r['crps'], '.4f')} | "
                         f"{'–' if r['seconds'] is None else format(r['seconds'], '.0f')} |")
        anchors = [f"{k} {v[rate]:.3g}" for k, v in ANCHORS.items() if rate in v]
        lines += ["", f"Published (on NRTSI's MuJoCo files, another scaling): {'; '.join(anchors) or '–'}.", ""]
    write_results(args.out, "imputation_mujoco", meta, rows, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
