"""Predictive score ("train on synthetic, test on real"): one-step-ahead MAE of a post-hoc GRU.

Reference: TimeGAN ``metrics/predictive_metrics.py`` (Yoon et al., 2019), re-used by Diffusion-TS
``Utils/predictive_metric.py``.
"""

from __future__ import annotations

import torch

from kernelops.metrics._common import batch_indices
from kernelops.metrics._gru import GRUSetup


def _inputs_targets(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs: steps 0..T-2 of the first d-1 channels; targets: steps 1..T-1 of the last one.

    With a single channel the reference has no input channel left (and a GRU of width 0); we then
    let the GRU read that channel itself at steps 0..T-2 (plain one-step-ahead forecasting).

    Shape:
        x: (n, T, d). returns: (n, T-1, max(d-1, 1)) and (n, T-1, 1).
    """
    d = x.shape[2]
    inputs = x[:, :-1, : d - 1] if d > 1 else x[:, :-1, :]
    return inputs, x[:, 1:, d - 1 :]


def predictive_score(
    real: object,
    fake: object,
    *,
    iterations: int = 5000,
    batch_size: int = 128,
    hidden: int | None = None,
    seed: int = 0,
    device: torch.device | str | None = None,
) -> float:
    """Mean absolute error on real data of a GRU forecaster trained on generated data.

    As in the reference: a one-layer GRU (tanh, width ``features // 2``) reads channels
    0..d-2 at steps 0..T-2; a linear layer and a sigmoid map each of its outputs to a prediction
    of channel d-1 one step later (steps 1..T-1). It is trained on the generated windows only,
    with Adam (lr 1e-3) on the mean absolute error, for ``iterations`` steps of ``batch_size``
    windows drawn without replacement. The score is the mean absolute error of its predictions
    over all real windows and all T-1 target steps (the reference averages per-window MAEs,
    which is the same number since all windows have the same length).

    Lower is better; it is bounded below by the real data's own predictability, so compare with
    the score of real training data vs. real held-out data (Sines: about 0.093-0.094).

    Differences from the reference: ``torch.nn.GRU`` with TensorFlow's initialisation (see
    :mod:`kernelops.metrics._gru`); ``hidden`` defaults to max(features // 2, 1); with a single
    feature (where the reference breaks) the GRU reads that feature itself and forecasts it one
    step ahead; float32 as in the reference. If the sizes differ, the larger set is subsampled
    (by ``seed``) to the size of the smaller.

    Args:
        real: real windows (the test set), values in [0, 1].
        fake: generated windows (the training set) of the same (seq_len, features).
        iterations: optimisation steps (reference: 5000).
        batch_size: windows per step (reference: 128).
        hidden: GRU width (default max(features // 2, 1)).
        seed: seeds the subsample, the batches and the initial weights.
        device: where to compute (default: the device of ``real``).

    Returns:
        The MAE on the real windows.

    Raises:
        ShapeError: if an input is not a finite 3-d array, the two disagree in
            (seq_len, features), or the windows have fewer than 2 steps.

    Shape:
        real: (n_real, seq_len, features). fake: (n_fake, seq_len, features).
    """
    setup = GRUSetup(real, fake, iterations=iterations, batch_size=batch_size, hidden=hidden, seed=seed,
                     device=device, min_len=2)
    g, dev, batch = setup.generator, setup.device, setup.batch_size
    x_train, y_train = _inputs_targets(setup.fake)
    x_test, y_test = _inputs_targets(setup.real)
    net = setup.network(x_train.shape[2])

    def step_loss() -> torch.Tensor:
        idx = batch_indices(x_train.shape[0], batch, g).to(dev)
        return (torch.sigmoid(net(x_train[idx])[0]) - y_train[idx]).abs().mean()

    setup.train(net, step_loss)

    with torch.no_grad():
        pred = torch.sigmoid(net(x_test)[0])
        return float((pred.double() - y_test.double()).abs().mean())
