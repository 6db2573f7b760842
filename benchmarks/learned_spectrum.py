"""The learned spectrum: a chain model's eigenvalues beside the Sines data's own frequencies.

Usage (from the repository root)::

    OMP_NUM_THREADS=1 python benchmarks/learned_spectrum.py [--steps 1500] [--save RUN.pt] [--out benchmarks/results]
    OMP_NUM_THREADS=1 python benchmarks/learned_spectrum.py --run RUN        # a `kernelops fit` run folder instead

Trains the spectral mean flow with ``potential="chain"`` on Sines (the default data: 10 000
windows × 24 steps × 5 channels, seed 0) or loads a trained one, and sets the eigenvalues of its
two chains (EMA weights; :meth:`kernelops.flows.heads.SpectralHeads.eigvals`) on the complex
plane beside (a) the same model's eigenvalues at initialisation (the same seed, untrained) and
(b) the data's own per-step rotations e^{±if}: a Sines channel is (sin(f·t + φ) + 1)/2, whose
phase advances by f per step, with f ~ U[0, 0.1] per sequence and channel
(:func:`kernelops.data.sines_parameters`). Writes ``OUT/learned_spectrum.{md,json,png}``.
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
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _results import run_meta, write_results  # noqa: E402

#: the data's eigenvalue region: within this angle of the positive real axis (f ≤ 0.1) ...
DATA_ANGLE = 0.1
#: ... and at least this modulus (the data's modes do not decay: |e^{if}| = 1)
DATA_MODULUS = 0.9


def chain_eigenvalues(field: torch.nn.Module) -> dict[str, np.ndarray]:
    """The eigenvalues of the field's two chains, "s" (current law) and "o" (data), flattened.

    Shape:
        returns: {"s": (r,), "o": (r,)} complex128.

    Raises:
        ValueError: the field's potential is not the chain (it has no eigenvalues).
    """
    net = getattr(field, "potential_net", None)
    if net is None or not hasattr(net, "heads_s"):
        potential = getattr(getattr(field, "config", None), "potential", type(net).__name__)
        raise ValueError(f"field: expected a chain potential (potential='chain', it carries the eigenvalues), "
                         f"got {potential!r}")
    with torch.no_grad():
        return {name: getattr(net, f"heads_{name}").eigvals().detach().cpu().reshape(-1).numpy().astype(np.complex128)
                for name in ("s", "o")}


def data_eigenvalues(num: int, features: int, seed: int) -> np.ndarray:
    """e^{±if} for every sampled Sines frequency f.

    Shape:
        returns: (2·num·features,) complex128, all of modulus 1.
    """
    from kernelops.data import sines_parameters

    freq = sines_parameters(num, features, seed)[0].reshape(-1)
    return np.concatenate([np.exp(1j * freq), np.exp(-1j * freq)])


def spectrum_stats(lam: np.ndarray, data: np.ndarray) -> dict[str, float]:
    """How a set of model eigenvalues relates to the data's: moduli, how many lie in the data's
    region (|arg λ| ≤ 0.1, |λ| ≥ 0.9), and the distance from each data eigenvalue to the nearest
    model one (median and 95th percentile over the data eigenvalues).

    Shape:
        lam: (r,) complex. data: (m,) complex.
    """
    sample = data[:: max(1, len(data) // 4000)]  # the distances on ≤ 4000 of the data's eigenvalues
    nearest = np.abs(sample[:, None] - lam[None, :]).min(axis=1)
    in_region = (np.abs(np.angle(lam)) <= DATA_ANGLE) & (np.abs(lam) >= DATA_MODULUS)
    return {"count": int(lam.size), "max_modulus": float(np.abs(lam).max()),
            "median_modulus": float(np.median(np.abs(lam))), "in_data_region": int(in_region.sum()),
            "nearest_median": float(np.median(nearest)), "nearest_p95": float(np.quantile(nearest, 0.95))}


def movement(trained: np.ndarray, initial: np.ndarray) -> dict[str, float]:
    """How far training moved each eigenvalue: |Δλ|, Δ|λ| and the wrapped change of angle.

    Shape:
        trained, initial: (r,) complex, the same eigenvalues in the same order.
    """
    dphase = np.angle(trained / initial)
    return {"median_abs_change": float(np.median(np.abs(trained - initial))),
            "max_abs_change": float(np.abs(trained - initial).max()),
            "median_modulus_change": float(np.median(np.abs(trained) - np.abs(initial))),
            "median_abs_angle_change": float(np.median(np.abs(dphase)))}


def load_or_train(args: argparse.Namespace) -> tuple[Any, Any, dict[str, Any]]:
    """(trained model, untrained model of the same seed and sizes, what was done)."""
    from kernelops.data import Sines
    from kernelops.flows import SpectralMeanFlow

    if args.run is not None:
        target = Path(args.run)
        ckpt = target / "checkpoint.pt" if target.is_dir() else target
        model = SpectralMeanFlow.load(ckpt)
        info: dict[str, Any] = {"source": f"loaded {ckpt}", "steps": model.step}
    else:
        data = Sines(num=args.num, seed=args.data_seed)
        model = SpectralMeanFlow(path=args.path, potential="chain", seed=args.seed)
        start = time.perf_counter()
        model.fit(data.windows, steps=args.steps, batch_size=args.batch_size, progress=False)
        info = {"source": "trained here", "steps": args.steps, "train_seconds": round(time.perf_counter() - start, 1)}
        if args.save:
            model.save(args.save)
    if model.field_config.potential != "chain":
        raise ValueError(f"--run: expected a model with potential='chain' (it carries the eigenvalues), got "
                         f"{model.field_config.potential!r}")
    initial = SpectralMeanFlow(path=model.path_name, seed=model.seed, **model.field_config.to_dict())
    initial.build(model.in_dim, model.seq_len)
    info.update(path=model.path_name, seed=model.seed, field=model.field_config.to_dict())
    return model, initial, info


def plot(out: Path, trained: dict[str, np.ndarray], initial: dict[str, np.ndarray], data: np.ndarray) -> None:
    """The trained eigenvalues (kernelops.viz.eigenvalues, coloured by modulus) with the initial ones
    and the data's e^{±if}, and a zoom on the data's arc."""
    from kernelops.viz._render import save_png
    from kernelops.viz.eigenvalues import eigenvalues_figure

    lam = np.concatenate([trained["s"], trained["o"]])
    lam0 = np.concatenate([initial["s"], initial["o"]])
    fig = eigenvalues_figure(lam, title=f"learned eigenvalues of both chains ({lam.size}) beside the Sines data")
    # the viewer's figure is one square panel and its colour bar: widen it and put the zoom beside them
    fig.set_size_inches(13.0, 6.2)
    ax, bar = fig.axes[0], fig.axes[1]
    ax.set_position((0.05, 0.09, 0.40, 0.82))
    bar.set_position((0.465, 0.09, 0.012, 0.82))
    shown = data[:: max(1, len(data) // 2000)]
    ax.scatter(shown.real, shown.imag, s=6, color="red", zorder=4, label="data: e^{±if}, f ~ U[0, 0.1]")
    ax.scatter(lam0.real, lam0.imag, s=30, facecolors="none", edgecolors="0.45", linewidths=0.7, zorder=4,
               label="the same model at initialisation")
    ax.legend(loc="upper right", fontsize=7)
    zoom = fig.add_axes((0.56, 0.09, 0.42, 0.82))
    theta = np.linspace(-0.5, 0.5, 400)
    zoom.plot(np.cos(theta), np.sin(theta), color="0.4", linestyle="--", linewidth=0.8, label="unit circle")
    zoom.scatter(shown.real, shown.imag, s=6, color="red", label="data: e^{±if}")
    zoom.scatter(lam.real, lam.imag, s=26, c=np.abs(lam), cmap="viridis", vmin=0.0, vmax=1.0, edgecolors="k",
                 linewidths=0.4, label="learned")
    zoom.scatter(lam0.real, lam0.imag, s=44, facecolors="none", edgecolors="0.45", linewidths=0.7,
                 label="initial")
    zoom.set_xlim(0.5, 1.05)
    zoom.set_ylim(-0.275, 0.275)
    zoom.set_aspect("equal")
    zoom.grid(alpha=0.3)
    zoom.legend(loc="upper left", fontsize=7)
    zoom.set_title("zoom on the data's arc (|arg λ| ≤ 0.1 near |λ| = 1)", fontsize=9)
    save_png(fig, out / "learned_spectrum.png")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", default=None, help="a `kernelops fit` run folder or checkpoint to load instead of training")
    parser.add_argument("--steps", type=int, default=1500,
                        help="training steps (the default of `kernelops fit`; ignored with --run)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--num", type=int, default=10000, help="Sines windows (training and the data's frequencies)")
    parser.add_argument("--data-seed", type=int, default=0, help="seed of the Sines draw")
    parser.add_argument("--path", default="ot", help="probability path (the default of `kernelops fit`)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", default=None, help="write the trained model's checkpoint here (not committed)")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    args = parser.parse_args(argv)
    for name in ("steps", "batch_size", "num"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')}: expected a positive integer, got {getattr(args, name)}")
    torch.set_num_threads(1)
    model, initial, info = load_or_train(args)
    trained = chain_eigenvalues(model.ema.module)
    init = chain_eigenvalues(initial.field)
    data = data_eigenvalues(args.num, model.in_dim, args.data_seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    plot(out, trained, init, data)

    rows = []
    for chain, label in (("s", "current law (s)"), ("o", "data (o)")):
        for when, lam in (("initial", init[chain]), ("trained", trained[chain])):
            rows.append({"chain": chain, "label": label, "when": when, **spectrum_stats(lam, data)})
        rows.append({"chain": chain, "label": label, "when": "moved", **movement(trained[chain], init[chain])})
    meta = run_meta("learned_spectrum.py", argv, **info, data=f"Sines(num={args.num}, seed={args.data_seed})",
                    torch=torch.__version__)
    lines = report(meta, rows, data)
    write_results(out, "learned_spectrum", meta, rows, lines)
    return 0


def report(meta: dict[str, Any], rows: list[dict[str, Any]], data: np.ndarray) -> list[str]:
    """The markdown page: what was run, the table, and the figure (the reading is in benchmarks/README.md)."""
    field = meta["field"]
    rank = field["rank"] if field["rank"] is not None else field["depth"] * field["width"] // 2
    source = (f"{meta['source']} ({meta['steps']} steps"
              + (f", {meta['train_seconds']:.0f} s, load average {', '.join(map(str, meta['load_average']))} at the end"
                 if "train_seconds" in meta else "") + ")")
    lines = [
        "# The learned spectrum on Sines",
        "",
        f"Written by `{meta['command']}` on {meta['machine']} ({meta['date']}). Model: the spectral mean flow with "
        f"`potential=\"chain\"`, `{meta['path']}` path, skip `{field['skip']}`, depth {field['depth']}, width "
        f"{field['width']}, rank {rank} per chain, seed {meta['seed']}; {source}. Its two chains (s: the current "
        f"law, o: the data) have {rank} eigenvalues each, λ = exp(−exp(ν) + iθ), so |λ| < 1 by construction. "
        f"The data: {meta['data']}, whose channels rotate by f per step, f ~ U[0, 0.1]: eigenvalues e^{{±if}} "
        f"({data.size} of them) on the unit circle within {DATA_ANGLE:g} rad of 1.",
        "",
        f"\"in the data's region\": |arg λ| ≤ {DATA_ANGLE:g} and |λ| ≥ {DATA_MODULUS:g}. \"nearest\": for each data "
        "eigenvalue, the distance to the nearest model eigenvalue (median and 95th percentile). \"moved\": "
        "trained minus initial, eigenvalue by eigenvalue.",
        "",
        "| chain | | max \\|λ\\| | median \\|λ\\| | in the data's region | nearest, median | nearest, p95 |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        if row["when"] == "moved":
            continue
        lines.append(f"| {row['label']} | {row['when']} | {row['max_modulus']:.4f} | {row['median_modulus']:.4f} | "
                     f"{row['in_data_region']} of {row['count']} | {row['nearest_median']:.4f} | "
                     f"{row['nearest_p95']:.4f} |")
    lines += ["", "| chain | median \\|Δλ\\| | max \\|Δλ\\| | median Δ\\|λ\\| | median \\|Δ arg λ\\| (rad) |",
              "|---|---|---|---|---|"]
    for row in rows:
        if row["when"] == "moved":
            lines.append(f"| {row['label']} | {row['median_abs_change']:.2e} | {row['max_abs_change']:.2e} | "
                         f"{row['median_modulus_change']:+.2e} | {row['median_abs_angle_change']:.2e} |")
    lines += ["", *reading(rows), "", "![learned eigenvalues, initial eigenvalues and the data's e^{±if}]"
              "(learned_spectrum.png)", ""]
    return lines


def reading(rows: list[dict[str, Any]]) -> list[str]:
    """What the table says, in words computed from it (so the page never disagrees with its numbers)."""
    by = {(r["chain"], r["when"]): r for r in rows}
    out = ["**Reading.**"]
    for chain, name in (("s", "current-law chain"), ("o", "data chain")):
        moved, before, after = by[(chain, "moved")], by[(chain, "initial")], by[(chain, "trained")]
        spacing = before["nearest_median"]
        verdict = ("the spectrum is still its initialisation, to within a small fraction of its distance to the data"
                   if moved["max_abs_change"] < 0.25 * spacing else "training moved it on the scale of its "
                   "distance to the data")
        toward = after["nearest_median"] - before["nearest_median"]
        out.append(f"The {name}'s eigenvalues moved by a median of {moved['median_abs_change']:.1e} (at most "
                   f"{moved['max_abs_change']:.1e}), while the data's eigenvalues lie a median of {spacing:.3f} from "
                   f"the nearest of them: {verdict}. The median distance from a data eigenvalue to the nearest model "
                   f"one went from {before['nearest_median']:.4f} to {after['nearest_median']:.4f} "
                   f"({'closer' if toward < 0 else 'farther'} by {abs(toward):.4f}), and {after['in_data_region']} of "
                   f"{after['count']} lie in the data's region ({before['in_data_region']} before).")
        out.append("")
    trained = [by[(chain, "trained")] for chain in ("s", "o")]
    inside = sum(r["in_data_region"] for r in trained)
    total = sum(r["count"] for r in trained)
    out.append("By construction no mode grows (every |λ| < 1), while the data's are undamped (|e^{if}| = 1) and "
               f"crowd within 0.1 rad of 1. After training {inside} of the model's {total} eigenvalues lie in that "
               f"region (median moduli {trained[0]['median_modulus']:.3f} and {trained[1]['median_modulus']:.3f}); "
               "where the initial eigenvalues were drawn is the model's setting (the `initial` rows).")
    return out


if __name__ == "__main__":
    raise SystemExit(main())
