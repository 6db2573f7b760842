"""The paper's Fig. 3: a spectral mean flow arrives at t = 1, the fixed-kernel MMD flow does not.

Usage (from the repository root)::

    OMP_NUM_THREADS=1 python benchmarks/checkerboard.py [--steps 3000] [--out benchmarks/results]

Target: the 2-D checkerboard (docs/datasets.md, "Checkerboard"): uniform on the 8 dark unit
squares of a 4 × 4 board on [−2, 2]². Source: N(0, I). Both flows get the same ``--data`` target
points (the training set of ours, the target sample of the classical flow) and move the same
``--particles`` source draws:

* **ours**: a time-dependent spectral mean flow on points (sequence length N = 1, so the chain
  potential is the one-step chain β(x)ᵀ Λ η(x), docs/theory.md "One step"), trained by flow
  matching (:class:`kernelops.flows.SpectralVelocityField`, :class:`FlowMatchingObjective`,
  :class:`Trainer`), then integrated from t = 0 to t = 1 with ``--solver-steps`` midpoint steps;
* **classical**: :class:`kernelops.flows.MMDFlow`, the fixed-kernel MMD gradient flow (RBF,
  bandwidth 1, Euler step dt = 1), for ``--mmd-flow-steps`` steps, plain and with noise injection.

Both are scored by the same estimator, ``kernelops.embeddings.mmd`` (RBF kernel, bandwidth 1,
biased), against an independent evaluation sample of the checkerboard; the floor is the MMD of a
fresh checkerboard sample of the particles' size to that evaluation sample. Writes
``OUT/checkerboard.{md,json,png}``: the MMD over sampling time for both flows and particle
snapshots. Single-threaded; a few minutes at the defaults.
"""

from __future__ import annotations

import argparse
import copy
import math
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

#: the MMD of the figure: RBF kernel of bandwidth 1 (the paper's setting)
MMD_BANDWIDTH = 1.0
#: the checkerboard's board: BOARD × BOARD unit squares centred on the origin
BOARD = 4


def checkerboard(n: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` points uniform on the dark squares (floor(x) + floor(y) even) of a 4 × 4 board on [−2, 2]².

    Shape:
        returns: (n, 2), float64.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n: expected a positive integer, got {n!r}")
    half = BOARD // 2
    dark = [(i, j) for i in range(-half, half) for j in range(-half, half) if (i + j) % 2 == 0]
    corners = torch.tensor(dark, dtype=torch.float64)[torch.randint(len(dark), (n,), generator=generator)]
    return corners + torch.rand(n, 2, generator=generator, dtype=torch.float64)


def on_dark_squares(x: torch.Tensor) -> float:
    """Fraction of points (n, 2) on the checkerboard's dark squares (1 for the target, about 0.46 for N(0, I))."""
    half = BOARD / 2
    inside = (x.abs() < half).all(dim=1)
    cells = torch.floor(x).long()
    return float((inside & ((cells[:, 0] + cells[:, 1]) % 2 == 0)).double().mean())


def mmd_to(x: torch.Tensor, target: torch.Tensor) -> float:
    """Biased RBF MMD (bandwidth 1) between point clouds (n, 2) and (m, 2)."""
    from kernelops.embeddings import mmd

    return float(mmd(x.double(), target.double(), "rbf", bandwidth=MMD_BANDWIDTH))


def train_spectral_flow(data: torch.Tensor, steps: int, batch_size: int, seed: int, path_name: str,
                        skip: str) -> tuple[torch.nn.Module, Any, float]:
    """Train the one-step chain field on points ``data`` (n, 2); returns (EMA field, path, seconds).

    The field sees windows of one step, (n, 1, 2).
    """
    import kernelops as ko
    from kernelops.flows import FieldConfig, FlowMatchingObjective, SpectralVelocityField, TrainConfig, Trainer

    path = ko.path(path_name)
    windows = data.float()[:, None, :]
    field = SpectralVelocityField(path, in_dim=2, seq_len=1, config=FieldConfig(potential="chain", skip=skip),
                                  seed=seed)
    field.fit_data(windows)
    config = TrainConfig(steps=steps, batch_size=batch_size, warmup=min(100, steps // 10))
    trainer = Trainer(field, FlowMatchingObjective(path, config.target), config, seed=seed)
    start = time.perf_counter()
    trainer.fit(windows, progress=False)
    return trainer.ema.module, path, time.perf_counter() - start


@torch.no_grad()
def spectral_trajectory(field: torch.nn.Module, x0: torch.Tensor, solver_steps: int) -> tuple[np.ndarray, torch.Tensor]:
    """Midpoint integration of the field from t = 0 to 1; the grid times and the states on it.

    Shape:
        x0: (n, 2). returns: times (solver_steps + 1,), states (solver_steps + 1, n, 2).
    """
    import kernelops as ko

    field.eval()
    result = ko.solver("midpoint").solve(field, x0.float()[:, None, :], 0.0, 1.0, solver_steps,
                                         return_trajectory=True)
    assert result.trajectory is not None and result.times is not None
    return result.times.double().numpy(), result.trajectory[:, :, 0, :].double()


def mmd_flow_trajectory(x0: torch.Tensor, target: torch.Tensor, steps: int, record: list[int], noise: float,
                        seed: int) -> tuple[dict[int, torch.Tensor], float]:
    """Euler steps of the fixed-kernel MMD flow (RBF, bandwidth 1, dt = 1); the particles after each
    step count in ``record``, and the time step dt.

    Shape:
        x0: (n, 2). target: (m, 2). returns: {step: (n, 2)}.
    """
    from kernelops.flows import MMDFlow

    flow = MMDFlow("rbf", bandwidth=MMD_BANDWIDTH, step_size=1.0, noise=noise).fit(target)
    dt = flow.step_size * MMD_BANDWIDTH**2
    gen = torch.Generator().manual_seed(seed)
    z, keep, out = x0.clone(), set(record), {}
    if 0 in keep:
        out[0] = z.clone()
    for k in range(1, steps + 1):
        probe = z + noise * MMD_BANDWIDTH * torch.randn(z.shape, generator=gen, dtype=z.dtype) if noise > 0 else z
        z = z + dt * flow.velocity(probe, particles=z)
        if k in keep:
            out[k] = z.clone()
    return out, dt


def log_steps(total: int, per_decade: int = 8) -> list[int]:
    """0, 1, and about ``per_decade`` log-spaced step counts per decade up to ``total`` (included)."""
    grid = np.unique(np.round(np.logspace(0, math.log10(max(total, 1)), per_decade * max(1, math.ceil(math.log10(
        max(total, 10)))) + 1)).astype(int))
    return sorted({0, *map(int, grid[grid <= total]), total})


def plot(out: Path, result: dict[str, Any]) -> None:
    """MMD and the on-square fraction over sampling time (log axis), and particle snapshots."""
    from kernelops.viz._render import new_figure, save_png

    ours, classical, floor = result["ours"], result["classical"], result["floor"]
    rows = [("ours", ours["snapshots"], "C0")] + [("MMD flow" + ("" if run["noise"] == 0 else ", noise"),
                                                   run["snapshots"], f"C{i + 1}") for i, run in enumerate(classical)]
    cols = max(len(snaps) for _, snaps, _ in rows)
    fig = new_figure(2.6 * cols, 4.2 + 2.6 * len(rows))
    grid = fig.add_gridspec(1 + len(rows), cols, height_ratios=[1.6] + [1] * len(rows))
    top = grid[0, :].subgridspec(1, 2, wspace=0.25)
    for j, (key, ylabel, reference) in enumerate((("mmd", "MMD to the target (RBF, bandwidth 1)", floor),
                                                  ("on_squares", "fraction on the dark squares", 1.0))):
        ax = fig.add_subplot(top[0, j])
        ax.plot(ours["times"][1:], ours[key][1:], "o-", color="C0", markersize=3, label="spectral mean flow (ours)")
        for i, run in enumerate(classical):
            ax.plot(run["times"][1:], run[key][1:], "-", color=f"C{i + 1}", label=run["label"])
        ax.axhline(ours[key][0], color="0.5", linestyle=":", label="source N(0, I)")
        ax.axhline(reference, color="k", linestyle="--",
                   label="floor: a fresh target sample" if key == "mmd" else "target")
        ax.axvline(1.0, color="C0", linewidth=0.8, alpha=0.5)
        ax.set_xscale("log")
        if key == "mmd":
            ax.set_yscale("log")
        ax.set_xlabel("sampling time t (ours: ODE time; MMD flow: Euler steps, dt = 1)", fontsize=8)
        ax.set_ylabel(ylabel, fontsize=8)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    tgt = result["evaluation"].numpy()[:2000]
    for row, (name, snaps, color) in enumerate(rows, start=1):
        for col, (t, pts, value) in enumerate(snaps):
            a = fig.add_subplot(grid[row, col])
            a.scatter(tgt[:, 0], tgt[:, 1], s=1, color="0.85")
            a.scatter(pts[:, 0], pts[:, 1], s=1.5, color=color)
            a.set_xlim(-3, 3)
            a.set_ylim(-3, 3)
            a.set_aspect("equal")
            a.set_xticks([])
            a.set_yticks([])
            a.set_title(f"{name}, t = {t:g}\nMMD {value:.3f}", fontsize=8)
    fig.tight_layout()
    save_png(fig, out / "checkerboard.png")


def scores(states: list[torch.Tensor], evaluation: torch.Tensor) -> dict[str, list[float]]:
    """The MMD to ``evaluation`` and the on-square fraction of each state (n, 2)."""
    return {"mmd": [mmd_to(x, evaluation) for x in states], "on_squares": [on_dark_squares(x) for x in states]}


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Train, transport, score; returns the result dict the files are written from."""
    gen = torch.Generator().manual_seed(args.seed)
    data = checkerboard(args.data, gen)
    evaluation = checkerboard(args.eval, gen)
    x0 = torch.randn(args.particles, 2, generator=gen, dtype=torch.float64)
    fresh = checkerboard(args.particles, gen)
    floor = mmd_to(fresh, evaluation)

    field, _, train_s = train_spectral_flow(data, args.steps, args.batch_size, args.seed, args.path, args.skip)
    times, states = spectral_trajectory(field, x0, args.solver_steps)
    ours = {"times": times.tolist(), "train_seconds": train_s, **scores(list(states), evaluation)}
    gaussian_final = None
    if args.skip != "none":  # the control: the same field with its learned part switched off
        gaussian = copy.deepcopy(field)
        gaussian.scale_learned(0.0)
        gaussian_final = mmd_to(spectral_trajectory(gaussian, x0, args.solver_steps)[1][-1], evaluation)
    picks = sorted({0, args.solver_steps // 4, args.solver_steps // 2, 3 * args.solver_steps // 4, args.solver_steps})
    ours["snapshots"] = [(float(times[i]), states[i].numpy(), ours["mmd"][i]) for i in picks]

    record = log_steps(args.mmd_flow_steps)
    classical = []
    for noise in (0.0, args.noise) if args.noise > 0 else (0.0,):
        start = time.perf_counter()
        traj, dt = mmd_flow_trajectory(x0, data, args.mmd_flow_steps, record, noise, args.seed)
        seconds = time.perf_counter() - start
        snap_steps = sorted({k for k in (0, 1, 10, 100) if k in traj} | {args.mmd_flow_steps})
        run_scores = scores([traj[k] for k in record], evaluation)
        classical.append({"label": "MMD flow, fixed RBF kernel" + ("" if noise == 0 else f", noise {noise:g}"),
                          "noise": noise, "times": [k * dt for k in record], "steps": record, "seconds": seconds,
                          **run_scores,
                          "snapshots": [(k * dt, traj[k].numpy(), run_scores["mmd"][record.index(k)])
                                        for k in snap_steps]})
    return {"ours": ours, "classical": classical, "floor": floor, "floor_on_squares": on_dark_squares(fresh),
            "gaussian_skip_only": gaussian_final, "evaluation": evaluation}


def first_time_below(times: list[float], values: list[float], level: float) -> float | None:
    """The first recorded time whose MMD is at or below ``level`` (None: never)."""
    return next((t for t, v in zip(times, values) if v <= level), None)


#: "arrived": the MMD within this factor of the floor
ARRIVED = 1.25


def report(args: argparse.Namespace, argv: list[str], result: dict[str, Any]) -> tuple[dict, list[dict], list[str]]:
    ours, classical, floor = result["ours"], result["classical"], result["floor"]
    meta = run_meta("checkerboard.py", argv, data=args.data, eval=args.eval, particles=args.particles,
                    steps=args.steps, batch_size=args.batch_size, path=args.path, skip=args.skip,
                    solver_steps=args.solver_steps, mmd_flow_steps=args.mmd_flow_steps, noise=args.noise,
                    seed=args.seed, torch=torch.__version__)
    level = ARRIVED * floor
    runs = [("spectral mean flow (ours), N = 1", ours, 2 * args.solver_steps, len(ours["times"]) - 1)]
    runs += [(run["label"], run, args.mmd_flow_steps, run["steps"].index(1)) for run in classical]
    rows = [{"flow": name, "time": run["times"][-1], "field_evaluations": nfe, "seconds": round(run.get(
             "seconds", run.get("train_seconds", 0.0)), 1), "mmd": run["mmd"][-1], "mmd_at_t1": run["mmd"][at_one],
             "on_squares": run["on_squares"][-1],
             "first_time_arrived": first_time_below(run["times"], run["mmd"], level),
             "curve": {k: run[k] for k in ("times", "mmd", "on_squares")}} for name, run, nfe, at_one in runs]
    meta.update(floor=floor, floor_on_squares=result["floor_on_squares"], source_mmd=ours["mmd"][0],
                source_on_squares=ours["on_squares"][0], gaussian_skip_only=result["gaussian_skip_only"],
                train_seconds=round(ours["train_seconds"], 1))

    def fmt(v: float | None) -> str:
        return "never" if v is None else f"{v:g}"

    gauss = result["gaussian_skip_only"]
    lines = [
        "# Fig. 3: convergence at t = 1 on the 2-D checkerboard",
        "",
        f"Written by `{meta['command']}` on {meta['machine']} ({meta['date']}, load average "
        f"{', '.join(map(str, meta['load_average']))} at the end: other jobs shared the two cores, so the "
        f"seconds are not timings; training took {ours['train_seconds']:.0f} s). "
        "Target: uniform on the 8 dark unit squares of a 4 × 4 board on [−2, 2]² "
        "([docs/datasets.md](../../docs/datasets.md), \"Checkerboard\"); source N(0, I); both flows get the same "
        f"{args.data} target points and move the same {args.particles} source draws. MMD: "
        "`kernelops.embeddings.mmd`, RBF kernel of bandwidth 1, biased (V-statistic), against an independent "
        f"evaluation sample of {args.eval} checkerboard points; \"on squares\": the fraction of particles on the "
        "dark squares.",
        "",
        f"- **ours**: the spectral mean flow on points (N = 1: the one-step chain potential β(x)ᵀ Λ η(x), "
        f"[docs/theory.md](../../docs/theory.md) \"One step\"), `{args.path}` path, skip `{args.skip}`"
        + (" (v = −∇f learned directly, the paper's form)" if args.skip == "none" else "")
        + f", default chain sizes, trained by flow matching for {args.steps} steps of {args.batch_size} points "
        f"(EMA weights), integrated with {args.solver_steps} midpoint steps ({2 * args.solver_steps} field "
        "evaluations) from t = 0 to t = 1;",
        f"- **classical**: `kernelops.flows.MMDFlow`, the fixed-kernel MMD gradient flow toward the {args.data} "
        f"target points (RBF, bandwidth 1 — the kernel of the score itself — Euler dt = 1) for "
        f"{args.mmd_flow_steps} steps" + (f", without and with noise injection (β = {args.noise:g})."
                                         if args.noise > 0 else "."),
        "",
        f"Source (t = 0): MMD {ours['mmd'][0]:.4f}, {ours['on_squares'][0]:.1%} on squares. Floor (a fresh sample "
        f"of {args.particles} checkerboard points): MMD {floor:.4f}, 100 % on squares."
        + (f" Ours with its learned part switched off (the Gaussian skip alone, a 2-D Gaussian fit to the "
           f"checkerboard): MMD {gauss:.4f} at t = 1." if gauss is not None else ""),
        "",
        f"| flow | sampling time | field evaluations | MMD at t = 1 | MMD at the end | on squares at the end | "
        f"first time MMD ≤ {ARRIVED:g} × floor |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(f"| {row['flow']} | {row['time']:g} | {row['field_evaluations']} | {row['mmd_at_t1']:.4f} | "
                     f"{row['mmd']:.4f} | {row['on_squares']:.1%} | {fmt(row['first_time_arrived'])} |")
    lines += ["", "![MMD over sampling time and particle snapshots](checkerboard.png)", ""]
    return meta, rows, lines


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=1500, help="flow-matching training steps of ours")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--data", type=int, default=2000, help="target points both flows see")
    parser.add_argument("--eval", type=int, default=4000, help="independent checkerboard points the MMD is taken to")
    parser.add_argument("--particles", type=int, default=1000)
    parser.add_argument("--path", default="ot", help="probability path of ours")
    parser.add_argument("--skip", default="none", choices=("window", "none"),
                        help="ours: the plain field v = −∇f (none, the paper's form) or with the Gaussian skip (window)")
    parser.add_argument("--solver-steps", type=int, default=16)
    parser.add_argument("--mmd-flow-steps", type=int, default=1000)
    parser.add_argument("--noise", type=float, default=0.0,
                        help="> 0: also run the MMD flow with noise injection at this level")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    args = parser.parse_args(argv)
    for name in ("steps", "batch_size", "data", "eval", "particles", "solver_steps", "mmd_flow_steps"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')}: expected a positive integer, got {getattr(args, name)}")
    if not (math.isfinite(args.noise) and args.noise >= 0):
        parser.error(f"--noise: expected a finite number ≥ 0, got {args.noise}")
    torch.set_num_threads(1)
    result = run(args)
    meta, rows, lines = report(args, argv, result)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    plot(out, result)
    write_results(out, "checkerboard", meta, rows, lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
