"""``kernelops forecast RUN --input HISTORY.npy --horizon H``: continue series with a trained run.

``HISTORY.npy`` holds histories of shape (n, L, d) (or one (L, d)) in the data's original scale
(NaN marks a missing value). The model completes windows of its training length N, so L + H must
be at most N: the history fills the steps just before the last H of a window, anything before
it is left free, and the last H steps are drawn. Writes ``--out`` (default ``RUN/forecast.npy``)
of shape (n, K, H, d) in the original scale, and the median of the draws beside it
(``forecast_median.npy``, shape (n, H, d)).
"""

from __future__ import annotations

import argparse

from kernelops.cli.impute import (
    add_common_arguments,
    check_settings,
    complete,
    load_run,
    load_windows,
    prepare_output,
    write_outputs,
)

HELP = "draw K continuations of given histories (HISTORY + horizon within the run's window length)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", required=True, metavar="HISTORY.npy",
                        help="histories (n, L, d) or (L, d) in the original scale, NaN where missing")
    parser.add_argument("--horizon", type=int, required=True, help="steps to forecast H")
    add_common_arguments(parser, "forecast.npy")


def run(args: argparse.Namespace) -> int:
    import numpy as np

    check_settings(args)
    if args.horizon < 1:
        raise ValueError(f"--horizon: expected a positive integer, got {args.horizon}")
    target = prepare_output(args.out, args.run, "forecast.npy")
    if target is None:  # a torchrun rank other than 0
        return 0
    history, dtype = load_windows(args.input, "histories")
    model, _ = load_run(args.run, args.device)
    length, horizon = history.shape[1], args.horizon
    if horizon >= model.seq_len:
        raise ValueError(f"--horizon {horizon}: at most {model.seq_len - 1} for this run (its windows have "
                         f"{model.seq_len} steps, and at least one must be history)")
    if length + horizon > model.seq_len:
        raise ValueError(f"history ({length} steps) + horizon ({horizon}) = {length + horizon} steps exceeds the "
                         f"run's window length {model.seq_len}; shorten the history (its last "
                         f"{model.seq_len - horizon} steps) or the horizon")
    windows = np.full((history.shape[0], model.seq_len, history.shape[2]), np.nan)
    start = model.seq_len - horizon - length
    windows[:, start:start + length] = history
    draws, nfe = complete(model, windows, args)
    forecast = draws[:, :, model.seq_len - horizon:]
    out, median = write_outputs(target, forecast, dtype)
    print(f"kernelops forecast: {history.shape[0]} histories of {length} steps, horizon {horizon}, "
          f"{args.samples} draws each with method {args.method}, NFE {nfe} per draw")
    print(f"  draws  {out}  shape {forecast.shape}\n  median {median}")
    return 0
