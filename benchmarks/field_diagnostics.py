"""Where in flow time a trained SpectralMeanFlow stops removing noise.

Usage (from the repository root)::

    python benchmarks/field_diagnostics.py RUN_OR_CHECKPOINT [more ...] [--dataset sines] [--n 512]

For a model trained on the OT path, real windows x₁ are noised to the path's own points
x_t = t·x₁ + (1 − t)·z and the learned velocity v_t is read there (EMA weights, as sampling uses):

* **contraction** c(t) = −⟨v_t(x_t), z⟩ / ⟨z, z⟩. The exact marginal field removes the noise:
  its component along z is −z in the directions normal to the data (for Sines ~110 of the 120
  dimensions), so c ≈ 0.9 is ideal and c ≈ 0 means the field leaves that noise where it is —
  whatever noise is left at the t where c falls to 0 stays in the samples.
* **denoised roughness**: the field's implied clean window x̂₁ = x_t + (1 − t)·v_t (the OT
  identity v = (E[x₁ | x_t] − x_t)/(1 − t)) and its mean |Δ²x| over that of the real windows,
  next to the same ratio for the noisy input x_t. An ideal field gives ~1 (x̂₁ is a smooth
  posterior mean); a ratio as large as the input's means nothing was removed.

Also prints the root-mean-square error of x̂₁ and the **learned share**: rms of the learned part
b_t·c_out(t)·F of the field over rms of the whole field — near 0 means the samples are those of
the Gaussian skip alone. Seconds on a CPU; nothing is trained.

``--excess`` adds the **excess loss** per band of flow time: the mean of (v_t(x_t) − u*_t(x_t))² with
u* the exact marginal field of the training windows (``AffinePath.posterior_velocity``) and x₁
drawn from those windows — the flow-matching loss less its irreducible part, 0 for the training
set's own field. The skip alone (a_t x + b_t S_t(x)) is scored too, which shows what the learned
part adds (or costs). Needs the training windows (Sines: the table's ``make_sines(10000, seed=0)``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
for entry in (REPO, REPO / "benchmarks"):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

from kernelops.metrics.diagnostics import roughness as _window_roughness  # noqa: E402  (after the path set-up)

TIMES = (0.5, 0.8, 0.9, 0.95, 0.97, 0.99)

Field = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def roughness(x: torch.Tensor) -> float:
    """Mean absolute second difference along time (sample_diagnostics' measure, of a tensor).

    Shape:
        x: (n, T, d) with T ≥ 3.
    """
    return _window_roughness(x.detach().cpu().numpy())


def field_report(field: Field, x1: torch.Tensor, times: tuple[float, ...] = TIMES, seed: int = 0,
                 learned: Field | None = None) -> list[dict[str, float]]:
    """Contraction and denoising figures of an OT-path velocity field at each time.

    Args:
        field: ``field(x, t)`` → v_t(x), t of shape (n,).
        x1: clean windows in the field's coordinates.
        times: flow times in (0, 1).
        seed: seed of the noise z (one draw per time).
        learned: optionally the learned part of ``field``; adds ``learned_share``.

    Shape:
        x1: (n, T, d) with T ≥ 3.

    Returns:
        one dict per time: t, contraction, rmse (of x̂₁), rough_denoised and rough_input (each
        over the roughness of x1).
    """
    g = torch.Generator().manual_seed(seed)
    base = roughness(x1)
    rows = []
    for t in times:
        if not 0.0 < t < 1.0:
            raise ValueError(f"times: expected values in (0, 1), got {t!r}")
        z = torch.randn(x1.shape, generator=g, dtype=x1.dtype)
        xt = t * x1 + (1 - t) * z
        v = field(xt, torch.full((x1.shape[0],), t, dtype=x1.dtype))
        x1_hat = xt + (1 - t) * v
        rows.append({"t": t, "contraction": float(-(v * z).sum() / (z * z).sum()),
                     "rmse": float((x1_hat - x1).square().mean().sqrt()),
                     "rough_denoised": roughness(x1_hat) / base, "rough_input": roughness(xt) / base})
        if learned is not None:
            part = learned(xt, torch.full((x1.shape[0],), t, dtype=x1.dtype))
            rows[-1]["learned_share"] = float(part.square().mean().sqrt() / v.square().mean().sqrt())
    return rows


BANDS = ((0.0, 0.5), (0.5, 0.8), (0.8, 0.9), (0.9, 1.0))


def excess_loss(field: Field, path, train: torch.Tensor, n: int = 1024, bands=BANDS, seed: int = 0
                ) -> dict[str, float]:
    """Mean (v_t(x_t) − u*_t(x_t))² per band of t and overall, u* the training set's exact field.

    x₁ are ``n`` training windows, t ~ U[0.01, 0.99], x_t from the path; u* =
    ``path.posterior_velocity(x_t, t, train)``.

    Shape:
        train: (num, T, d) in the field's coordinates.

    Returns:
        {"lo-hi": excess in that band, ..., "all": overall}.
    """
    g = torch.Generator().manual_seed(seed)
    x1 = train[torch.randint(train.shape[0], (n,), generator=g)]
    t = torch.rand(n, generator=g, dtype=train.dtype) * 0.98 + 0.01
    z = torch.randn(x1.shape, generator=g, dtype=train.dtype)
    x_t = path.sample(z, x1, t).x_t
    err = (field(x_t, t) - path.posterior_velocity(x_t, t, train)).square().mean(dim=(1, 2))
    out = {f"{lo:g}-{hi:g}": float(err[(t >= lo) & (t < hi)].mean()) for lo, hi in bands}
    out["all"] = float(err.mean())
    return out


def model_field(model, part: str = "all") -> Field:
    """The EMA velocity of a SpectralMeanFlow as a ``field(x, t)``.

    ``part``: "all" (the field), "learned" (b_t·c_out(t)·F alone) or "skip" (a_t x + b_t S_t(x) alone).
    """
    field = model.ema.module

    def evaluate(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        alpha, sigma, a, b, _, c_out = field.coefficients(t)
        if part == "learned":
            return (b * c_out)[:, None, None] * field.learned(t, x)
        if part == "skip":
            return a[:, None, None] * x + b[:, None, None] * field.skip(x, alpha, sigma)
        return field(t, x)

    return evaluate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", help="checkpoint files or run folders (RUN/checkpoint.pt)")
    parser.add_argument("--dataset", default=None, help="registered dataset of the real windows (default: sines)")
    parser.add_argument("--n", type=int, default=512, help="real windows used (default 512)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--excess", action="store_true",
                        help="also the excess loss over the training windows' exact field, per band of t")
    args = parser.parse_args(argv)
    import kernelops as ko
    from kernelops.flows import SpectralMeanFlow

    if args.dataset in (None, "sines"):
        from kernelops.data import make_sines

        real = make_sines(args.n, seed=5)  # a draw the table's models were not trained on
        train = make_sines(10000, seed=0) if args.excess else None
    else:
        windows = np.asarray(ko.dataset(args.dataset).windows)
        real = windows[np.random.default_rng(args.seed).permutation(len(windows))[:args.n]]
        train = windows
    for item in args.models:
        path = Path(item)
        model = SpectralMeanFlow.load(path / "checkpoint.pt" if path.is_dir() else path)
        if model.path_name != "ot":
            raise SystemExit(f"{item}: trained on the {model.path_name!r} path; these figures use the OT path's identities")
        x1 = model.to_model(torch.as_tensor(real, dtype=model.dtype))
        print(f"{item} (step {model.step}, skip={model.field_config.skip})")
        print("| t | contraction | rmse of x̂₁ | roughness x̂₁ / real | roughness x_t / real | learned share |")
        print("|---|---|---|---|---|---|")
        for row in field_report(model_field(model), x1, seed=args.seed, learned=model_field(model, "learned")):
            print(f"| {row['t']} | {row['contraction']:.3f} | {row['rmse']:.3f} | {row['rough_denoised']:.1f} | "
                  f"{row['rough_input']:.0f} | {row['learned_share']:.3f} |")
        if args.excess:
            reference = model.to_model(torch.as_tensor(train, dtype=model.dtype))
            fields = {"model": model_field(model), "skip alone": model_field(model, "skip")}
            print("\nexcess loss over the training windows' exact field, by band of t:")
            for label, field in fields.items():
                row = excess_loss(field, model.path, reference, seed=args.seed)
                print(f"  {label}: " + ", ".join(f"{k} {v:.4f}" for k, v in row.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
