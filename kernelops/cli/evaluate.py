"""``kernelops evaluate``: score generated windows against real ones and plot both.

Two ways to name the data::

    kernelops evaluate --real REAL.npy --fake FAKE.npy [--runs 5] [--metrics ...] [--fast]
    kernelops evaluate --real-dataset sines --fake FAKE.npy
    kernelops evaluate RUN [--real REAL.npy] [--fake FAKE.npy] [--num N]

Arrays are ``.npy`` files of shape (n, seq_len, features) on the [0, 1] scale the metrics use
(``kernelops sample`` writes that version as ``*_scaled.npy``). With a run folder from
``kernelops fit``, the generated windows are ``RUN/fake_scaled.npy`` when it exists and is newer
than ``RUN/checkpoint.pt``; otherwise
the checkpoint samples as many windows as there are real ones (``--num`` to change) and they
are saved as ``OUT/fake_scaled.npy``. The real windows default to the run's own dataset
(from ``RUN/config.json``); ``--real-dataset NAME`` takes them from a registered dataset
(its default windows, e.g. the 10 000 Sines windows ``kernelops fit --dataset sines`` trains on).

Beside the four protocol scores, three cheap exact scores are always computed on all windows of
both sets (:mod:`kernelops.metrics.distribution`): the per-channel marginal 1-Wasserstein distance,
the total variation between mean power spectra, and the share of generated values outside the real
per-channel range (``"distribution"`` in ``metrics.json``, three more rows in the table).

Held-out windows: when ``RUN/held_out_scaled.npy`` exists (``kernelops fit --hold-out F`` writes
it) or ``--held-out HELD.npy`` is given, the generated windows are also scored against those
windows (every protocol metric and the three scores: a ``"held_out"`` block and a second table)
and a copy test is run: the nearest-training-window distance of the generated windows against
that of the held-out ones (:func:`kernelops.metrics.copy_test`); with a checkpoint, the block also
holds the run's log-likelihood of ``--loglik`` held-out windows. The training windows are the
run's (with RUN, even when ``--real`` names other windows to score against) or, without RUN, the
``--real`` / ``--real-dataset`` windows.

With a run, ``metrics.json`` also holds ``loglik``: the run's log-likelihood (nats per window on
the [0, 1] scale, and bits per value) of ``--loglik`` windows of ``--loglik-input`` (held-out
windows) or, without it, of the real windows (:mod:`kernelops.flows.likelihood`).

Writes ``metrics.json`` (every metric's mean, std and per-run values, plus the inputs and
settings) and ``pca.png``, ``tsne.png``, ``histogram.png``, ``channels.png`` into ``--out``
(default: the run folder, or the folder of the fake file), and prints a table of
mean ± std. Lower is better for every metric.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from kernelops.errors import DataError, ShapeError

HELP = "score generated windows against real ones (FID, correlational, ...) and plot them"

METRIC_NAMES = ("context_fid", "correlational", "discriminative", "predictive")
#: fewest windows (of the smaller set) worth scoring: the discriminative score holds out 20 % of
#: each set, so 10 windows leave 2 held-out ones per set; fewer gives a number from one window
MIN_WINDOWS = 10
PLOTS = ("pca", "tsne", "histogram", "channels")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``kernelops evaluate``."""
    parser.add_argument("run", nargs="?", default=None, metavar="RUN",
                        help="a run folder from 'kernelops fit' (real windows from its dataset, "
                             "generated ones from RUN/fake_scaled.npy or sampled from its checkpoint)")
    parser.add_argument("--real", default=None, metavar="REAL.npy",
                        help="real windows, shape (n, seq_len, features), scaled to [0, 1]")
    parser.add_argument("--real-dataset", default=None, metavar="NAME",
                        help="take the real windows from a registered dataset instead (kernelops datasets)")
    parser.add_argument("--fake", default=None, metavar="FAKE.npy",
                        help="generated windows, same (seq_len, features), scaled to [0, 1]")
    parser.add_argument("--metrics", nargs="+", default=list(METRIC_NAMES), choices=METRIC_NAMES,
                        metavar="NAME", help=f"metrics to compute (default: all of {', '.join(METRIC_NAMES)})")
    parser.add_argument("--runs", type=int, default=5, help="repetitions with seeds seed, seed+1, ... (default 5)")
    parser.add_argument("--fast", action="store_true",
                        help="10x fewer training iterations for the learned metrics (quick look; "
                             "numbers not comparable with published tables)")
    parser.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="where metrics.json and the PNGs go (default: RUN, or the fake file's folder)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default cpu)")
    parser.add_argument("--num", type=int, default=None,
                        help="with RUN and no generated file: windows to sample (default: as many as real)")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNGs")
    parser.add_argument("--loglik", type=int, default=64, metavar="K",
                        help="with RUN: also the run's log-likelihood of K windows (default 64; 0: off) of "
                             "--loglik-input, else of the real windows (docs/likelihood.md)")
    parser.add_argument("--held-out", default=None, metavar="HELD.npy",
                        help="held-out real windows on the [0, 1] scale: also score against them and run the "
                             "copy test against the training windows (those of RUN, else --real); default with "
                             "RUN: RUN/held_out_scaled.npy when it exists")
    parser.add_argument("--loglik-input", default=None, metavar="HELD.npy",
                        help="held-out windows on the [0, 1] scale for --loglik (default: the real windows, which "
                             "are the training windows when they come from the run's own dataset)")


# -- inputs -------------------------------------------------------------------------------------
def load_windows(path: str | Path, role: str) -> np.ndarray:
    """Read a .npy of windows (n, seq_len, features) as float32, naming the file in every error.

    Args:
        path: the file.
        role: ``"real"`` or ``"fake"`` (used in messages).

    Raises:
        FileNotFoundError: no such file.
        DataError: unreadable, not numeric, wrong rank, empty, or NaN / inf values.

    Shape:
        returns: (n, seq_len, features).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--{role}: no such file: {path}")
    try:
        arr = np.load(path, allow_pickle=False)
    except Exception as exc:  # not an .npy, truncated, or an object array
        raise DataError(f"--{role} {path}: cannot read it as a .npy array ({exc})") from None
    if isinstance(arr, np.lib.npyio.NpzFile):
        arr.close()
        raise DataError(f"--{role} {path}: is an .npz archive; expected a .npy array of windows")
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise DataError(f"--{role} {path}: expected numbers, got dtype {arr.dtype}")
    if arr.ndim != 3:
        raise ShapeError(f"--{role} {path}: expected shape (n, seq_len, features), got {arr.shape}")
    if min(arr.shape) < 1 or arr.shape[0] < 2 or arr.shape[1] < 2:
        raise ShapeError(f"--{role} {path}: expected at least 2 windows of at least 2 steps, got {arr.shape}")
    bad = int(np.size(arr) - np.isfinite(arr).sum())
    if bad:
        first = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
        raise DataError(f"--{role} {path}: contains {bad} NaN or infinite value(s) (first at index {first})")
    return arr.astype(np.float32, copy=False)


def check_compatible(real: np.ndarray, fake: np.ndarray, real_name: str, fake_name: str) -> None:
    """Real and generated windows must share seq_len and the number of features."""
    if real.shape[2] != fake.shape[2]:
        raise ShapeError(f"{fake_name} has {fake.shape[2]} features but {real_name} has {real.shape[2]} "
                         f"(shapes {fake.shape} and {real.shape})")
    if real.shape[1] != fake.shape[1]:
        raise ShapeError(f"{fake_name} has windows of {fake.shape[1]} steps but {real_name} has {real.shape[1]} "
                         f"(shapes {fake.shape} and {real.shape})")


def check_enough(real: np.ndarray, fake: np.ndarray) -> None:
    """Refuse to score fewer than :data:`MIN_WINDOWS` windows (the larger set is subsampled to the smaller)."""
    n = min(len(real), len(fake))
    if n < MIN_WINDOWS:
        raise DataError(f"only {n} windows to compare (real {len(real)}, fake {len(fake)}; the larger set is "
                        f"subsampled to the smaller); at least {MIN_WINDOWS} are needed for a score that is not "
                        "from one or two held-out windows; draw more (kernelops sample --num, evaluate --num)")


def scale_warning(arr: np.ndarray, name: str) -> str | None:
    """One line when values leave [0, 1]: how many, or, when most are far outside, that the file
    is probably in the original scale (a generator's samples may overshoot [0, 1] a little)."""
    outside = int(((arr < 0) | (arr > 1)).sum())
    if outside == 0:
        return None
    lo, hi = float(arr.min()), float(arr.max())
    far = float(((arr < -0.5) | (arr > 1.5)).mean())
    if far > 0.1:
        return (f"warning: {name}: {100 * far:.0f} % of the values lie far outside [0, 1] (span [{lo:.4g}, {hi:.4g}]); "
                "the metrics expect the [0, 1] scale (pass the *_scaled.npy file that 'kernelops sample' writes)")
    return (f"note: {name}: {outside} of {arr.size} values ({100 * outside / arr.size:.2g} %) lie outside [0, 1] "
            f"(span [{lo:.4g}, {hi:.4g}]); they are scored as they are")


def _device(name: str) -> str:
    if name == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


# -- run folders ---------------------------------------------------------------------------------
def read_run_config(run: Path) -> dict[str, Any]:
    """``RUN/config.json`` as a dict (the run folder layout of ``kernelops fit``)."""
    if not run.is_dir():
        raise FileNotFoundError(f"RUN: no such run folder: {run}")
    path = run / "config.json"
    if not path.is_file():
        raise DataError(f"RUN {run}: has no config.json; expected a run folder written by 'kernelops fit'")
    try:
        config = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(config, dict):
        raise DataError(f"{path}: expected a JSON object")
    return config


def data_spec(config: dict[str, Any]) -> dict[str, Any]:
    """The dataset arguments of a run config, for :func:`kernelops.data.resolve_dataset`.

    ``kernelops fit`` records them under ``"source"``: ``dataset`` (a registered name) or
    ``data`` (a user file), ``window``, ``stride`` and ``columns`` (None: the dataset's own
    layout). A flat config with those keys at the top level is accepted too.
    """
    spec = config["source"] if isinstance(config.get("source"), dict) else config
    dataset, data = spec.get("dataset"), spec.get("data")
    if not (dataset is None or isinstance(dataset, str)) or not (data is None or isinstance(data, str)) \
            or (dataset is None) == (data is None):
        raise DataError("run config: expected exactly one of source.dataset (a registered name) or source.data "
                        f"(a file path); found dataset={dataset!r}, data={data!r}")
    out = {"dataset": dataset, "data": data, "window": spec.get("window"), "stride": spec.get("stride"),
           "columns": spec.get("columns")}
    if spec.get("key") is not None:  # the array of a multi-array .npz (`kernelops fit --key`)
        out["key"] = spec["key"]
    return out


def real_from_run(run: Path) -> tuple[np.ndarray, str, list[str]]:
    """The run's training windows on the [0, 1] scale, rebuilt from its config.

    A run trained with ``--hold-out`` (config ``held_out``) gives its training part only; its
    held-out windows are ``RUN/held_out_scaled.npy``.

    Returns:
        (windows, description, feature names).
    """
    from kernelops.data import resolve_dataset
    from kernelops.data.holdout import training_part

    config = read_run_config(run)
    ds = resolve_dataset(**data_spec(config))
    if config.get("held_out") is not None:
        ds = training_part(ds, config["held_out"], f"RUN {run}")
    return ds.windows, f"{ds.name} ({ds.source})", list(ds.feature_names)


def sample_from_run(run: Path, num: int, seed: int, device: str) -> np.ndarray:
    """Sample ``num`` windows on the [0, 1] scale from ``RUN/checkpoint.pt``.

    Shape:
        returns: (num, seq_len, features), float32.
    """
    from kernelops.flows import SpectralMeanFlow

    checkpoint = run / "checkpoint.pt"
    if not checkpoint.is_file():
        raise FileNotFoundError(f"RUN {run}: has neither fake_scaled.npy nor checkpoint.pt to sample from")
    model = SpectralMeanFlow.load(checkpoint, map_location=device)
    fake = model.sample(int(num), seed=seed)
    return fake.detach().cpu().numpy().astype(np.float32)


def cached_samples(run: Path) -> Path | None:
    """``RUN/fake_scaled.npy`` unless it is missing or older than ``RUN/checkpoint.pt``.

    A run trained further (``kernelops fit --resume``) after it was sampled would otherwise be
    scored on the old model's windows; those are then ignored (and replaced by fresh samples).
    """
    cached, checkpoint = run / "fake_scaled.npy", run / "checkpoint.pt"
    if not cached.is_file():
        return None
    if checkpoint.is_file() and checkpoint.stat().st_mtime > cached.stat().st_mtime:
        print(f"note: {cached} is older than {checkpoint}; sampling afresh", file=sys.stderr)
        return None
    return cached


def loglik_from_run(run: Path, windows: np.ndarray, source: str, count: int, seed: int, device: str) -> dict[str, Any]:
    """The run's log-likelihood of ``count`` of ``windows`` (chosen with ``seed``), on the [0, 1] scale.

    Shape:
        windows: (n, seq_len, features) in [0, 1].
    """
    from kernelops.flows import SpectralMeanFlow
    from kernelops.flows.config import LIKELIHOOD_SOLVER, LIKELIHOOD_STEPS

    model = SpectralMeanFlow.load(run / "checkpoint.pt", map_location=device)
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(len(windows), size=min(count, len(windows)), replace=False))
    start = time.perf_counter()
    result = model.log_prob(windows[chosen].astype(np.float64))
    values = result.log_prob.detach().cpu().double().numpy()
    return {"windows": int(len(chosen)), "source": source, "scale": "[0, 1]",
            "mean_nats_per_window": float(values.mean()),
            "sem_nats_per_window": float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else None,
            "bits_per_value": float(result.bits_per_value.mean()), "exact": result.exact, "probes": result.probes,
            "solver": LIKELIHOOD_SOLVER, "steps": LIKELIHOOD_STEPS, "nfe": result.nfe,
            "seconds": round(time.perf_counter() - start, 3)}


# -- output --------------------------------------------------------------------------------------
#: the rows :func:`format_table` prints for :func:`kernelops.metrics.distribution_scores`
DISTRIBUTION_ROWS = (("marginal_w1", "marginal_wasserstein"), ("spectral_tv", "spectral_distance"),
                     ("outside_range", "value_range_share"))


def format_table(results: dict[str, dict[str, Any]], distribution: dict[str, Any] | None = None) -> str:
    """Metric, mean ± std and runs as an aligned text table.

    ``distribution`` (from :func:`kernelops.metrics.distribution_scores`) adds one row per score:
    the mean over channels (the share of values for the range), exact, so with no spread or runs.
    """
    rows = [("metric", "mean ± std", "runs")]
    for name, r in results.items():
        rows.append((name, f"{r['mean']:.4f} ± {r['std']:.4f}", str(r.get("runs", len(r.get("values", []))))))
    if distribution is not None:
        for label, key in DISTRIBUTION_ROWS:
            value = distribution[key]
            mean = value["mean"] if isinstance(value, dict) else value
            rows.append((label, f"{mean:.4f}", "exact"))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def write_plots(real: np.ndarray, fake: np.ndarray, out: Path, seed: int,
                feature_names: list[str] | None = None) -> list[str]:
    """pca.png, tsne.png, histogram.png and channels.png in ``out``; returns their names."""
    from kernelops.viz.distributions import plot_channel_overlays, plot_histogram
    from kernelops.viz.embedding import plot_embedding

    written = [
        plot_embedding(real, fake, out / "pca.png", method="pca", seed=seed),
        plot_embedding(real, fake, out / "tsne.png", method="tsne", seed=seed),
        plot_histogram(real, fake, out / "histogram.png"),
        plot_channel_overlays(real, fake, out / "channels.png", seed=seed, feature_names=feature_names),
    ]
    return [p.name for p in written]


def _finite_or_none(obj: Any) -> Any:
    """Replace NaN / inf floats by None so the JSON is strict (e.g. ci95 of a single run)."""
    if isinstance(obj, float):
        return obj if np.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite_or_none(v) for v in obj]
    return obj


def held_out_path(args: argparse.Namespace, run_dir: Path | None) -> Path | None:
    """``--held-out``, else ``RUN/held_out_scaled.npy`` when it exists, else None."""
    if args.held_out is not None:
        return Path(args.held_out)
    if run_dir is not None and (run_dir / "held_out_scaled.npy").is_file():
        return run_dir / "held_out_scaled.npy"
    return None


def complete_windows(windows: np.ndarray) -> np.ndarray:
    """The windows without a missing (NaN) entry: a distance to a gappy window is undefined.

    Shape:
        windows: (n, seq_len, features). returns: (m, seq_len, features), m ≤ n.
    """
    keep = ~np.isnan(windows).reshape(len(windows), -1).any(axis=1)
    return windows if keep.all() else windows[keep]


def format_loglik(loglik: dict[str, Any]) -> str:
    """One line for a :func:`loglik_from_run` result."""
    sem = loglik["sem_nats_per_window"]
    return (f"log-likelihood of {loglik['windows']} windows of {loglik['source']}: {loglik['mean_nats_per_window']:.4g}"
            + (f" ± {sem:.2g}" if sem is not None else "") + f" nats per window on the [0, 1] scale, "
            f"{loglik['bits_per_value']:.4g} bits per value (higher log p is better; NFE {loglik['nfe']})")


def format_copy_test(result: dict[str, Any]) -> str:
    """What the copy test found: a line per reference (held-out windows; the training period itself)."""
    lines = []
    if "ratio" in result:
        lines.append(
            f"copy test: nearest-training-window distance, median of generated {result['median_fake']:.4g} vs "
            f"held-out real {result['median_held_out']:.4g}: ratio {result['ratio']:.3g} (about 1: new windows; "
            f"near 0: copies); {100 * result['share_below']:.1f} % of generated windows lie closer than the "
            f"held-out windows' {100 * result['quantile']:g}st percentile (about {100 * result['quantile']:g} % "
            f"for new windows)")
    if "within" in result:
        within = result["within"]
        lines.append(
            f"copy test within the training period: median of generated {result['median_fake']:.4g} vs training "
            f"windows to the nearest one {within['gap'] + 1}+ windows away {within['median']:.4g}: ratio "
            f"{within['ratio']:.3g}; {100 * within['share_below']:.1f} % of generated windows lie closer than "
            f"their {100 * result['quantile']:g}st percentile (a drift after the training period cannot move "
            "this reference)")
    return "\n".join(lines)


def run_copy_test(args: argparse.Namespace, run_dir: Path | None, real: np.ndarray, real_desc: str,
                  fake: np.ndarray, fake_desc: str, held: np.ndarray | None) -> dict[str, Any] | None:
    """The copy test against the training windows, or None when they are unknown.

    The training windows are the run's own (whatever ``--real`` scores against); without a run
    folder, ``--real`` stands in for them only when held-out windows are given (the held-out
    reference). With a run folder, the within-training-period reference is added (training windows
    in time order, leaving out the seq_len − 1 neighbours on each side that share a time step).
    """
    from kernelops.metrics import copy_test

    if run_dir is not None and (args.real is not None or args.real_dataset is not None):
        train, train_desc, _ = real_from_run(run_dir)
    else:
        train, train_desc = real, real_desc
    train = complete_windows(train)
    reach = train.shape[1] - 1  # windows sharing a time step with a window lie within this many of it
    # the within-period reference needs the run's windows in time order and a neighbour out of reach
    gap = reach if run_dir is not None and len(train) > 2 * reach + 1 else None
    if held is None and gap is None:
        return None
    check_compatible(train, fake, f"training windows ({train_desc})", f"fake ({fake_desc})")
    return copy_test(train, fake, held, gap=gap) | {"train_source": train_desc}


def run(args: argparse.Namespace) -> int:
    """Entry point of ``kernelops evaluate``."""
    from kernelops.utils.atomic import atomic_write

    if args.loglik < 0:
        raise ValueError(f"--loglik: expected a non-negative number of windows, got {args.loglik}")
    if args.loglik_input is not None and not args.run:
        raise ValueError("--loglik-input: needs a run folder (kernelops evaluate RUN) whose model scores it")
    if args.runs < 1:
        raise ValueError(f"--runs: expected a positive integer, got {args.runs}")
    if args.num is not None and args.num < MIN_WINDOWS:
        raise ValueError(f"--num: expected at least {MIN_WINDOWS} windows, got {args.num}")
    device = _device(args.device)
    run_dir = Path(args.run) if args.run else None
    if args.real is not None and args.real_dataset is not None:
        raise ValueError("give --real REAL.npy or --real-dataset NAME, not both")
    has_real = args.real is not None or args.real_dataset is not None
    if run_dir is None and (not has_real or args.fake is None):
        raise ValueError("give a run folder (kernelops evaluate RUN) or --fake FAKE.npy with --real REAL.npy "
                         "or --real-dataset NAME")

    # real windows
    feature_names: list[str] | None = None
    if args.real is not None:
        real = load_windows(args.real, "real")
        real_desc = str(args.real)
    elif args.real_dataset is not None:
        from kernelops.data import resolve_dataset

        ds = resolve_dataset(dataset=args.real_dataset)
        real, real_desc, feature_names = ds.windows, f"{ds.name} ({ds.source})", list(ds.feature_names)
    else:
        assert run_dir is not None
        real, real_desc, feature_names = real_from_run(run_dir)
        missing = int(np.isnan(real).sum())
        if missing:  # refused before sampling: the metrics need complete real windows
            raise DataError(f"RUN {run_dir}: its training data ({real_desc}) have {missing} missing (NaN) entries; "
                            "the scores need complete real windows: pass them with --real REAL.npy ([0, 1] scale) "
                            "or --real-dataset NAME")
    # held-out windows, checked before anything is sampled
    held: np.ndarray | None = None
    held_file = held_out_path(args, run_dir)
    if held_file is not None:
        held, held_desc = load_windows(held_file, "held-out"), str(held_file)
        check_compatible(real, held, f"real ({real_desc})", f"held-out ({held_desc})")
    # generated windows
    sampled = False
    if args.fake is not None:
        fake_path: Path | None = Path(args.fake)
    else:
        assert run_dir is not None
        fake_path = cached_samples(run_dir)
    if fake_path is not None:
        fake = load_windows(fake_path, "fake")
        fake_desc = str(fake_path)
    else:
        assert run_dir is not None
        num = args.num or len(real)
        print(f"sampling {num} windows from {run_dir / 'checkpoint.pt'} ...", file=sys.stderr)
        fake = sample_from_run(run_dir, num, args.seed, device)
        fake_desc = f"{num} windows sampled from {run_dir / 'checkpoint.pt'} (seed {args.seed})"
        sampled = True
    check_compatible(real, fake, f"real ({real_desc})", f"fake ({fake_desc})")
    check_enough(real, fake)
    if held is not None:
        if min(len(held), len(fake)) < MIN_WINDOWS:
            raise DataError(f"held-out ({held_desc}): only {min(len(held), len(fake))} windows to compare (held-out "
                            f"{len(held)}, fake {len(fake)}); at least {MIN_WINDOWS} are needed (hold out a larger "
                            "fraction, or draw more windows)")
    inputs = [(real, f"real ({real_desc})"), (fake, f"fake ({fake_desc})")]
    if held is not None:
        inputs.append((held, f"held-out ({held_desc})"))
    for arr, name in inputs:
        warning = scale_warning(arr, name)
        if warning:
            print(f"kernelops evaluate: {warning}", file=sys.stderr)

    out = Path(args.out) if args.out else (run_dir if run_dir is not None else Path(args.fake).parent)
    out.mkdir(parents=True, exist_ok=True)
    if sampled:
        atomic_write(out / "fake_scaled.npy", lambda fh: np.save(fh, fake))
        fake_desc += f", saved to {out / 'fake_scaled.npy'}"

    # torch is imported only once the inputs are known good
    from kernelops.metrics import distribution_scores, evaluate_all

    start = time.perf_counter()
    results = evaluate_all(real, fake, metrics=args.metrics, runs=args.runs, seed=args.seed, fast=args.fast,
                           device=device, progress=sys.stderr.isatty())
    distribution = distribution_scores(real, fake)
    copies = run_copy_test(args, run_dir, real, real_desc, fake, fake_desc, held)
    held_report: dict[str, Any] | None = None
    if held is not None:
        held_report = {
            "source": held_desc, "shape": list(held.shape),
            "metrics": evaluate_all(held, fake, metrics=args.metrics, runs=args.runs, seed=args.seed,
                                    fast=args.fast, device=device, progress=sys.stderr.isatty()),
            "distribution": distribution_scores(held, fake),
            "copy_test": copies,
            "loglik": None,  # filled in below when the run has a checkpoint and --loglik > 0
        }
    seconds = time.perf_counter() - start
    if feature_names is not None and len(feature_names) != real.shape[2]:
        feature_names = None
    plots = [] if args.no_plots else write_plots(real, fake, out, args.seed, feature_names)
    loglik = None
    if run_dir is not None and args.loglik > 0 and not (run_dir / "checkpoint.pt").is_file():
        print(f"note: {run_dir} has no checkpoint.pt: no log-likelihood", file=sys.stderr)
    elif run_dir is not None and args.loglik > 0:
        if args.loglik_input is not None:
            scored, scored_desc = load_windows(args.loglik_input, "loglik-input"), str(args.loglik_input)
            check_compatible(real, scored, f"real ({real_desc})", f"--loglik-input ({scored_desc})")
        else:
            scored, scored_desc = real, f"real ({real_desc})"
        loglik = loglik_from_run(run_dir, scored, scored_desc, args.loglik, args.seed, device)
        if held is not None and held_report is not None:  # log p of unseen windows: the held-out score
            held_report["loglik"] = loglik_from_run(run_dir, held, f"held-out ({held_desc})", args.loglik,
                                                    args.seed, device)

    from kernelops import __version__

    report = {
        "metrics": results,
        "distribution": distribution | {
            "note": "exact, on all windows of both sets: marginal_wasserstein and spectral_distance per channel and "
                    "their mean, value_range_share the share of generated values outside the real per-channel "
                    "[min, max]; lower is better (docs/metrics.md)"},
        "held_out": held_report,
        "copy_test": copies,
        "real": {"source": real_desc, "shape": list(real.shape)},
        "fake": {"source": fake_desc, "shape": list(fake.shape)},
        "runs": args.runs, "seed": args.seed, "fast": bool(args.fast), "device": device,
        "metric_seconds": round(seconds, 3), "plots": plots, "kernelops_version": __version__, "loglik": loglik,
        "note": "lower is better; the larger set is subsampled to the size of the smaller in each run",
    }
    text = json.dumps(_finite_or_none(report), indent=2, allow_nan=False) + "\n"
    atomic_write(out / "metrics.json", lambda fh: fh.write(text), mode="w")

    print(f"real: {real_desc} {tuple(real.shape)}")
    print(f"fake: {fake_desc} {tuple(fake.shape)}")
    print(format_table(results, distribution))
    if held_report is not None:
        print(f"\nagainst held-out windows: {held_report['source']} {tuple(held_report['shape'])}")
        print(format_table(held_report["metrics"], held_report["distribution"]))
    if copies is not None:
        print(format_copy_test(copies))
    for ll in (loglik, held_report.get("loglik") if held_report is not None else None):
        if ll is not None:
            print(format_loglik(ll))
    if args.fast:
        print("(fast mode: fewer training iterations; not comparable with published numbers)")
    print(f"wrote {out / 'metrics.json'}" + (f" and {', '.join(plots)}" if plots else ""))
    return 0
