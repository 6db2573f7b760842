"""Input checks shared by all metrics, size matching, and evaluate_all's bookkeeping."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import kernelops.metrics as km
from kernelops.errors import ShapeError
from kernelops.metrics import (
    METRICS,
    context_fid,
    correlational_score,
    discriminative_score,
    evaluate_all,
    predictive_score,
)
from kernelops.metrics._common import match_sizes

ALL = [
    lambda r, f: context_fid(r, f, iterations=1),
    correlational_score,
    lambda r, f: discriminative_score(r, f, iterations=1),
    lambda r, f: predictive_score(r, f, iterations=1),
    lambda r, f: evaluate_all(r, f, runs=1, fast=True),
]


@pytest.fixture(params=range(len(ALL)), ids=["context_fid", "correlational", "discriminative", "predictive", "evaluate_all"])
def metric(request):
    return ALL[request.param]


def test_mismatched_features_name_fake(metric, sines):
    with pytest.raises(ShapeError, match=r"fake: expected \(seq_len, features\) = \(24, 5\)"):
        metric(sines(10), sines(10, features=4))


def test_mismatched_length_names_fake(metric, sines):
    with pytest.raises(ShapeError, match="fake"):
        metric(sines(10), sines(10, seq_len=12))


def test_nan_names_the_argument(metric, sines):
    bad = sines(10)
    bad[3, 4, 1] = np.nan
    with pytest.raises(ShapeError, match="real.*NaN"):
        metric(bad, sines(10, seed=1))
    with pytest.raises(ShapeError, match="fake.*NaN"):
        metric(sines(10, seed=1), torch.from_numpy(bad))


def test_wrong_rank_names_the_argument(metric, sines):
    with pytest.raises(ShapeError, match=r"real: expected shape \(n, seq_len, features\)"):
        metric(sines(10)[0], sines(10))
    with pytest.raises(ShapeError, match="fake"):
        metric(sines(10), sines(10)[None])
    with pytest.raises(ShapeError, match="fake: expected a numpy array or torch.Tensor"):
        metric(sines(10), "not data")


def test_match_sizes_subsamples_the_larger_set_without_replacement():
    real = torch.arange(10.0).reshape(10, 1, 1)
    fake = torch.arange(100.0, 104.0).reshape(4, 1, 1)
    r, f = match_sizes(real, fake, seed=0)
    assert r.shape[0] == f.shape[0] == 4
    assert torch.equal(f, fake)  # the smaller set is unchanged
    picked = r.flatten().tolist()
    assert len(set(picked)) == 4 and set(picked) <= set(range(10))
    r2, _ = match_sizes(real, fake, seed=0)
    assert torch.equal(r, r2)  # seeded
    f3, r3 = match_sizes(fake, real, seed=1)
    assert torch.equal(f3, fake) and r3.shape[0] == 4


def test_evaluate_all_rejects_unknown_metrics(sines):
    with pytest.raises(ValueError, match="known metrics: context_fid, correlational, discriminative, predictive"):
        evaluate_all(sines(10), sines(10), metrics=("fid",))
    with pytest.raises(ValueError, match="runs"):
        evaluate_all(sines(10), sines(10), metrics=("correlational",), runs=0)


def test_evaluate_all_runs_each_metric_with_per_run_seeds(sines, monkeypatch):
    # Shrink the protocol's iteration counts so the bookkeeping can be checked quickly; fast mode
    # must divide them by 10.
    monkeypatch.setattr(km, "DISCRIMINATIVE_ITERATIONS", 30)
    monkeypatch.setattr(km, "PREDICTIVE_ITERATIONS", 20)
    real, fake = sines(30, seq_len=8, features=2, seed=0), sines(36, seq_len=8, features=2, seed=1)
    out = evaluate_all(real, fake, metrics=("correlational", "discriminative", "predictive"), runs=3, seed=5, fast=True)
    assert list(out) == ["correlational", "discriminative", "predictive"]
    expected = {
        "correlational": [correlational_score(real, fake, sample_size=10, seed=5 + k) for k in range(3)],
        "discriminative": [discriminative_score(real, fake, iterations=3, seed=5 + k) for k in range(3)],
        "predictive": [predictive_score(real, fake, iterations=2, seed=5 + k) for k in range(3)],
    }
    for name, values in expected.items():
        entry = out[name]
        assert entry["values"] == values
        assert entry["mean"] == pytest.approx(np.mean(values))
        assert entry["std"] == pytest.approx(np.std(values, ddof=1))
        assert entry["fast"] is True and entry["runs"] == 3
        assert entry["ci95"] == pytest.approx(4.302652729911275 * np.std(values, ddof=1) / np.sqrt(3))
    assert METRICS == ("context_fid", "correlational", "discriminative", "predictive")


def test_metrics_leave_the_global_rng_alone(sines):
    real, fake = sines(20, seq_len=6, features=2, seed=0), sines(20, seq_len=6, features=2, seed=1)
    state = torch.get_rng_state().clone()
    discriminative_score(real, fake, iterations=2)
    predictive_score(real, fake, iterations=2)
    context_fid(real, fake, iterations=2)
    correlational_score(real, fake, sample_size=5)
    assert torch.equal(state, torch.get_rng_state())
