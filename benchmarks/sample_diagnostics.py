"""Two cheap statistics of the Table 1 samples that say *how* generated windows differ from real ones.

Usage (from the repository root, after ``benchmarks/table1.py``)::

    python benchmarks/sample_diagnostics.py [--samples benchmarks/results/samples] [--out benchmarks/results]

For each ``SAMPLES/<dataset>.npy`` it compares the generated windows with the dataset's real
windows ([0, 1] scale both):

* **out of range**: the fraction of windows with any value more than 0.05 (and more than 0.5:
  gross outliers) outside the real windows' own range [min, max] — [0, 1] for the min-max
  scaled sets, [0.5, 1] for Sines. Real windows never leave it, so this counts trajectories
  the learned flow overshot or did not carry into the data's support.
* **roughness ratio**: mean |Δ²x| (second difference along time) of the generated windows over
  that of the real ones. 1 means as smooth as the data; a large ratio is step-to-step jitter,
  residual noise the flow did not remove.

Writes ``OUT/sample_diagnostics.md`` and prints the table. Seconds on a CPU: nothing is trained.
The statistics are :mod:`kernelops.metrics.diagnostics`; this script only tabulates them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from kernelops.metrics.diagnostics import sample_diagnostics  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", default=str(REPO / "benchmarks" / "results" / "samples"))
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    args = parser.parse_args(argv)
    import kernelops as ko

    rows = ["| dataset | windows | real range | > 0.05 outside it | > 0.5 outside it | "
            "roughness: generated / real (ratio) |",
            "|---|---:|---|---:|---:|---:|"]
    files = sorted(Path(args.samples).glob("*.npy"))
    if not files:
        raise SystemExit(f"sample_diagnostics: no .npy files in {args.samples}; run benchmarks/table1.py first")
    for path in files:
        fake = np.load(path)
        real = ko.dataset(path.stem).windows
        d = sample_diagnostics(fake, real, margins=(0.05, 0.5))
        low, high = d["real_range"]
        near, gross = d["out_of_range"][0.05], d["out_of_range"][0.5]
        rows.append(f"| {path.stem} | {len(fake)} | [{low:.2f}, {high:.2f}] | {near:.3f} | {gross:.3f} | "
                    f"{d['roughness_fake']:.4f} / {d['roughness_real']:.4f} ({d['roughness_ratio']:.1f}×) |")
    samples = Path(args.samples).resolve()
    shown = samples.relative_to(REPO) if samples.is_relative_to(REPO) else samples
    text = "\n".join(["# Table 1 samples: range and smoothness", "",
                      "Written by `python benchmarks/sample_diagnostics.py` (see its docstring) from "
                      f"`{shown}/`: the fraction of generated windows with a value more "
                      "than 0.05 / 0.5 outside the real windows' range, and mean |Δ²x| along time.",
                      "", *rows, ""])
    from kernelops.utils.atomic import atomic_write

    atomic_write(Path(args.out) / "sample_diagnostics.md", lambda fh: fh.write(text), mode="w")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
