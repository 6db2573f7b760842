"""predictive_score: the paper's real-data row, noise training data, one channel."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kernelops.metrics import predictive_score
from kernelops.metrics.predictive import _inputs_targets


def test_inputs_and_targets_follow_the_reference():
    x = torch.arange(2 * 4 * 3, dtype=torch.float64).reshape(2, 4, 3)
    inputs, targets = _inputs_targets(x)
    assert torch.equal(inputs, x[:, :3, :2])  # channels 0..d-2 at steps 0..T-2
    assert torch.equal(targets, x[:, 1:, 2:])  # channel d-1 at steps 1..T-1
    one = x[..., :1]
    inputs, targets = _inputs_targets(one)  # one channel: forecast it from itself
    assert torch.equal(inputs, one[:, :3]) and torch.equal(targets, one[:, 1:])


@pytest.mark.slow
def test_real_sines_score_matches_the_design_real_data_row(sines):
    # the paper: real data's own predictive score on Sines is 0.094; our floor run (5000 steps
    # on 10 000 windows, docs/metrics.md) gives 0.0927-0.0931. With 1500 steps on 1000 windows
    # the forecaster is not quite converged (measured 0.0952 and 0.0951 for seeds 0 and 1; 0.097
    # at 1000 steps, 0.0957 at 2000 on 2000 windows), and seeds differ by ~0.001, so ±0.006 covers
    # both while rejecting a broken metric (a noise-trained forecaster scores ≈ 0.13-0.3, the
    # best constant 0.137). Sines channels are independent, so the floor is essentially the best
    # per-step profile (per-step median: 0.0946); alignment is tested separately above.
    real, fake = sines(1000, seed=1), sines(1000, seed=2)
    assert predictive_score(real, fake, iterations=1500, seed=0) == pytest.approx(0.094, abs=0.006)


def test_training_on_noise_is_much_worse(sines):
    # Short windows and 150 steps keep this quick; measured ratios 1.8-2.9 over seeds.
    real, fake = sines(200, seq_len=8, seed=1), sines(200, seq_len=8, seed=2)
    noise = np.random.default_rng(3).uniform(size=real.shape)
    good = predictive_score(real, fake, iterations=150, batch_size=32)
    bad = predictive_score(real, noise, iterations=150, batch_size=32)
    assert bad > 1.6 * good


def test_single_feature_forecasts_the_channel_itself(sines):
    # The reference breaks on one feature; we forecast the channel from its own past. (A GRU of
    # the default width 1 learns slowly; width 4 shows the effect in 150 steps: ratios 2.1-2.6.)
    real, fake = sines(200, seq_len=8, features=1, seed=1), sines(200, seq_len=8, features=1, seed=2)
    noise = np.random.default_rng(3).uniform(size=real.shape)
    good = predictive_score(real, fake, iterations=150, batch_size=32, hidden=4)
    bad = predictive_score(real, noise, iterations=150, batch_size=32, hidden=4)
    assert bad > 1.6 * good


def test_is_reproducible_by_seed(sines):
    real, fake = sines(30, seq_len=6, features=3, seed=0), sines(50, seq_len=6, features=3, seed=1)
    a = predictive_score(real, fake, iterations=20, batch_size=16, seed=2)
    assert a == predictive_score(real, fake, iterations=20, batch_size=16, seed=2)
    assert a != predictive_score(real, fake, iterations=20, batch_size=16, seed=3)
    with pytest.raises(Exception, match="real"):
        predictive_score(real[:, :1], fake[:, :1], iterations=1)  # one step: nothing to forecast
