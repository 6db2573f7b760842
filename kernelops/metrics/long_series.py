"""The long-series scores of the LS4 protocol: marginal, classification and prediction.

Zhou et al. (2023, "Deep latent state space models for time-series generation") score generated
long sequences (Monash FRED-MD, NN5 Daily...) three ways; docs/metrics.md ("Long series") defines
them in full and says where ours differ in detail:

- :func:`marginal_score`: the mean absolute difference between the empirical densities (50-bin
  histograms on the real values' range) of real and generated values, per channel (pooled over
  steps) or per step and channel; lower is better.
- :func:`classification_score`: the held-out binary cross-entropy of a GRU classifier trained to
  tell real from generated sequences; **higher is better** (ln 2 ≈ 0.693 is a classifier at chance
  that knows it; an overfitted one that is confidently wrong scores above it).
- :func:`prediction_score`: train on synthetic, test on real — a GRU forecaster trained on generated
  sequences to predict their second half from their first half, its mean squared error on the
  real sequences; lower is better.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from kernelops.metrics._common import (
    STREAM_INDEX,
    build_module,
    check_count,
    check_pair,
    make_generator,
    match_sizes,
    resolve_device,
)
from kernelops.metrics._gru import GRUHead, init_like_tensorflow, train_adam

MARGINAL_BINS = 50
TRAIN_RATE = 0.8


def marginal_score(real: object, fake: object, *, bins: int = MARGINAL_BINS, per_step: bool = False) -> float:
    """Mean over channels (and steps) and bins of |p_fake − p_real|, p the empirical densities.

    For every channel c — and with ``per_step`` for every step t and channel c — the real values
    (x[:, :, c] pooled over steps, or x[:, t, c]) are binned into ``bins`` equal bins spanning
    [min, max] of those real values (half-open, the last one closed); p_real(k) =
    count_k / (m_real · Δ), Δ the bin width and m the number of values binned. The generated values
    of the same channel (and step) are counted in the same bins (values outside the real range in
    none), p_fake(k) = count_k / (m_fake · Δ). Where all real values are equal Δ = 0; that
    histogram is scored with Δ = 1 and one bin holding exactly that value. The sets may differ in
    size (densities are per set).

    The pooled form (the default) is the one whose size matches the published numbers; per step,
    a bin of 50 holds only n/50 values of n sequences, and noise dominates for small sets.

    Shape:
        real: (n_real, T, d). fake: (n_fake, T, d). returns: a float ≥ 0.
    """
    bins = check_count(bins, "bins")
    r, f = check_pair(real, fake)
    r, f = r.double(), f.to(device=r.device, dtype=torch.float64)
    if not per_step:  # every step of a channel into one histogram
        r, f = r.reshape(-1, 1, r.shape[2]), f.reshape(-1, 1, f.shape[2])
    lo, hi = r.amin(dim=0), r.amax(dim=0)                       # (T, d)
    width = (hi - lo) / bins
    flat = width <= 0
    width = torch.where(flat, torch.ones_like(width), width)

    def density(x: torch.Tensor) -> torch.Tensor:
        inside = (x >= lo) & (x <= hi)
        # bin k holds [lo + kΔ, lo + (k+1)Δ); the clamp closes the last bin at hi
        idx = ((x - lo) / width).floor().long().clamp(0, bins - 1)
        counts = torch.zeros((bins, *x.shape[1:]), dtype=torch.float64, device=x.device)
        counts.scatter_add_(0, idx, inside.double())
        return counts / (x.shape[0] * width)

    return float((density(f) - density(r)).abs().mean())


def _split(x: torch.Tensor, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    perm = torch.randperm(x.shape[0], generator=g).to(x.device)
    n_train = max(1, min(x.shape[0] - 1, int(x.shape[0] * TRAIN_RATE)))
    return x[perm[:n_train]], x[perm[n_train:]]


def classification_score(real: object, fake: object, *, iterations: int = 200, batch_size: int = 32,
                         hidden: int = 32, lr: float = 1e-3, seed: int = 0, device: torch.device | str | None = None,
                         return_accuracy: bool = False) -> float | tuple[float, float]:
    """Held-out cross-entropy of a GRU that tells real (label 1) from generated (label 0) sequences.

    Both sets (size-matched first, as the other metrics do) are each split at random 80 / 20;
    a one-layer GRU of width ``hidden`` reads the whole sequence and a linear layer maps its last
    state to a logit. Adam (``lr``) runs ``iterations`` steps, each on ``batch_size`` real and
    ``batch_size`` generated training sequences drawn with replacement. The score is the mean
    binary cross-entropy (nats) over the held-out sequences of both sets. Higher is better: a
    classifier that cannot tell the sets apart cannot beat ln 2 on average.

    Returns:
        The cross-entropy, or (cross-entropy, held-out accuracy) with ``return_accuracy``.

    Shape:
        real, fake: (n, T, d) with n ≥ 2 each.
    """
    iterations, batch_size, hidden = (check_count(v, k) for v, k in
                                      ((iterations, "iterations"), (batch_size, "batch_size"), (hidden, "hidden")))
    r, f = check_pair(real, fake, min_count=2)
    dev = resolve_device(device, r)
    r, f = match_sizes(r, f, seed)
    r, f = r.to(dev, torch.float32), f.to(dev, torch.float32)
    g = make_generator(seed, STREAM_INDEX)
    r_train, r_test = _split(r, g)
    f_train, f_test = _split(f, g)
    net = build_module(lambda: GRUHead(r.shape[2], hidden), init_like_tensorflow, seed=seed, device=dev)
    ones = torch.ones(batch_size, device=dev)

    def loss_of() -> torch.Tensor:
        i = torch.randint(r_train.shape[0], (batch_size,), generator=g).to(dev)
        j = torch.randint(f_train.shape[0], (batch_size,), generator=g).to(dev)
        logits = torch.cat([net(r_train[i])[1], net(f_train[j])[1]]).squeeze(-1)
        return F.binary_cross_entropy_with_logits(logits, torch.cat([ones, torch.zeros_like(ones)]))

    train_adam(net, loss_of, iterations, lr)
    with torch.no_grad():
        logits = torch.cat([net(r_test)[1], net(f_test)[1]]).squeeze(-1)
        labels = torch.cat([torch.ones(r_test.shape[0], device=dev), torch.zeros(f_test.shape[0], device=dev)])
        ce = float(F.binary_cross_entropy_with_logits(logits, labels))
        accuracy = float(((logits > 0).float() == labels).float().mean())
    return (ce, accuracy) if return_accuracy else ce


class Forecaster(nn.Module):
    """A GRU over the history and a linear map from its last state to the whole horizon.

    Args:
        features: channels d.
        horizon: steps predicted H.
        hidden: GRU width.
    """

    def __init__(self, features: int, horizon: int, hidden: int):
        super().__init__()
        self.features, self.horizon = features, horizon
        self.gru = nn.GRU(features, hidden, batch_first=True)
        self.out = nn.Linear(hidden, horizon * features)

    def forward(self, history: torch.Tensor) -> torch.Tensor:
        """Shape: history: (batch, T_h, d). returns: (batch, H, d)."""
        _, last = self.gru(history)
        return self.out(last[-1]).reshape(history.shape[0], self.horizon, self.features)


def _init_uniform(module: nn.Module, g: torch.Generator) -> None:
    # torch's own default for GRU and Linear, U(±1/√fan), drawn from our generator
    for p in module.parameters():
        fan = p.shape[-1] if p.dim() > 1 else max(1, p.shape[0] // 3)
        bound = 1.0 / math.sqrt(fan)
        p.uniform_(-bound, bound, generator=g)


def prediction_score(real: object, fake: object, *, history: int | None = None, iterations: int = 200,
                     batch_size: int = 32, hidden: int = 32, lr: float = 1e-3, seed: int = 0,
                     device: torch.device | str | None = None) -> float:
    """Train on generated, test on real: MSE on real sequences of a forecaster trained on generated ones.

    The first ``history`` steps (default: half, T // 2) are the input and the remaining steps the
    target. A :class:`Forecaster` of width ``hidden`` is trained with Adam (``lr``) for
    ``iterations`` steps of ``batch_size`` generated sequences (with replacement) on the mean
    squared error, then scored by its mean squared error over every real sequence, step and
    channel of the target part. Lower is better.

    Shape:
        real: (n_real, T, d). fake: (n_fake, T, d) with T ≥ 2.
    """
    iterations, batch_size, hidden = (check_count(v, k) for v, k in
                                      ((iterations, "iterations"), (batch_size, "batch_size"), (hidden, "hidden")))
    r, f = check_pair(real, fake, min_len=2)
    steps = r.shape[1]
    split = steps // 2 if history is None else check_count(history, "history")
    if split >= steps:
        raise ValueError(f"history: expected fewer steps than the sequences' {steps}, got {split}")
    dev = resolve_device(device, r)
    r, f = r.to(dev, torch.float32), f.to(dev, torch.float32)
    g = make_generator(seed, STREAM_INDEX)
    net = build_module(lambda: Forecaster(r.shape[2], steps - split, hidden), _init_uniform, seed=seed, device=dev)

    def loss_of() -> torch.Tensor:
        batch = f[torch.randint(f.shape[0], (batch_size,), generator=g).to(dev)]
        return F.mse_loss(net(batch[:, :split]), batch[:, split:])

    train_adam(net, loss_of, iterations, lr)
    with torch.no_grad():
        return float(F.mse_loss(net(r[:, :split]), r[:, split:]))


__all__ = ["MARGINAL_BINS", "Forecaster", "classification_score", "marginal_score", "prediction_score"]
