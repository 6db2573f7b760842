"""``kernelops loglik RUN --input X.npy --out L.npy``: the log-likelihood of windows under a trained run.

``X.npy`` holds windows (n, N, d) (or one window (N, d)) in the data's original scale (``--scale
unit``: in [0, 1]); N and d must be the run's. Writes ``--out`` (default ``RUN/loglik.npy``), shape
(n,): log p(x) in nats per window of that scale (the scaler's Jacobian counted), and beside it
``<out>_stderr.npy``, the standard error of each value (zeros for the exact divergence). Prints
the mean, the bits per value, the NFE and which divergence was used (docs/likelihood.md).
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "log-likelihood of windows under a trained run (nats per window, original scale; and bits per value)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from kernelops.flows.config import (
        LIKELIHOOD_EXACT_MAX_DIM,
        LIKELIHOOD_PROBES,
        LIKELIHOOD_SOLVER,
        LIKELIHOOD_STEPS,
        LIKELIHOOD_TIME_POWER,
    )

    parser.add_argument("run", metavar="RUN", help="run folder written by `kernelops fit` (or its checkpoint.pt)")
    parser.add_argument("--input", required=True, metavar="X.npy", help="windows (n, N, d) or (N, d)")
    parser.add_argument("--out", metavar="L.npy", help="output file (default RUN/loglik.npy)")
    parser.add_argument("--scale", choices=("original", "unit"), default="original",
                        help="the scale of X and of the density: the data's own units (default) or [0, 1]")
    divergence = parser.add_mutually_exclusive_group()
    divergence.add_argument("--exact", action="store_true", default=None,
                            help=f"exact divergence (default when N·d <= {LIKELIHOOD_EXACT_MAX_DIM})")
    divergence.add_argument("--hutchinson", dest="exact", action="store_false",
                            help=f"Hutchinson estimate (default when N·d > {LIKELIHOOD_EXACT_MAX_DIM})")
    parser.add_argument("--probes", type=int, default=LIKELIHOOD_PROBES,
                        help=f"Rademacher probes per window for Hutchinson (default {LIKELIHOOD_PROBES})")
    parser.add_argument("--solver", default=LIKELIHOOD_SOLVER, help=f"ODE solver name (default {LIKELIHOOD_SOLVER})")
    parser.add_argument("--steps", type=int, help=f"solver steps (default {LIKELIHOOD_STEPS}; none for adaptive solvers)")
    parser.add_argument("--time-power", type=float, default=LIKELIHOOD_TIME_POWER,
                        help=f"steps at t = 1 − (k/steps)^p (default p = {LIKELIHOOD_TIME_POWER:g}: dense near the data)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the probes (default 0)")
    parser.add_argument("--batch-size", type=int, default=256, help="windows integrated together (default 256)")
    parser.add_argument("--device", choices=("cpu", "cuda", "auto"), default="auto", help="where to run (default auto)")


def run(args: argparse.Namespace) -> int:
    import kernelops as ko
    from kernelops.cli.impute import load_run, load_windows
    from kernelops.utils.atomic import atomic_write

    for name in ("steps", "batch_size"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise ValueError(f"--{name.replace('_', '-')}: expected a positive integer, got {value}")
    if args.exact is False and args.probes < 2:
        raise ValueError(f"--probes: expected at least 2 (for a standard error), got {args.probes}")
    ko.solver(args.solver)  # an unknown name lists the known ones, before the run is loaded
    windows, _ = load_windows(args.input, "windows")
    import numpy as np

    if np.isnan(windows).any():
        raise ValueError(f"--input: {args.input} has missing (NaN) entries; log p needs complete windows")
    model, folder = load_run(args.run, args.device)
    result = model.log_prob(windows, steps=args.steps, exact=args.exact, solver=args.solver, scale=args.scale,
                            probes=args.probes, seed=args.seed, time_power=args.time_power, batch_size=args.batch_size)
    out = Path(args.out) if args.out else folder / "loglik.npy"
    if out.suffix != ".npy":
        out = out.with_name(out.name + ".npy")
    stderr_path = out.with_name(f"{out.stem}_stderr.npy")
    values = result.log_prob.detach().cpu().double().numpy()
    errors = result.stderr.detach().cpu().double().numpy()
    atomic_write(out, lambda fh: np.save(fh, values))
    atomic_write(stderr_path, lambda fh: np.save(fh, errors))
    how = "exact divergence" if result.exact else f"Hutchinson, {result.probes} probes"
    bits = float(result.bits_per_value.mean())
    spread = f" ± {float(np.sqrt(np.mean(errors**2))):.3g} (rms standard error)" if not result.exact else ""
    print(f"kernelops loglik: {len(values)} window(s) of {windows.shape[1]}×{windows.shape[2]}, {args.scale} scale; "
          f"{how}; solver {args.solver}, NFE {result.nfe} per window")
    print(f"  mean log p {values.mean():.4g} nats per window{spread}; {bits:.4g} bits per value "
          f"(−log₂ p / {result.values})")
    print(f"  log p   {out}\n  stderr  {stderr_path}")
    return 0
