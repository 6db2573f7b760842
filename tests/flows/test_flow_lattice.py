"""Lattice channels: found in training data, generated values rounded onto them, kept in checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kernelops.flows import SpectralMeanFlow
from kernelops.flows import checkpoint as ckpt
from kernelops.flows.lattice import channel_lattice, detect_lattices, snap_to_lattice


def test_channel_lattice_finds_evenly_spaced_levels_and_nothing_else():
    counts = np.random.default_rng(0).integers(0, 11, size=(50, 6)) / 10
    lat = channel_lattice(counts)
    assert lat is not None and lat["offset"] == 0.0 and lat["levels"] == 11
    assert lat["step"] == pytest.approx(0.1)
    # levels need not all occur: 0.2, 0.5 and 0.8 are levels 0, 1, 2 of step 0.3
    assert channel_lattice(np.array([0.2, 0.8, 0.5, 0.2, np.nan])) == pytest.approx(
        {"offset": 0.2, "step": 0.3, "levels": 3})
    assert channel_lattice(np.array([0.0, 0.1, 0.25])) is None  # 0.25 lies between the levels of step 0.1
    assert channel_lattice(np.array([0.5, 0.5])) is None  # one value: a constant, not a lattice
    assert channel_lattice(np.arange(40) / 39) is None  # more levels than LATTICE_MAX_LEVELS (32)
    assert channel_lattice(np.arange(40) / 39, max_levels=40)["levels"] == 40
    assert channel_lattice(np.random.default_rng(1).uniform(size=100)) is None  # continuous values


def test_snap_rounds_to_the_nearest_level_and_clamps_to_the_levels_seen():
    lattices = [{"offset": 0.2, "step": 0.3, "levels": 3}, None]
    x = torch.tensor([[0.0, 0.33], [0.36, 0.5], [0.34, -1.0], [0.95, 2.0], [float("nan"), 0.1]])
    got = snap_to_lattice(x, lattices)
    np.testing.assert_allclose(got[:4, 0].numpy(), [0.2, 0.5, 0.2, 0.8], atol=1e-7)
    assert torch.isnan(got[4, 0])
    assert torch.equal(got[:, 1], x[:, 1])  # a continuous channel is untouched
    assert snap_to_lattice(x, None) is x and snap_to_lattice(x, [None, None]) is x
    with pytest.raises(ValueError, match="expected 3 channels"):
        snap_to_lattice(x, [None, None, lattices[0]])


def _counts_and_sines(num: int = 200) -> np.ndarray:
    """Channel 0: counts 0…4 scaled to [0, 1] (step 0.25); channel 1: a continuous sine."""
    gen = np.random.default_rng(3)
    t = np.arange(12)[None, :]
    counts = gen.binomial(4, 0.5, size=(num, 12)) / 4
    sines = 0.5 + 0.4 * np.sin(0.3 * t + gen.uniform(0, 2 * np.pi, (num, 1)))
    return np.stack([counts, sines], axis=2).astype(np.float32)


def _small(**kw) -> SpectralMeanFlow:
    return SpectralMeanFlow(potential="window", depth=1, width=32, local_context=0, **kw)


def test_model_rounds_a_count_channel_and_leaves_a_continuous_one(tmp_path):
    data = _counts_and_sines()
    model = _small().fit(data, steps=30, batch_size=32, progress=False)
    assert model.lattices == detect_lattices(data)
    assert model.lattices[0] == pytest.approx({"offset": 0.0, "step": 0.25, "levels": 5}) and model.lattices[1] is None
    x = model.sample(300, seed=0).numpy()
    levels = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
    assert np.abs(x[..., 0][..., None] - levels).min(-1).max() < 1e-6  # every count on a level
    assert np.unique(x[..., 1]).size > 1000  # the sine stays continuous
    # the same draw from a model that treats every channel as continuous differs exactly there
    plain = _small(discrete="none").fit(data, steps=30, batch_size=32, progress=False)
    assert plain.lattices is None
    y = plain.sample(300, seed=0).numpy()
    assert np.abs(y[..., 0][..., None] - levels).min(-1).max() > 0.01
    np.testing.assert_allclose(x[..., 1], y[..., 1], atol=1e-6)
    np.testing.assert_allclose(x[..., 0], np.clip(np.round(y[..., 0] * 4) / 4, 0, 1), atol=1e-6)
    # a checkpoint keeps the lattices; a file from before them loads as all-continuous
    path = model.save(tmp_path / "m.pt")
    again = SpectralMeanFlow.load(path)
    assert again.discrete == "auto" and again.lattices == model.lattices
    np.testing.assert_array_equal(again.sample(50, seed=1).numpy(), model.sample(50, seed=1).numpy())
    state = ckpt.read(path)
    for key in ("discrete", "lattices"):
        del state["config"][key]
    old = SpectralMeanFlow.load(ckpt.save(tmp_path / "old.pt", state))
    assert old.discrete == "none" and old.lattices is None


def test_conditional_samples_keep_observations_and_round_the_generated_counts():
    data = _counts_and_sines()
    model = _small().fit(data, steps=30, batch_size=32, progress=False)
    observed = torch.from_numpy(data[:2].copy())
    observed[:, 6:] = float("nan")  # forecast the second half
    observed[0, 0, 0] = 0.3  # an observation off the lattice is returned as given
    x = model.sample(4, observed=observed, seed=0, method="gaussian")
    assert x.shape == (2, 4, 12, 2)
    assert torch.all(x[0, :, 0, 0] == observed[0, 0, 0])
    generated = x[:, :, 6:, 0].numpy()
    assert np.abs(generated * 4 - np.round(generated * 4)).max() < 1e-6


def test_discrete_setting_is_checked():
    with pytest.raises(ValueError, match="discrete: expected one of"):
        SpectralMeanFlow(discrete="yes")
