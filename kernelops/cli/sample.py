"""``kernelops sample RUN``: generate windows from a trained run.

Writes the windows in the data's original scale to ``--out`` (default ``RUN/fake.npy``) and the
[0, 1]-scaled ones beside it with ``_scaled`` added to the stem (``fake_scaled.npy``), both of
shape (num, seq_len, features), and prints the number of vector-field evaluations (NFE).
``--out`` naming an existing directory, or ending with ``/``, writes ``fake.npy`` and
``fake_scaled.npy`` into that directory (created if needed).

Under ``torchrun`` (``torchrun --standalone --nproc-per-node K -m kernelops sample RUN ...``)
each rank draws its share of the windows and rank 0 gathers them and writes both files
(:func:`kernelops.flows.sample.shard.sample_sharded`); the files hold the same windows as a
single-process run with the same ``--seed``. Give the count as ``-n 1000`` there: torchrun's
own parser takes ``--num`` for an abbreviation of its ``--numa-binding`` and stops (or put
``--`` before ``sample``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "generate windows from a trained run (.npy in original and [0, 1] scale)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from kernelops.flows.config import SampleConfig

    defaults = SampleConfig()
    parser.add_argument("run", metavar="RUN", help="run folder written by `kernelops fit` (or its checkpoint.pt)")
    # -n: under torchrun, --num is read as an abbreviation of torchrun's own --numa-binding
    parser.add_argument("-n", "--num", type=int, default=defaults.num,
                        help=f"number of windows (default {defaults.num}); under torchrun write -n, as torchrun takes --num "
                             "for its --numa-binding")
    parser.add_argument("--out", metavar="FILE.npy|DIR/",
                        help="output file (default RUN/fake.npy; .npy is appended when missing); an existing "
                             "directory or a path ending in / receives fake.npy and fake_scaled.npy")
    parser.add_argument("--steps", type=int, help="solver steps (default: the run's --sample-steps)")
    parser.add_argument("--solver", help="ODE solver name (default: the run's); adaptive ones ignore --steps")
    parser.add_argument("--seq-len", type=int, help="window length to generate (default: the training length)")
    parser.add_argument("--seed", type=int, default=defaults.seed, help=f"seed of the source noise (default {defaults.seed})")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size,
                        help=f"windows integrated together (default {defaults.batch_size})")
    parser.add_argument("--device", choices=("cpu", "cuda", "auto"), default="auto", help="where to sample (default auto)")


def output_path(out: str | None, run_folder: Path) -> Path:
    """Where the original-scale windows go: ``--out`` as a file, or ``DIR/fake.npy`` for a directory."""
    from kernelops.cli.outputs import output_file

    return output_file(out, run_folder, "fake.npy")


def scaled_path(out: Path) -> Path:
    """fake.npy → fake_scaled.npy (same folder)."""
    return out.with_name(f"{out.stem}_scaled{out.suffix or '.npy'}")


def run(args: argparse.Namespace) -> int:
    from kernelops.utils.device import resolve_device
    from kernelops.utils.distributed import session_from_env

    with session_from_env(resolve_device(args.device)) as device:
        return _run(args, device)


def _run(args: argparse.Namespace, device: object) -> int:
    import numpy as np

    from kernelops.cli.outputs import check_writable
    from kernelops.cli.runs import checkpoint_path
    from kernelops.errors import AllocationError
    from kernelops.flows import SpectralMeanFlow
    from kernelops.flows.sample.shard import sample_sharded
    from kernelops.utils import distributed as dist
    from kernelops.utils.atomic import atomic_write
    from kernelops.utils.memory import check_allocation

    for name in ("num", "steps", "batch_size", "seq_len"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise ValueError(f"--{name.replace('_', '-')}: expected a positive integer, got {value}")
    ckpt = checkpoint_path(args.run)
    out = output_path(args.out, ckpt.parent)
    if out.is_dir():
        raise IsADirectoryError(f"--out: {out} is a directory; name a file such as {out / 'fake.npy'}")
    if dist.is_main():
        check_writable(out)  # before any computation
    model = SpectralMeanFlow.load(ckpt, map_location=device)
    if args.solver is not None:
        import kernelops as ko

        ko.solver(args.solver)  # an unknown name lists the known ones
    length, features = args.seq_len or model.seq_len or 1, model.in_dim or 1
    # the windows are held about three times over: the solver's batches joined into one tensor, the
    # [0, 1]-scale array and the original-scale one
    main = dist.is_main()  # rank 0 gathers every rank's windows, writes and prints
    # rank 0 holds the whole draw: it alone checks the memory, and every rank hears the verdict
    # (a rank raising alone would leave the others waiting in the gather)
    refusal = None
    if main:
        try:
            check_allocation(3 * args.num * length * features * 4,
                             f"--num {args.num} windows x {length} steps x {features} features (32-bit, held about 3 times)",
                             lambda budget: _smaller(budget, length, features))
        except AllocationError as exc:
            refusal = str(exc)
    refusal = dist.broadcast_object(refusal)
    if refusal is not None:
        raise AllocationError(refusal)
    solver = ko_solver_is_adaptive(args.solver or model.solver_name)
    steps = None if solver else args.steps
    if solver and args.steps is not None and main:
        print(f"kernelops sample: note: --steps ignored, solver {args.solver or model.solver_name!r} is adaptive")
    drawn, nfe = sample_sharded(model, args.num, steps=steps, solver=args.solver, seq_len=args.seq_len,
                                batch_size=args.batch_size, seed=args.seed)
    if drawn is None:  # another rank's windows: rank 0 has them
        return 0
    scaled = drawn.detach().cpu().numpy().astype(np.float32)
    if model.scaler_state:
        from kernelops.data.scaling import MinMaxScaler

        original = MinMaxScaler.from_state_dict(model.scaler_state).inverse_transform(scaled).astype(np.float32)
    else:
        original = scaled
        print("kernelops sample: note: the checkpoint has no data scaler; both files hold [0, 1]-scale values")
    out_scaled = scaled_path(out)
    atomic_write(out, lambda fh: np.save(fh, original))
    atomic_write(out_scaled, lambda fh: np.save(fh, scaled))
    procs = f" on {dist.world_size()} processes" if dist.is_parallel() else ""
    print(f"kernelops sample: {args.num} windows of shape {tuple(original.shape[1:])} "
          f"with {args.solver or model.solver_name}, NFE {nfe} per window{procs}")
    print(f"  original scale {out}\n  [0, 1] scale   {out_scaled}")
    return 0


def _smaller(budget: int, length: int, features: int) -> str:
    """What to lower when the draw does not fit: --num, or --seq-len when one window alone does not."""
    most = budget // (12 * length * features)
    if most < 1:
        return f"use a smaller --seq-len (one window of {length} steps alone is too large; at most {budget // (12 * features)})"
    return f"use a smaller --num (at most {most}) and run several times with different --seed"


def ko_solver_is_adaptive(name: str) -> bool:
    import kernelops as ko

    return bool(getattr(ko.solver(name), "is_adaptive", False))
