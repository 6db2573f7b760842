"""discriminative_score: chance for held-out real data, ~0.5 for separable sets, the expected
level for a partly corrupted copy; seeding and the TensorFlow-style initialisation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from kernelops.metrics import discriminative_score
from kernelops.metrics._common import build_module
from kernelops.metrics._gru import GRUHead, init_like_tensorflow


@pytest.mark.slow
def test_scores_order_held_out_corrupted_and_separable_sets(sines):
    # Short windows, a wider GRU and 400 steps keep this quick; the protocol itself is tested by
    # the floor measurement in docs/metrics.md.
    real, held_out = sines(200, seq_len=12, seed=1), sines(200, seq_len=12, seed=2)
    noise = np.random.default_rng(5).uniform(size=real.shape)
    corrupted = held_out.copy()
    corrupted[:50] = noise[:50]  # a quarter of the generated windows replaced by noise
    kw = dict(iterations=400, batch_size=32, hidden=8, seed=0)
    assert discriminative_score(real, held_out, **kw) < 0.1  # chance: |acc - 0.5| ≈ 0
    assert discriminative_score(real, noise, **kw) > 0.4  # separable
    assert discriminative_score(real, held_out[:, ::-1].copy(), **kw) > 0.4  # time-reversed
    # An ideal classifier calls the clean three quarters of the corrupted set "real" (posterior
    # 1/(1 + 3/4) > 1/2) and the noisy quarter "generated": accuracy (1 + 1/4)/2, score 0.125.
    assert 0.05 < discriminative_score(real, corrupted, **kw) < 0.22


def test_is_reproducible_by_seed(sines):
    real, fake = sines(40, seq_len=6, features=2, seed=0), sines(40, seq_len=6, features=2, seed=1)
    a = discriminative_score(real, fake, iterations=30, batch_size=16, seed=3)
    assert a == discriminative_score(real, fake, iterations=30, batch_size=16, seed=3)
    values = {discriminative_score(real, fake, iterations=30, batch_size=16, seed=s) for s in range(4)}
    assert len(values) > 1
    # |acc − 0.5| on 8 + 8 held-out windows: a multiple of 1/16 in [0, 0.5].
    assert all(0 <= v <= 0.5 and abs(v * 16 - round(v * 16)) < 1e-9 for v in values)


def test_untrained_classifier_on_identical_sets_is_at_chance(sines):
    # With identical sets and test splits of equal size, a classifier's accuracy is
    # 1/2 + (fraction of real test windows called real − fraction of generated ones)/2; one
    # Adam step cannot make that large.
    real = sines(100, seq_len=6, features=2, seed=0)
    assert discriminative_score(real, real.copy(), iterations=1) < 0.15


def test_tensorflow_initialisation():
    head = build_module(lambda: GRUHead(5, 2), init_like_tensorflow, seed=0, device=torch.device("cpu"))
    gru = head.gru
    h, n_in = 2, 5
    gate_bound = math.sqrt(6 / (n_in + h + 2 * h))
    cand_bound = math.sqrt(6 / (n_in + h + h))
    assert gru.weight_ih_l0[: 2 * h].abs().max() <= gate_bound
    assert gru.weight_hh_l0[: 2 * h].abs().max() <= gate_bound
    assert gru.weight_ih_l0[2 * h :].abs().max() <= cand_bound
    assert gru.weight_ih_l0[: 2 * h].abs().max() > cand_bound * 0.5  # not all tiny
    torch.testing.assert_close(gru.bias_ih_l0, torch.tensor([1.0, 1.0, 1.0, 1.0, 0.0, 0.0]))
    assert torch.count_nonzero(gru.bias_hh_l0) == 0 and torch.count_nonzero(head.out.bias) == 0
    assert head.out.weight.abs().max() <= math.sqrt(6 / (h + 1))
    again = build_module(lambda: GRUHead(5, 2), init_like_tensorflow, seed=0, device=torch.device("cpu"))
    for p, q in zip(head.parameters(), again.parameters()):
        assert torch.equal(p, q)


def test_hidden_must_be_positive(sines):
    with pytest.raises(ValueError, match="hidden"):
        discriminative_score(sines(10), sines(10), hidden=0, iterations=1)
    with pytest.raises(ValueError, match="iterations"):
        discriminative_score(sines(10), sines(10), iterations=0)
