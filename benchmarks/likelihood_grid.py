"""How many solver steps log p needs: solvers, steps and time grids on a trained Sines run.

Usage (from the repository root, one thread; a run of the default model on Sines)::

    OMP_NUM_THREADS=1 kernelops fit --dataset sines --steps 1500 --batch-size 64 --out runs/sines
    OMP_NUM_THREADS=1 python benchmarks/likelihood_grid.py --run runs/sines [--windows 8]

``--windows`` held-out windows ``make_sines(n, seed=2026)`` are scored with every (solver, steps,
time power p) of the table, the grid t_k = 1 − (k/steps)^p from the data back to the noise, and
with dopri5 (rtol = atol = 1e-6) as the reference. The divergence is the exact one. Reported:
NFE, the mean log p (nats per window, [0, 1] scale) and the largest difference from the reference.

Writes ``OUT/likelihood_grid.md`` and ``.json`` (default OUT: benchmarks/results).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from _results import run_meta, write_results

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

SETTINGS = [("midpoint", 16, 1.0), ("midpoint", 16, 4.0), ("midpoint", 64, 4.0), ("rk4", 8, 1.0), ("rk4", 8, 2.0),
            ("rk4", 8, 4.0), ("rk4", 16, 4.0), ("rk4", 32, 2.0), ("rk4", 32, 4.0)]


def main(argv: list[str] | None = None) -> int:
    import torch

    from kernelops.data import make_sines
    from kernelops.flows import SpectralMeanFlow

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", required=True, help="a run of `kernelops fit --dataset sines`")
    parser.add_argument("--windows", type=int, default=8)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    model = SpectralMeanFlow.load(Path(args.run) / "checkpoint.pt")
    x = make_sines(args.windows, seed=2026).astype(np.float64)
    ref = model.log_prob(x, solver="dopri5", solver_kwargs={"rtol": 1e-6, "atol": 1e-6})
    reference = ref.log_prob.double().numpy()
    rows = [{"solver": "dopri5 (rtol = atol = 1e-6, reference)", "steps": None, "time_power": None, "nfe": ref.nfe,
             "mean_log_prob": float(reference.mean()), "max_abs_error": 0.0}]
    for solver, steps, power in SETTINGS:
        result = model.log_prob(x, steps=steps, solver=solver, time_power=power)
        values = result.log_prob.double().numpy()
        rows.append({"solver": solver, "steps": steps, "time_power": power, "nfe": result.nfe,
                     "mean_log_prob": float(values.mean()), "max_abs_error": float(np.abs(values - reference).max())})
    meta = run_meta("likelihood_grid.py", argv if argv is not None else sys.argv[1:], windows=args.windows)
    lines = ["# log p of held-out Sines windows: solver, steps and time grid", "",
             f"Command: `{meta['command']}` on {meta['date']}; {meta['machine']}; load {meta['load_average']}. "
             f"{args.windows} windows `make_sines(n, seed=2026)`, exact divergence, grid t = 1 − (k/steps)^p.", "",
             "| solver | steps | p | NFE | mean log p (nats per window) | largest error vs reference |",
             "|---|---|---|---|---|---|"]
    for row in rows:
        steps = "—" if row["steps"] is None else row["steps"]
        power = "—" if row["time_power"] is None else f"{row['time_power']:g}"
        lines.append(f"| {row['solver']} | {steps} | {power} | {row['nfe']} | {row['mean_log_prob']:.2f} | "
                     f"{row['max_abs_error']:.3g} |")
    write_results(args.out, "likelihood_grid", meta, rows, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
