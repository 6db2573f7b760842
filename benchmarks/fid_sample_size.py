"""How Context-FID depends on the sample size, for real-vs-real and model-vs-real pairs.

Usage (from the repository root, after ``benchmarks/table1.py``)::

    python benchmarks/fid_sample_size.py --dataset stocks [--splits 20] [--out benchmarks/results]

The Fréchet distance between Gaussian fits of two finite samples is biased upwards by the
covariance estimates' noise, roughly in proportion to 1/n. Table 1's floor for a real dataset
compares two disjoint halves (n/2 windows each) while the model is scored with n windows against
n, so the two are not measured at one size. This script trains **one** TS2Vec encoder on all real
windows (the reference's iteration count, as ``context_fid`` does) and, for sizes n/8, n/4 and
n/2, scores ``--splits`` random disjoint pairs of real subsets against each other and a random
subset of the generated windows (``benchmarks/results/samples/<dataset>.npy``) against the first
real subset of the pair; it also scores all generated windows against all real ones. With one
encoder for every pair, the columns are comparable with each other (not with Table 1's figures,
whose encoders are retrained per run).

The real-vs-real column extrapolated to n (it scales like 1/n when the bias dominates) says what
a perfect generator would score at the size Table 1 scores the model, and the model-vs-real
column minus the real-vs-real one at each size is the part of the model's score that is not
sampling noise. Writes ``OUT/fid_sample_size_<dataset>.md`` and prints it. A few minutes on a
CPU core (one encoder fit, then only encodings).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def disjoint_pair(n_total: int, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two disjoint sorted index sets of ``size`` each out of range(n_total)."""
    if 2 * size > n_total:
        raise ValueError(f"size: expected at most n_total / 2 = {n_total // 2}, got {size}")
    perm = rng.permutation(n_total)
    return np.sort(perm[:size]), np.sort(perm[size:2 * size])


def one_over_n_extrapolation(sizes: list[int], values: list[float], target: int) -> float:
    """Least-squares fit of values ≈ c / size through the origin, evaluated at ``target``."""
    x = 1.0 / np.asarray(sizes, dtype=np.float64)
    y = np.asarray(values, dtype=np.float64)
    c = float((x * y).sum() / (x * x).sum())
    return c / target


def measure(real: np.ndarray, fake: np.ndarray, splits: int, seed: int,
            iterations: int | None = None) -> dict[str, object]:
    """FID of real-vs-real and model-vs-real pairs at n/8, n/4, n/2 with one shared encoder.

    ``iterations``: encoder training iterations (default: the reference's count, as Table 1).

    Shape:
        real: (n_real, T, d) float32. fake: (n_fake, T, d) float32.
    """
    import torch

    from kernelops.metrics.context_fid import frechet_distance, gaussian_fit
    from kernelops.metrics.ts2vec import TS2Vec, default_iterations

    n = min(len(real), len(fake))
    encoder = TS2Vec(real.shape[2], device="cpu", seed=seed)
    if iterations is None:
        iterations = default_iterations(tuple(real.shape))
    encoder.fit(torch.from_numpy(real), iterations=iterations, batch_size=8, lr=1e-3)
    z_real = encoder.encode(torch.from_numpy(real))
    z_fake = encoder.encode(torch.from_numpy(fake))

    def fid(a: torch.Tensor, b: torch.Tensor) -> float:
        return frechet_distance(*gaussian_fit(a), *gaussian_fit(b))

    rng = np.random.default_rng(seed)
    rows = []
    for size in (n // 8, n // 4, n // 2):
        floor, model = [], []
        for _ in range(splits):
            a, b = disjoint_pair(len(real), size, rng)
            f = np.sort(rng.choice(len(fake), size, replace=False))
            floor.append(fid(z_real[a], z_real[b]))
            model.append(fid(z_real[a], z_fake[f]))
        rows.append({"size": size, "real_vs_real": floor, "model_vs_real": model})
    sizes, floors = [r["size"] for r in rows], [float(np.mean(r["real_vs_real"])) for r in rows]
    return {"n": n, "rows": rows, "model_full": fid(z_real, z_fake),
            "floor_at_n": one_over_n_extrapolation(sizes, floors, n)}


def render(name: str, result: dict[str, object], command: str, seconds: float) -> str:
    lines = [f"# Context-FID vs sample size: {name}", "",
             f"Written by `{command}` ({seconds:.0f} s; see the script's docstring). One TS2Vec encoder",
             "for every pair; means ± std over the random disjoint splits.", "",
             "| windows per set | real vs real | model vs real | difference |", "|---:|---|---|---|"]
    for row in result["rows"]:
        rr, mr = np.asarray(row["real_vs_real"]), np.asarray(row["model_vs_real"])
        lines.append(f"| {row['size']} | {rr.mean():.4f} ± {rr.std():.4f} | {mr.mean():.4f} ± {mr.std():.4f} | "
                     f"{mr.mean() - rr.mean():+.4f} |")
    lines += ["", f"All generated windows vs all real ones ({result['n']} or more each): **{result['model_full']:.4f}**; "
              f"the real-vs-real column fitted as c/n and extrapolated to n = {result['n']}: "
              f"**{result['floor_at_n']:.4f}** (what a perfect generator would score at that size).", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="stocks", help="registered dataset (default stocks)")
    parser.add_argument("--samples", default=None, help="generated windows (default benchmarks/results/samples/DATASET.npy)")
    parser.add_argument("--splits", type=int, default=20, help="random disjoint pairs per size (default 20)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results"))
    args = parser.parse_args(argv)
    if args.splits < 1:
        parser.error("--splits must be at least 1")
    import kernelops as ko
    from kernelops.utils.atomic import atomic_write

    real = ko.dataset(args.dataset).windows.astype(np.float32)
    sample_path = Path(args.samples or REPO / "benchmarks" / "results" / "samples" / f"{args.dataset}.npy")
    if not sample_path.is_file():
        raise SystemExit(f"fid_sample_size: {sample_path} not found; run benchmarks/table1.py first or pass --samples")
    fake = np.load(sample_path).astype(np.float32)
    if fake.shape[1:] != real.shape[1:]:
        raise SystemExit(f"fid_sample_size: {sample_path} has windows of shape {fake.shape[1:]}, "
                         f"the {args.dataset} windows {real.shape[1:]}")
    start = time.perf_counter()
    result = measure(real, fake, args.splits, args.seed)
    command = "python benchmarks/fid_sample_size.py " + " ".join(argv if argv is not None else sys.argv[1:])
    markdown = render(args.dataset, result, command.strip(), time.perf_counter() - start)
    path = Path(args.out) / f"fid_sample_size_{args.dataset}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda fh: fh.write(markdown), mode="w")
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
