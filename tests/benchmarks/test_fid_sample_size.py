"""benchmarks/fid_sample_size.py: disjoint splits, the 1/n extrapolation, and the measurement."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def script(load_script):
    return load_script("fid_sample_size")


def test_disjoint_pair_draws_two_disjoint_sorted_sets(script):
    a, b = script.disjoint_pair(100, 40, np.random.default_rng(0))
    assert len(a) == len(b) == 40 and not set(a) & set(b)
    assert (np.diff(a) > 0).all() and (np.diff(b) > 0).all() and max(a.max(), b.max()) < 100
    with pytest.raises(ValueError, match="at most n_total / 2 = 50"):
        script.disjoint_pair(100, 51, np.random.default_rng(0))


def test_one_over_n_extrapolation_is_exact_on_c_over_n_and_least_squares_otherwise(script):
    sizes = [100, 200, 400]
    assert script.one_over_n_extrapolation(sizes, [0.5 / s for s in sizes], 800) == pytest.approx(0.5 / 800)
    # values off the curve: c minimises Σ (y − c/s)², i.e. c = Σ y/s / Σ 1/s²
    y = [0.01, 0.004, 0.003]
    x = 1 / np.asarray(sizes, dtype=float)
    c = (x * y).sum() / (x * x).sum()
    assert script.one_over_n_extrapolation(sizes, y, 50) == pytest.approx(c / 50)


def test_a_shifted_model_scores_far_above_the_real_pairs_at_every_size(script):
    rng = np.random.default_rng(1)
    t = np.linspace(0, 1, 8)
    real = (0.5 + 0.2 * np.sin(6 * t[None, :, None] + rng.uniform(0, 3, (256, 1, 2)))).astype(np.float32)
    fake = (real + 0.3).astype(np.float32)
    result = script.measure(real, fake, splits=2, seed=0, iterations=5)
    assert [row["size"] for row in result["rows"]] == [32, 64, 128]
    for row in result["rows"]:
        assert min(row["model_vs_real"]) > 5 * max(row["real_vs_real"])
    assert result["model_full"] > 5 * result["floor_at_n"] > 0
    md = script.render("toy", result, "python benchmarks/fid_sample_size.py", 1.0)
    assert "| 32 |" in md and "| 128 |" in md and "All generated windows vs all real ones (256 or more each)" in md
