"""TS2Vec: the contrastive loss against a brute-force loop, the encoder's structure, seeded
training, the weight average and encoding."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from kernelops.errors import ShapeError
from kernelops.metrics import TS2Vec
from kernelops.metrics.contrastive import (
    hierarchical_contrastive_loss,
    instance_contrastive_loss,
    temporal_contrastive_loss,
)
from kernelops.metrics.ts2vec import TSEncoder, _take_per_row, default_iterations


def _nll_partner(vectors: list[torch.Tensor], i: int, j: int) -> float:
    """−log softmax over k ≠ i of <v_i, v_k>, taken at k = j."""
    others = [k for k in range(len(vectors)) if k != i]
    logits = torch.stack([vectors[i] @ vectors[k] for k in others])
    return float(-(logits[others.index(j)] - torch.logsumexp(logits, 0)))


def _brute_instance(z1, z2):
    b, t, _ = z1.shape
    total = 0.0
    for s in range(t):
        v = [z1[i, s] for i in range(b)] + [z2[i, s] for i in range(b)]
        total += sum(_nll_partner(v, i, i + b) + _nll_partner(v, i + b, i) for i in range(b))
    return total / (2 * b * t)


def _brute_temporal(z1, z2):
    b, t, _ = z1.shape
    total = 0.0
    for i in range(b):
        v = [z1[i, s] for s in range(t)] + [z2[i, s] for s in range(t)]
        total += sum(_nll_partner(v, s, s + t) + _nll_partner(v, s + t, s) for s in range(t))
    return total / (2 * b * t)


def _brute_hierarchical(z1, z2):
    total, levels = 0.0, 0
    while z1.shape[1] > 1:
        total += 0.5 * _brute_instance(z1, z2) + 0.5 * _brute_temporal(z1, z2)
        levels += 1
        z1 = F.max_pool1d(z1.transpose(1, 2), 2).transpose(1, 2)
        z2 = F.max_pool1d(z2.transpose(1, 2), 2).transpose(1, 2)
    return (total + 0.5 * _brute_instance(z1, z2)) / (levels + 1)


def test_contrastive_losses_match_a_brute_force_loop():
    g = torch.Generator().manual_seed(0)
    z1 = torch.randn(3, 5, 4, generator=g, dtype=torch.float64)
    z2 = torch.randn(3, 5, 4, generator=g, dtype=torch.float64)
    assert float(instance_contrastive_loss(z1, z2)) == pytest.approx(_brute_instance(z1, z2), rel=1e-12)
    assert float(temporal_contrastive_loss(z1, z2)) == pytest.approx(_brute_temporal(z1, z2), rel=1e-12)
    # T = 5 → levels of 5, 2, 1 steps (max-pool by 2 drops the odd last step).
    assert float(hierarchical_contrastive_loss(z1, z2)) == pytest.approx(_brute_hierarchical(z1, z2), rel=1e-12)


def test_contrastive_loss_degenerate_cases():
    z = torch.randn(1, 1, 3, dtype=torch.float64)
    assert float(instance_contrastive_loss(z, z)) == 0.0  # one window: nothing to contrast
    assert float(temporal_contrastive_loss(z, z)) == 0.0  # one step
    # Perfectly matched, well separated views: each item's partner dominates → loss ≈ 0;
    # uninformative (all-equal) representations: uniform over 2K − 1 candidates.
    eye = 10.0 * torch.eye(4, dtype=torch.float64).reshape(4, 1, 4)
    assert float(instance_contrastive_loss(eye, eye)) < 1e-30
    flat = torch.ones(4, 1, 4, dtype=torch.float64)
    assert float(instance_contrastive_loss(flat, flat)) == pytest.approx(math.log(7), rel=1e-12)


def test_encoder_layout_follows_the_reference():
    enc = TSEncoder(input_dims=3, output_dims=16, hidden_dims=8, depth=4)
    blocks = list(enc.blocks)
    assert len(blocks) == 5  # depth hidden blocks + a final block to output_dims
    assert [b.conv1.dilation[0] for b in blocks] == [1, 2, 4, 8, 16]
    assert [b.projector is not None for b in blocks] == [False, False, False, False, True]
    assert blocks[-1].conv2.out_channels == 16
    out = enc(torch.randn(2, 7, 3))
    assert out.shape == (2, 7, 16)


def test_dilated_conv_shortcut_equals_the_full_convolution():
    # Blocks whose dilation reaches the window length use only the centre tap.
    enc = TSEncoder(input_dims=2, output_dims=6, hidden_dims=5, depth=5).double()
    x = torch.randn(3, 6, 2, dtype=torch.float64)
    fast = enc(x)
    for m in enc.modules():
        if isinstance(m, torch.nn.Conv1d):
            m.forward = lambda inp, m=m: torch.nn.Conv1d.forward(m, inp)
    torch.testing.assert_close(fast, enc(x), rtol=1e-12, atol=1e-12)


def test_convolutions_are_same_padded_not_causal():
    # Like the reference code, a step's representation depends on later steps too.
    enc = TSEncoder(input_dims=1, output_dims=4, hidden_dims=4, depth=2).double()
    x = torch.randn(1, 8, 1, dtype=torch.float64)
    y = x.clone()
    y[0, -1] += 1.0
    assert not torch.allclose(enc(x)[0, 0], enc(y)[0, 0])


def test_timestamp_mask_zeroes_the_projected_input():
    enc = TSEncoder(input_dims=2, output_dims=4, hidden_dims=3, depth=1).double()
    x = torch.randn(1, 5, 2, dtype=torch.float64)
    keep = torch.tensor([[True, False, True, True, True]])
    y = x.clone()
    y[0, 1] = 100.0  # a masked step's value must not matter
    torch.testing.assert_close(enc(x, keep), enc(y, keep))


def test_take_per_row():
    x = torch.arange(2 * 6).reshape(2, 6, 1)
    got = _take_per_row(x, torch.tensor([1, 3]), 3)
    assert got[..., 0].tolist() == [[1, 2, 3], [9, 10, 11]]


def test_default_iterations_rule():
    assert default_iterations((10000, 24, 5)) == 600  # Sines: 1.2 M values
    assert default_iterations((800, 24, 5)) == 200


def test_fit_is_seeded_and_leaves_the_global_rng_alone(sines):
    data = sines(40, features=2, seed=0)
    state = torch.get_rng_state().clone()
    a = TS2Vec(2, output_dims=8, hidden_dims=8, depth=2, seed=3)
    losses_a = a.fit(data, iterations=6)
    b = TS2Vec(2, output_dims=8, hidden_dims=8, depth=2, seed=3)
    losses_b = b.fit(data, iterations=6)
    assert torch.equal(state, torch.get_rng_state())
    assert losses_a == losses_b and len(losses_a) == 6
    torch.testing.assert_close(a.encode(data), b.encode(data), rtol=0, atol=0)
    c = TS2Vec(2, output_dims=8, hidden_dims=8, depth=2, seed=4)
    assert c.fit(data, iterations=6) != losses_a


def test_encode_uses_the_uniform_average_of_all_iterates(sines):
    data = sines(24, features=2, seed=1)
    model = TS2Vec(2, output_dims=6, hidden_dims=5, depth=1, seed=0)
    snapshots = [[p.detach().clone() for p in model.net.parameters()]]
    for _ in range(3):
        model.fit(data, iterations=1)
        snapshots.append([p.detach().clone() for p in model.net.parameters()])
    for k, p in enumerate(model.averaged.module.parameters()):
        torch.testing.assert_close(p, torch.stack([s[k] for s in snapshots]).mean(0))
    assert model.n_iters == 3


def test_full_series_encoding_is_the_max_over_steps(sines):
    data = sines(5, features=3, seed=2)
    model = TS2Vec(3, output_dims=7, hidden_dims=4, depth=2, seed=0)
    per_step = model.encode(data, encoding_window=None)
    assert per_step.shape == (5, 24, 7)
    torch.testing.assert_close(model.encode(data, batch_size=2), per_step.amax(dim=1))


def test_bad_input_names_the_argument():
    model = TS2Vec(3, output_dims=4, hidden_dims=4, depth=1)
    with pytest.raises(ShapeError, match="data"):
        model.fit(np.zeros((4, 10, 2)), iterations=1)
    with pytest.raises(ShapeError, match="data"):
        model.encode(np.zeros((4, 10)))
    bad = np.zeros((4, 10, 3))
    bad[1, 2, 0] = np.nan
    with pytest.raises(ShapeError, match="data"):
        model.fit(bad, iterations=1)
    with pytest.raises(ShapeError, match="data"):
        model.fit(np.zeros((4, 1, 3)), iterations=1)  # crops need 2 steps
    with pytest.raises(ValueError, match="encoding_window"):
        model.encode(np.zeros((2, 5, 3)), encoding_window="multiscale")
