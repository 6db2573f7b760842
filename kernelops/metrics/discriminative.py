"""Discriminative score: how well a small post-hoc GRU tells generated windows from real ones.

Reference: TimeGAN ``metrics/discriminative_metrics.py`` (Yoon et al., 2019), re-used unchanged
(in substance) by Diffusion-TS ``Utils/discriminative_metric.py``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from kernelops.metrics._common import batch_indices
from kernelops.metrics._gru import GRUSetup

TRAIN_RATE = 0.8


def _split(x: torch.Tensor, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    # The reference splits each set on its own: a permutation, first int(0.8 n) for training.
    perm = torch.randperm(x.shape[0], generator=g).to(x.device)
    n_train = int(x.shape[0] * TRAIN_RATE)
    return x[perm[:n_train]], x[perm[n_train:]]


def discriminative_score(
    real: object,
    fake: object,
    *,
    iterations: int = 2000,
    batch_size: int = 128,
    hidden: int | None = None,
    seed: int = 0,
    device: torch.device | str | None = None,
) -> float:
    """|accuracy − 0.5| of a one-layer GRU classifier of real vs. generated windows.

    As in the reference: real and generated windows are each split at random into 80 % for
    training and 20 % held out. A GRU (tanh, width ``features // 2``) reads the whole window and
    a linear layer maps its last state to a logit (real = 1, generated = 0). It is trained with
    Adam (lr 1e-3) for ``iterations`` steps, each on a batch of ``batch_size`` real and
    ``batch_size`` generated training windows drawn without replacement, minimising
    BCE(real) + BCE(generated). The score is |acc − 0.5| where acc is the accuracy (threshold
    p > 0.5) over all held-out real and generated windows together.

    Lower is better: 0 means the classifier cannot tell the sets apart (chance accuracy), 0.5
    that it separates them perfectly. Single runs are noisy; compare means over ≥ 5 seeds.

    Differences from the reference: TensorFlow's ``GRUCell`` is replaced by ``torch.nn.GRU``
    with TensorFlow's initialisation (see :mod:`kernelops.metrics._gru`); ``hidden`` defaults to
    max(features // 2, 1) where the reference's int(features / 2) is 0 for one feature; the
    network computes in float32 as the reference does. If ``real`` and ``fake`` differ in size,
    the larger is subsampled (by ``seed``) to the size of the smaller before the split.

    Args:
        real: real windows, values in [0, 1].
        fake: generated windows of the same (seq_len, features).
        iterations: optimisation steps (reference: 2000).
        batch_size: windows per class and step (reference: 128).
        hidden: GRU width (default max(features // 2, 1)).
        seed: seeds the subsample, the split, the batches and the initial weights.
        device: where to compute (default: the device of ``real``).

    Returns:
        The score in [0, 0.5].

    Raises:
        ShapeError: if an input is not a finite 3-d array, or the two disagree in
            (seq_len, features), or either has fewer than 2 windows.

    Shape:
        real: (n_real, seq_len, features). fake: (n_fake, seq_len, features).
    """
    setup = GRUSetup(real, fake, iterations=iterations, batch_size=batch_size, hidden=hidden, seed=seed,
                     device=device, min_count=2)
    g, dev, batch = setup.generator, setup.device, setup.batch_size
    r_train, r_test = _split(setup.real, g)
    f_train, f_test = _split(setup.fake, g)
    net = setup.network(setup.real.shape[2])

    def step_loss() -> torch.Tensor:
        _, logit_r = net(r_train[batch_indices(r_train.shape[0], batch, g).to(dev)])
        _, logit_f = net(f_train[batch_indices(f_train.shape[0], batch, g).to(dev)])
        return F.binary_cross_entropy_with_logits(
            logit_r, torch.ones_like(logit_r)
        ) + F.binary_cross_entropy_with_logits(logit_f, torch.zeros_like(logit_f))

    setup.train(net, step_loss)

    with torch.no_grad():
        _, logit_r = net(r_test)
        _, logit_f = net(f_test)
        # sigmoid(logit) > 0.5  <=>  logit > 0
        correct = int((logit_r > 0).sum()) + int((logit_f <= 0).sum())
    accuracy = correct / (r_test.shape[0] + f_test.shape[0])
    return abs(accuracy - 0.5)
