"""``kernelops fit``: train a spectral mean flow and write a run folder.

A run folder holds

* ``config.json``: the data source, model and training settings, versions (human readable; written
  when the run starts and again when it ends);
* ``checkpoint.pt``: model, EMA, optimizer, step, RNG states, data scaler (atomic, every
  ``--checkpoint-every`` steps, at the end and on Ctrl-C);
* ``loss.csv``: ``step,loss,lr`` for every step;
* ``samples.png``: generated windows over real ones, written at the end;
* ``held_out_scaled.npy``: with ``--hold-out F`` only, the held-out last ``F`` of the windows on the
  run's [0, 1] scale (the run trains on the windows before them; docs/held_out.md).

``kernelops fit --resume RUN`` reloads the checkpoint and the same data and continues exactly
where the run stopped (the loss sequence equals an uninterrupted run's); ``--steps`` may extend
it (the cosine learning-rate decay is then re-stretched to the new total).

Data parallel: ``torchrun --standalone --nproc-per-node K -m kernelops fit ...`` trains with
DistributedDataParallel on K processes (gloo on the CPU, nccl with one GPU per process), each
drawing its share of every batch (``--batch-size`` is the global batch). Rank 0 alone writes the
run folder; ``config.json`` records ``world_size`` and, in ``world_sizes``, the step from which
each process count trained. A run may be resumed on any number of processes (the random streams
on a change: :mod:`kernelops.flows.train.ddp`).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from kernelops.flows.config import DEFAULT_PATH, DEFAULT_SOLVER, POTENTIAL_SAMPLE_STEPS

HELP = "train a spectral mean flow on a dataset or a file and write a run folder"

#: run-level settings of `kernelops fit`; the model's and the training's come from FieldConfig and
#: TrainConfig (kernelops.flows.config, which imports no torch), the same defaults Python uses
RUN_DEFAULTS: dict[str, Any] = {"path": DEFAULT_PATH, "solver": DEFAULT_SOLVER, "seed": 0, "device": "auto",
                                "sample_steps": None, "plot_samples": 256, "discrete": "auto"}
_FIELD_FLAGS = ("potential", "depth", "width", "rank", "skip", "conditional", "condition_rank", "local_context")
_TRAIN_FLAGS = ("steps", "batch_size", "lr", "warmup", "target", "stability_weight", "checkpoint_every")
_MODEL_FLAGS = ("path", "seed", "sample_steps", "solver", "discrete", *_FIELD_FLAGS)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from kernelops.flows.config import POTENTIAL_SIZES, POTENTIALS, SKIPS, TARGETS, FieldConfig, TrainConfig

    field, train = FieldConfig(), TrainConfig()
    src = parser.add_argument_group("data (one of --dataset / --data; default --dataset sines)")
    src.add_argument("--dataset", help="registered dataset name (see `kernelops datasets`)")
    src.add_argument("--data", metavar="FILE", help="your own series: .csv (header row), .npy or .npz")
    src.add_argument("--window", type=int, default=None, help="window length N (default 24 for files, the dataset's own otherwise)")
    src.add_argument("--stride", type=int, default=None, help="step between windows (default 1 for files)")
    src.add_argument("--columns", help="comma-separated columns of a CSV file to use")
    src.add_argument("--key", help="the array of an .npz file holding several (required then; the error lists them)")
    src.add_argument("--hold-out", type=float, default=None, metavar="F",
                     help="train on the first windows only and write the last F of them (0 < F < 1, in time order; "
                          "the seq_len - 1 windows between are dropped so none shares a time step) to "
                          "RUN/held_out_scaled.npy for scoring (default: train on every window)")
    run = parser.add_argument_group("run folder")
    run.add_argument("--out", metavar="RUN", help="run folder to create (default runs/<dataset>-<YYYYmmdd-HHMMSS>)")
    run.add_argument("--resume", metavar="RUN", help="continue the run in this folder exactly where it stopped")
    run.add_argument("--checkpoint-every", type=int, default=None, help=f"steps between checkpoints (default {train.checkpoint_every})")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    model = parser.add_argument_group("model and training")
    model.add_argument("--path", help=f"probability path: ot, vp, ve or a plugin's affine path (default {RUN_DEFAULTS['path']})")
    model.add_argument("--solver", help=f"ODE solver for sampling (default {RUN_DEFAULTS['solver']})")
    model.add_argument("--steps", type=int, help=f"total optimisation steps (default {train.steps})")
    model.add_argument("--batch-size", type=int, help=f"windows per step (default {train.batch_size})")
    model.add_argument("--lr", type=float, help=f"peak learning rate (default {train.lr})")
    model.add_argument("--warmup", type=int, help=f"learning-rate warm-up steps (default {train.warmup}, at most steps/10)")
    model.add_argument("--potential", choices=POTENTIALS,
                       help=f"learned potential: chain (the spectral mean flow: spectral chains over per-step "
                            f"features, any length) or window (a learned kernel on whole windows: an MLP on the "
                            f"flattened window, training length only; far better and cheaper on Sines, see "
                            f"docs/spectral_mean_flow.md) (default {field.potential})")
    sizes = ", ".join(f"{name} {d}" for name, (d, _) in POTENTIAL_SIZES.items())
    model.add_argument("--depth", type=int, help=f"chain: feature network depth L; window: hidden layers (default {sizes})")
    sizes = ", ".join(f"{name} {w}" for name, (_, w) in POTENTIAL_SIZES.items())
    model.add_argument("--width", type=int, help=f"chain: feature network width d_h, even; window: hidden units (default {sizes})")
    model.add_argument("--rank", type=int, help="chain rank r, a multiple of depth (default depth*width/2)")
    model.add_argument("--local-context", type=int,
                       help="window potential: the steps on each side of every step that its local term reads, a "
                            "small network shared by all steps that learns per-step structure (levels, bounds, "
                            f"spikes) far faster than the whole-window MLP; 0: no local term (default {field.local_context})")
    model.add_argument("--skip", choices=SKIPS,
                       help="closed-form start of the field: the posterior mean of a Gaussian with the windows' mean "
                            "and covariance (window: samples the training length only), or each feature's mean and "
                            "variance (channel: any length, independent steps), or each feature a stationary Gaussian "
                            "process (stationary: any length, correlated steps), or none: v = −∇f learned directly, "
                            f"better for data far from Gaussian such as stock prices (any length); default {field.skip}")
    model.add_argument("--conditional", action="store_true", default=None,
                       help="train a mask-conditioned field (random masks per window), for `kernelops impute` and "
                            "`kernelops forecast` with --method field; it still samples unconditionally. Window "
                            "potential and window skip only (docs/conditional_generation.md)")
    model.add_argument("--condition-rank", type=int,
                       help="eigen-directions of the window Gaussian kept exactly when conditioning on observed "
                            f"entries (impute, forecast, --conditional); exact up to this many values per window "
                            f"(default {field.condition_rank})")
    model.add_argument("--stability-weight", type=float,
                       help="weight of the eigenvalue (stability) regulariser, chain potential only (default "
                            f"{train.stability_weight}: off; docs/spectral_mean_flow.md)")
    model.add_argument("--target", choices=TARGETS,
                       help="regression target: the training set's exact posterior mean of the clean window, or the "
                            f"drawn window itself (same optimum, more gradient noise); default {train.target}")
    model.add_argument("--seed", type=int, help=f"seed of initialisation and training draws (default {RUN_DEFAULTS['seed']})")
    model.add_argument("--device", choices=("cpu", "cuda", "auto"), help="where to train (default auto)")
    steps = ", ".join(f"{name} {n}" for name, n in POTENTIAL_SAMPLE_STEPS.items())
    model.add_argument("--sample-steps", type=int, help=f"solver steps for samples.png and `kernelops sample` (default {steps})")
    model.add_argument("--discrete", choices=("auto", "none"),
                       help="auto: a channel whose training values are a few evenly spaced levels (counts, ratings, "
                            "on/off; at most 32) gets generated values rounded to those levels; none: every channel "
                            "continuous (default auto; docs/spectral_mean_flow.md, 'Discrete channels')")


def _check_positive(name: str, value: int | float | None, *, allow_zero: bool = False) -> None:
    if value is None:
        return
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"--{name.replace('_', '-')}: expected a {'non-negative' if allow_zero else 'positive'} number, got {value}")


def _validate(args: argparse.Namespace) -> None:
    for name in ("steps", "batch_size", "depth", "width", "rank", "sample_steps", "window", "stride", "checkpoint_every"):
        _check_positive(name, getattr(args, name, None))
    _check_positive("lr", args.lr)
    _check_positive("warmup", args.warmup, allow_zero=True)
    _check_positive("stability_weight", args.stability_weight, allow_zero=True)
    if getattr(args, "hold_out", None) is not None:
        from kernelops.data.holdout import check_fraction

        check_fraction(args.hold_out)
    if args.resume and (args.dataset or args.data or args.out or args.key):
        raise ValueError("--resume RUN continues a run with its own data and folder; do not combine it with --dataset/--data/--key/--out")
    data_flags = [f"--{f}" for f in ("window", "stride", "columns") if getattr(args, f, None) is not None]
    if args.resume and data_flags:
        raise ValueError(f"--resume RUN windows its data as the run did; {', '.join(data_flags)} cannot change that "
                         "(start a new run with --out to use other windows)")
    if args.dataset and args.data:
        raise ValueError("give either --dataset NAME or --data FILE, not both")
    if args.key is not None and not (args.data and args.data.lower().endswith(".npz")):
        raise ValueError("--key picks an array of an .npz file; it needs --data FILE.npz")


def _load_dataset(source: dict[str, Any]) -> Any:
    from kernelops.data import resolve_dataset

    extra = {"key": source["key"]} if source.get("key") is not None else {}
    return resolve_dataset(dataset=source.get("dataset"), data=source.get("data"), window=source.get("window"),
                           stride=source.get("stride"), columns=source.get("columns"), **extra)


def _read_config(path: Path) -> dict[str, Any]:
    """A run's config.json as a dict; a damaged one is an error naming the file."""
    from kernelops.errors import CheckpointError

    if not path.exists():
        return {}
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"--resume: {path} is corrupt ({exc}); the checkpoint does not need it: "
                              "move it aside and resume again (it is rewritten)") from None
    if not isinstance(config, dict):
        raise CheckpointError(f"--resume: {path} is corrupt (holds a JSON {type(config).__name__}, expected an object); "
                              "move it aside and resume again (it is rewritten)")
    return config


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    from kernelops.utils.atomic import atomic_write

    atomic_write(path, lambda fh: fh.write(json.dumps(payload, indent=2, sort_keys=False) + "\n"), mode="w")


def _prepare_loss_csv(path: Path, keep_until: int) -> None:
    """Keep the rows up to the checkpoint's step (a crash may have logged steps past it)."""
    from kernelops.errors import CheckpointError
    from kernelops.utils.atomic import atomic_write

    rows: list[list[str]] = []
    if path.exists():
        try:
            with open(path, newline="", encoding="utf-8") as fh:
                for row in csv.reader(fh):
                    if row and row[0].isdigit() and int(row[0]) <= keep_until:
                        rows.append(row)
        except (UnicodeDecodeError, csv.Error) as exc:
            raise CheckpointError(f"--resume: {path} is corrupt ({exc}); move it aside to resume "
                                  "(the loss log then restarts at the checkpoint's step)") from None
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["step", "loss", "lr"])
    writer.writerows(rows)
    atomic_write(path, lambda fh: fh.write(buf.getvalue()), mode="w")


def run(args: argparse.Namespace) -> int:
    from kernelops.utils.device import resolve_device
    from kernelops.utils.distributed import session_from_env

    _validate(args)
    with session_from_env(resolve_device(args.device or RUN_DEFAULTS["device"])) as device, \
            contextlib.ExitStack() as locks:
        return _run(args, device, locks)


def _lock(run_dir: Path, locks: contextlib.ExitStack) -> None:
    """Hold RUN/.lock until the run ends (rank 0 takes it; every rank fails together if it cannot)."""
    from kernelops.utils import distributed as dist
    from kernelops.utils.runlock import RunLocked, run_lock

    failure: BaseException | None = None
    if dist.is_main():
        try:
            cleared = locks.enter_context(run_lock(run_dir))
        except (RunLocked, OSError) as exc:
            failure = exc
        else:
            if cleared:
                print(f"kernelops fit: note: cleared a stale lock in {run_dir} (pid {cleared.get('pid')} on "
                      f"{cleared.get('host')} is no longer running)", file=sys.stderr)
    message = dist.broadcast_object(None if failure is None else str(failure))
    if failure is not None:
        raise failure
    if message is not None:
        raise RunLocked(message)


def _check_same_data(model: Any, ds: Any, ckpt: Path) -> None:
    """Refuse to resume on data other than the run's (its values, order or range changed)."""
    from kernelops.errors import DataError
    from kernelops.utils.fingerprint import dataset_fingerprint, describe_change

    change = describe_change(model.extra.get("data_fingerprint"), dataset_fingerprint(ds), model.scaler_state)
    if change is not None:
        where = model.extra.get("source", {}).get("data") or model.extra.get("source", {}).get("dataset")
        raise DataError(f"--resume: the data of {ckpt.parent} ({where}) differ from those it was trained on: {change}; "
                        "restore them to resume, or train on the new data in a new run (kernelops fit --out NEW)")


def _check_same_hold_out(record: dict[str, Any] | None, requested: float | None, run_dir: Path) -> None:
    """Refuse a --hold-out on --resume that differs from the run's own split (or adds one)."""
    if requested is None:
        return  # the run keeps its split
    had = None if record is None else record.get("fraction")
    if had is None or float(had) != float(requested):
        was = f"with --hold-out {had:g}" if had is not None else "on every window (no --hold-out)"
        raise ValueError(f"--hold-out {requested:g}: {run_dir} was trained {was}; a run keeps its split "
                         "(leave --hold-out out to resume, or train with the new split in a new run: --out NEW)")


def _write_held_out(path: Path, ds: Any, record: dict[str, Any]) -> None:
    """RUN/held_out_scaled.npy: the held-out windows on the run's [0, 1] scale (atomic)."""
    import numpy as np

    from kernelops.utils.atomic import atomic_write

    held = ds.windows[ds.num_windows - record["windows"]:]
    atomic_write(path, lambda fh: np.save(fh, held))


def _run(args: argparse.Namespace, device: Any, locks: contextlib.ExitStack) -> int:
    import torch

    from kernelops import __version__
    from kernelops.data.checks import check_window_count
    from kernelops.data.holdout import hold_out, training_part
    from kernelops.errors import CheckpointError, DiskFullError
    from kernelops.flows import SpectralMeanFlow
    from kernelops.plugins.manager import get_host
    from kernelops.utils import distributed as dist
    from kernelops.utils.atomic import out_of_space
    from kernelops.utils.fingerprint import dataset_fingerprint

    main = dist.is_main()  # rank 0 alone writes the run folder and prints
    if args.resume:
        run_dir = Path(args.resume)
        ckpt = run_dir / "checkpoint.pt"
        if not run_dir.is_dir():
            raise FileNotFoundError(f"--resume: no run folder {str(run_dir)!r}")
        _lock(run_dir, locks)
        if not ckpt.exists():
            raise CheckpointError(f"--resume: {ckpt} does not exist (the run stopped before its first checkpoint; start it again)")
        ignored = [f"--{f.replace('_', '-')}" for f in (*_MODEL_FLAGS, "batch_size", "lr", "warmup", "target", "stability_weight") if getattr(args, f) is not None]
        if ignored and main:
            print(f"kernelops fit: note: {', '.join(ignored)} ignored on --resume (the run keeps its settings)", file=sys.stderr)
        model = SpectralMeanFlow.load(ckpt, map_location=device)
        source = dict(model.extra.get("source") or {})
        if not source:
            raise CheckpointError(f"--resume: {ckpt} records no data source (not written by `kernelops fit`); "
                                  "resume it from Python with SpectralMeanFlow.load(...).fit(data)")
        if args.steps is not None and args.steps < model.step:
            raise ValueError(f"--steps {args.steps}: the run is already at step {model.step}; give more steps to "
                             f"train further, or leave --steps out to finish its {model.train_config.steps}")
        held_out = model.extra.get("held_out")
        _check_same_hold_out(held_out, getattr(args, "hold_out", None), run_dir)
        ds = _load_dataset(source)
        _check_same_data(model, ds, ckpt)
        model.extra.setdefault("data_fingerprint", dataset_fingerprint(ds))  # runs from before fingerprints
        train_ds = ds if held_out is None else training_part(ds, held_out, f"--resume {run_dir}")
        train = {"steps": args.steps if args.steps is not None else model.train_config.steps}
        config = _read_config(run_dir / "config.json")
        if main:
            print(f"kernelops fit: resuming {run_dir} at step {model.step} of {train['steps']} "
                  f"on {dist.world_size()} process(es)", file=sys.stderr)
    else:
        dataset = args.dataset or (None if args.data else "sines")
        columns = [c.strip() for c in args.columns.split(",")] if args.columns else None
        # realpath, not Path.resolve: a symlink loop must reach the loader's one-line OSError, not a RuntimeError
        source = {"dataset": dataset, "data": os.path.realpath(args.data) if args.data else None,
                  "window": args.window, "stride": args.stride, "columns": columns}
        if args.key is not None:
            source["key"] = args.key
        ds = _load_dataset(source)
        check_window_count(ds, source)
        held_out = None
        train_ds = ds
        if getattr(args, "hold_out", None) is not None:
            train_ds, _, held_out = hold_out(ds, args.hold_out)
            if main and held_out["windows"] < 10:  # kernelops evaluate scores no fewer than 10 windows
                print(f"kernelops fit: note: --hold-out {args.hold_out:g} holds out only {held_out['windows']} "
                      "window(s); scoring needs at least 10", file=sys.stderr)
        opt = {k: (getattr(args, k) if getattr(args, k, None) is not None else v) for k, v in RUN_DEFAULTS.items()}
        # rank 0's clock names the folder, so every rank agrees on it
        run_dir = Path(args.out) if args.out else Path("runs") / dist.broadcast_object(
            f"{ds.name}-{time.strftime('%Y%m%d-%H%M%S')}")
        field = {f: getattr(args, f) for f in _FIELD_FLAGS if getattr(args, f) is not None}
        model = SpectralMeanFlow(path=opt["path"], solver=opt["solver"], seed=opt["seed"], device=device,
                                 sample_steps=opt["sample_steps"], discrete=opt["discrete"], **field)
        if main:
            from kernelops.cli.outputs import check_writable

            check_writable(run_dir / "config.json")  # creates the folder; a read-only place is refused now
        _lock(run_dir, locks)  # before looking for a run: a fit starting beside this one has none yet
        if (run_dir / "checkpoint.pt").exists():
            raise ValueError(f"--out: {run_dir} already holds a run; use --resume {run_dir} or another --out")
        model.scaler_state = ds.scaler.state_dict()
        model.extra = {"source": source, "dataset_name": ds.name, "feature_names": list(ds.feature_names),
                       "data_fingerprint": dataset_fingerprint(ds)}
        if held_out is not None:  # absent otherwise: a run without --hold-out is written as before
            model.extra["held_out"] = held_out
        train = {f: getattr(args, f) for f in _TRAIN_FLAGS if getattr(args, f) is not None}
        steps = train.get("steps", model.train_config.steps)
        if args.warmup is None:  # a short run (e.g. --steps 20) would never leave the warm-up: cap it at steps/10
            train["warmup"] = min(model.train_config.warmup, steps // 10)
        config = {}
    if args.checkpoint_every is not None:
        train["checkpoint_every"] = args.checkpoint_every
    config.update({
        "command": "kernelops fit", "kernelops_version": __version__, "torch_version": torch.__version__,
        "source": source, "dataset": {"name": ds.name, "source": ds.source, "shape": list(ds.windows.shape),
                                      "feature_names": list(ds.feature_names)},
        "train": model.train_config.replace(**train).to_dict(),
        "model": None, "plugins": get_host().versions(), "device": str(model.device),
        "world_size": dist.world_size(), "world_sizes": _world_sizes(config, model.step, dist.world_size()),
        # the scale samples come back in (kernelops sample, impute, forecast): the run's own, fixed at its start
        "scaler": {"kind": "per-feature min-max", "inverse": "data = scaled * scale + min", **(model.scaler_state or {})},
        "data_fingerprint": model.extra.get("data_fingerprint"),
    })
    if held_out is not None:
        config["held_out"] = held_out
        if main:  # before the first step, like config.json: a run stopped early still has its held-out part
            _write_held_out(run_dir / "held_out_scaled.npy", ds, held_out)
    # written before the first step, so a run killed at any point is still a run folder; rewritten after
    # every checkpoint so that its "step" is always the step checkpoint.pt holds. Rank 0 alone writes.
    ckpt = run_dir / "checkpoint.pt"
    saved: list[int | None] = [model.step if args.resume else None]  # step held by checkpoint.pt

    def write_config() -> None:
        if not main:
            return
        config["model"] = model.config()
        config["train"] = model.train_config.to_dict()
        config["step"] = saved[0] or 0
        _write_json(run_dir / "config.json", config)

    def on_checkpoint(step: int) -> None:
        saved[0] = step
        write_config()

    write_config()
    loss_csv = run_dir / "loss.csv"
    if main:
        _prepare_loss_csv(loss_csv, model.step)
    dist.barrier()
    started = time.time()
    try:
        with open(loss_csv, "a", newline="") if main else contextlib.nullcontext() as fh:
            writer = csv.writer(fh) if fh is not None else None

            def log(step: int, loss: float, lr: float) -> None:
                assert writer is not None and fh is not None  # rank 0 alone logs
                try:
                    writer.writerow([step, f"{loss:.6g}", f"{lr:.6g}"])
                    fh.flush()
                except OSError as exc:
                    reason = out_of_space(exc)
                    raise (DiskFullError(str(loss_csv), reason) if reason else exc) from exc

            model.fit(train_ds.windows, config=model.train_config.replace(**train), checkpoint=ckpt, progress=main and not args.no_progress,
                      callback=log if main else None, on_checkpoint=on_checkpoint)
    except FloatingPointError as exc:  # the trainer stopped before the step; the checkpoint is older
        with contextlib.suppress(OSError):
            write_config()
        held = f"{ckpt} holds step {saved[0]}" if saved[0] else "none was written yet"
        raise FloatingPointError(f"{exc} ({held})") from None
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            how = getattr(exc, "signal_name", None)
            kept = (f"{ckpt} holds step {saved[0]}; continue with: kernelops fit --resume {run_dir}" if saved[0]
                    else "no checkpoint was written yet; start the run again")
            if main:
                print(f"kernelops fit: {f'stopped by {how}' if how else 'interrupted'} at step {model.step}; "
                      f"{'checkpoint saved: ' if how and saved[0] else ''}{kept}", file=sys.stderr)
            exc.kernelops_reported = True  # type: ignore[attr-defined]  # main adds nothing
        with contextlib.suppress(OSError):  # never hide what stopped training behind a config.json failure
            write_config()
        if dist.is_parallel() and dist.peer_failure(exc):  # not a kernelops bug: say how to go on
            held = f"{ckpt} holds step {saved[0]}" if saved[0] else "no checkpoint was written yet"
            resume = f"resume with: torchrun ... -m kernelops fit --resume {run_dir}" if saved[0] else "start it again"
            raise ConnectionError(f"another process of this torchrun job stopped or lost its connection at step "
                                  f"{model.step} ({type(exc).__name__}: {' '.join(str(exc).split())[:160]}); "
                                  f"{held}; {resume}") from None
        raise
    write_config()
    elapsed = time.time() - started
    if not main:
        return 0
    if not ckpt.exists():  # zero steps to do (already complete): still leave a checkpoint
        model.save(ckpt)
        on_checkpoint(model.step)
    png = _plot(model, train_ds, run_dir / "samples.png")
    recent = [loss for _, loss, _ in model.history[-50:]]
    summary = f"loss (last {len(recent)} steps) {sum(recent) / len(recent):.4f}, " if recent else ""
    procs = f" on {dist.world_size()} processes" if dist.world_size() > 1 else ""
    print(f"kernelops fit: {model.step} steps ({elapsed:.0f} s this session{procs}), {summary}run folder {run_dir}")
    print(f"  checkpoint {ckpt}\n  losses     {loss_csv}\n  samples    {png or '(no plot: kernelops.viz unavailable)'}")
    if held_out is not None:
        print(f"  held out   {run_dir / 'held_out_scaled.npy'} ({held_out['windows']} windows, the last "
              f"{held_out['fraction']:g}; trained on the first {held_out['train_windows']}, {held_out['gap']} dropped "
              f"between): kernelops evaluate {run_dir} scores the samples against it too, with a copy test")
    return 0


def _world_sizes(config: dict[str, Any], step: int, world: int) -> list[list[int]]:
    """``[[from_step, processes], ...]``: the previous history with this session's entry added."""
    # a run folder written before data-parallel training existed trained on one process
    earlier = [[0, config.get("world_size", 1)]] if config else []
    # entries from `step` on belong to a session that stopped before its first checkpoint: replaced
    history = [list(entry) for entry in config.get("world_sizes", earlier) if entry[0] < step]
    if not history or history[-1][1] != world:
        history.append([step, world])
    return history


def _plot(model: Any, ds: Any, path: Path) -> Path | None:
    """samples.png: generated windows (original scale) over real ones."""
    try:
        from kernelops.viz import plot_samples
    except ImportError:
        return None
    from kernelops.data.scaling import MinMaxScaler

    n = min(RUN_DEFAULTS["plot_samples"], max(ds.num_windows, 1))
    fake = model.sample(n, seed=0).detach().cpu().numpy()
    scaler = MinMaxScaler.from_state_dict(model.scaler_state) if model.scaler_state else ds.scaler
    real = ds.raw_windows()
    title = f"{ds.name}: real (blue) vs generated (red), {model.path_name} path, step {model.step}"
    return Path(plot_samples(real, scaler.inverse_transform(fake), path, title=title,
                             feature_names=list(ds.feature_names)))
