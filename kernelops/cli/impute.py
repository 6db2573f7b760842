"""``kernelops impute RUN --input X.npy``: fill in the missing entries of windows with a trained run.

``X.npy`` holds windows of shape (n, N, d) (or one window (N, d)) in the data's original scale,
with NaN where a value is missing; N and d must be the run's window length and features. Writes
``--out`` (default ``RUN/imputed.npy``) of shape (n, K, N, d): K complete draws per window in the
original scale, equal to X wherever X is observed, and the entrywise median of the draws beside
it (``imputed_median.npy``, shape (n, N, d)), the point imputation to score with MSE.
"""

from __future__ import annotations

import argparse
import math
import os
import warnings
from pathlib import Path
from typing import Any

from kernelops.errors import KernelopsWarning

HELP = "fill in missing (NaN) entries of windows with K draws from a trained run (and their median)"


def add_common_arguments(parser: argparse.ArgumentParser, default_out: str) -> None:
    """Arguments shared by impute and forecast."""
    from kernelops.flows.config import METHODS, SampleConfig

    defaults = SampleConfig()
    parser.add_argument("run", metavar="RUN", help="run folder written by `kernelops fit` (or its checkpoint.pt)")
    parser.add_argument("--samples", type=int, default=defaults.samples, help=f"draws per window K (default {defaults.samples})")
    parser.add_argument("--out", metavar="FILE.npy|DIR/", help=f"output file (default RUN/{default_out}); an existing "
                                                               f"directory or a path ending in / receives {default_out}; "
                                                               "the median goes beside it with _median added to the name")
    parser.add_argument("--method", choices=METHODS,
                        help="conditioning: field (the mask-conditioned field of a run trained with --conditional), "
                             "gaussian (through the window skip's covariance; needs --skip window), replacement, "
                             "or guidance (docs/conditional_generation.md); default field for a --conditional run, "
                             "else gaussian with the window skip, guidance otherwise")
    parser.add_argument("--guidance-scale", type=float, default=defaults.guidance_scale,
                        help=f"strength of --method guidance (default {defaults.guidance_scale:g})")
    parser.add_argument("--steps", type=int, help="solver steps (default: the run's --sample-steps)")
    parser.add_argument("--solver", help="ODE solver name (default: the run's)")
    parser.add_argument("--seed", type=int, default=defaults.seed, help=f"seed of the source noise (default {defaults.seed})")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size,
                        help=f"states integrated together (default {defaults.batch_size})")
    parser.add_argument("--device", choices=("cpu", "cuda", "auto"), default="auto", help="where to sample (default auto)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", required=True, metavar="X.npy",
                        help="windows (n, N, d) or (N, d) in the original scale, NaN where missing")
    add_common_arguments(parser, "imputed.npy")


def load_run(target: str, device: str) -> tuple[Any, Path]:
    """The model of a run folder (or checkpoint file) and the folder outputs default to."""
    from kernelops.cli.runs import checkpoint_path
    from kernelops.flows import SpectralMeanFlow

    ckpt = checkpoint_path(target)
    return SpectralMeanFlow.load(ckpt, map_location=device), ckpt.parent


def load_windows(path: str, what: str) -> tuple[Any, Any]:
    """A float64 array (n, T, d) from a .npy file (a single (T, d) window becomes n = 1), and the
    dtype outputs are written in (float64 for float64 input, else float32)."""
    import numpy as np

    from kernelops.errors import DataError

    file = Path(path)
    if file.suffix != ".npy":
        raise DataError(f"--input: expected a .npy file of {what}, got {str(file)!r}")
    if not file.exists():
        raise FileNotFoundError(f"--input: no file {str(file)!r}")
    try:
        arr = np.load(file, allow_pickle=False)
    except ValueError as exc:
        raise DataError(f"--input: {file} is not a plain numeric .npy file ({exc})") from exc
    if not np.issubdtype(arr.dtype, np.number):
        raise DataError(f"--input: expected numbers in {file}, got dtype {arr.dtype}")
    out_dtype = np.float64 if arr.dtype == np.float64 else np.float32
    arr = arr.astype(np.float64)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or 0 in arr.shape:
        raise DataError(f"--input: expected {what} of shape (n, T, d) or (T, d), got {arr.shape} in {file}")
    if np.isinf(arr).any():
        raise DataError(f"--input: {file} contains infinite values (use NaN to mark missing entries)")
    return arr, out_dtype


def check_settings(args: argparse.Namespace) -> None:
    for name in ("samples", "steps", "batch_size"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise ValueError(f"--{name.replace('_', '-')}: expected a positive integer, got {value}")
    if not (math.isfinite(args.guidance_scale) and args.guidance_scale >= 0):
        raise ValueError(f"--guidance-scale: expected a finite number ≥ 0, got {args.guidance_scale}")


#: observed values farther than this outside the training range [0, 1] (in its units) are refused:
#: the model has never seen anything like them (a wrong unit, a wrong file); nearer ones get a warning
EXTRAPOLATION_LIMIT = 100.0


def check_scale(scaled: Any, source: str) -> None:
    """Refuse inputs far outside the run's training range, warn for ones just outside it.

    Shape:
        scaled: (n, T, d) in the run's [0, 1] scale, NaN where missing.
    """
    import numpy as np

    from kernelops.errors import DataError

    observed = scaled[~np.isnan(scaled)]
    if observed.size == 0:
        return
    lo, hi = float(observed.min()), float(observed.max())
    spread = max(-lo, hi - 1.0)
    if spread > EXTRAPOLATION_LIMIT:
        raise DataError(f"--input: {source} has values {spread:.3g} times the run's training range outside it "
                        f"(in its [0, 1] scale they span [{lo:.3g}, {hi:.3g}]); expected data in the units the run "
                        "was trained on (config.json: scaler)")
    if lo < -0.5 or hi > 1.5:
        warnings.warn(f"--input: {source} spans [{lo:.3g}, {hi:.3g}] in the run's [0, 1] scale, outside the range it "
                      "was trained on; the draws extrapolate", KernelopsWarning, stacklevel=3)


def complete(model: Any, windows: Any, args: argparse.Namespace) -> tuple[Any, int]:
    """K draws (n, K, T, d) in the original scale for windows (n, T, d) with NaN where missing."""
    import numpy as np
    import torch

    from kernelops.data.scaling import MinMaxScaler

    if args.solver is not None:
        import kernelops as ko

        ko.solver(args.solver)  # an unknown name lists the known ones
    if windows.shape[2] != model.in_dim:
        raise ValueError(f"--input: windows have {windows.shape[2]} features, the run was trained on {model.in_dim}")
    scaler = MinMaxScaler.from_state_dict(model.scaler_state) if model.scaler_state else None
    scaled = scaler.transform(windows) if scaler is not None else windows
    check_scale(scaled, args.input)
    empty = int(np.isnan(windows).all(axis=(1, 2)).sum())
    if empty:
        warnings.warn(f"{empty} of {windows.shape[0]} window(s) of {args.input} have no observed value; their draws "
                      "are unconditional samples of the model", KernelopsWarning, stacklevel=2)
    observed = torch.from_numpy(scaled).to(model.dtype)
    args.method = args.method or model.default_method
    draws, nfe = model.sample(args.samples, steps=args.steps, solver=args.solver, seq_len=windows.shape[1],
                              batch_size=args.batch_size, seed=args.seed, return_nfe=True, observed=observed,
                              method=args.method, guidance_scale=args.guidance_scale)
    draws = draws.detach().cpu().double().numpy()
    out = scaler.inverse_transform(draws) if scaler is not None else draws
    mask = ~np.isnan(windows)
    # the observed entries are the input's own values, bit for bit (no scaling round trip)
    return np.where(mask[:, None], windows[:, None], out), nfe


def prepare_output(out: str | None, run: str, default_name: str) -> Path | None:
    """The output file (``DIR/`` gets ``default_name``), checked writable before any computation;
    None on a torchrun rank other than 0, which has nothing to do (rank 0 computes and writes alone)."""
    from kernelops.cli.outputs import check_writable, output_file
    from kernelops.cli.runs import checkpoint_path

    if int(os.environ.get("RANK", "0") or 0) != 0:
        return None
    path = output_file(out, checkpoint_path(run).parent, default_name)
    if path.is_dir():
        raise IsADirectoryError(f"--out: {path} is a directory; name a file such as {path / default_name}")
    check_writable(path)
    return path


def write_outputs(out: Path, draws: Any, dtype: Any) -> tuple[Path, Path]:
    """Write the draws and their entrywise median (over axis 1) atomically."""
    import numpy as np

    from kernelops.utils.atomic import atomic_write

    median_path = out.with_name(f"{out.stem}_median.npy")
    median = np.median(draws, axis=1)
    atomic_write(out, lambda fh: np.save(fh, draws.astype(dtype)))
    atomic_write(median_path, lambda fh: np.save(fh, median.astype(dtype)))
    return out, median_path


def run(args: argparse.Namespace) -> int:
    import numpy as np

    check_settings(args)
    target = prepare_output(args.out, args.run, "imputed.npy")
    if target is None:  # a torchrun rank other than 0
        return 0
    windows, dtype = load_windows(args.input, "windows")
    model, _ = load_run(args.run, args.device)
    if windows.shape[1] != model.seq_len and model.field_config.skip == "window":
        raise ValueError(f"--input: windows have {windows.shape[1]} steps, the run was trained on windows of "
                         f"{model.seq_len} (its window skip samples that length only)")
    draws, nfe = complete(model, windows, args)
    out, median = write_outputs(target, draws, dtype)
    missing = int(np.isnan(windows).sum())
    print(f"kernelops impute: {windows.shape[0]} window(s), {missing} missing entries "
          f"({100 * missing / windows.size:.1f} %), {args.samples} draws each with method {args.method}, "
          f"NFE {nfe} per draw")
    print(f"  draws  {out}  shape {draws.shape}\n  median {median}")
    return 0
