"""benchmarks/anomaly.py: its AUROC, corruptions and injected anomalies do what they say."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def anomaly(load_script):
    sys.path.insert(0, str(BENCHMARKS))  # the script imports its sibling helper _results by plain name
    try:
        yield load_script("anomaly")
    finally:
        sys.path.remove(str(BENCHMARKS))


def test_auroc_matches_the_pairwise_definition(anomaly):
    normal, bad = np.array([0.1, 0.4, 0.35, 0.8]), np.array([0.9, 0.4, 0.5])
    # pairs with bad > normal: 0.9 beats 4, 0.4 beats 2 and ties 1, 0.5 beats 3 -> (4 + 2 + 0.5 + 3) / 12
    assert anomaly.auroc(normal, bad) == pytest.approx(9.5 / 12)
    assert anomaly.auroc(normal, normal + 10) == 1.0 and anomaly.auroc(normal + 10, normal) == 0.0


def test_corruptions_keep_values_and_change_order(anomaly):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 24, 3))
    shuffled = anomaly.time_shuffled(x, np.random.default_rng(1))
    for w, s in zip(x, shuffled):  # the same rows, moved together across channels
        assert not np.array_equal(w, s)
        assert sorted(map(tuple, w)) == sorted(map(tuple, s))
    reversed_ = anomaly.channel_reversed(x, np.random.default_rng(1))
    changed = (reversed_ != x).any(1)  # (window, channel): exactly one channel per window
    assert changed.sum(1).tolist() == [1] * 5
    i, c = np.argwhere(changed)[0]
    np.testing.assert_array_equal(reversed_[i, :, c], x[i, ::-1, c])


def test_injected_anomalies(anomaly):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 24, 3))
    std = np.array([1.0, 2.0, 3.0])
    spiked = anomaly.inject(x, "spike", std, np.random.default_rng(2))
    diff = spiked - x
    assert ((diff != 0).sum((1, 2)) == 1).all()
    assert sorted(np.abs(diff[diff != 0]) / np.broadcast_to(std, x.shape)[diff != 0]) == pytest.approx([5.0] * 4)
    shifted = anomaly.inject(x, "level shift", std, np.random.default_rng(2)) - x
    for w in shifted:
        steps, channels = np.nonzero(w)
        assert len(set(channels)) == 1 and steps.max() == 23 and 6 <= steps.min() < 18
        assert np.abs(w[steps, channels]) == pytest.approx(2.0 * std[channels[0]])
    swapped = anomaly.inject(x, "swapped channels", std, np.random.default_rng(2))
    for w, s in zip(x, swapped):
        moved = [c for c in range(3) if not np.array_equal(w[:, c], s[:, c])]
        assert len(moved) == 2 and np.array_equal(s[:, moved[0]], w[:, moved[1]])
    np.testing.assert_array_equal(anomaly.inject(x, "time reversal", std, rng), x[:, ::-1])
    with pytest.raises(ValueError, match="kind"):
        anomaly.inject(x, "drift", std, rng)
