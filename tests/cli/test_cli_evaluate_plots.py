"""PCA / t-SNE embeddings and distribution plots used by ``kernelops evaluate``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kernelops.errors import ShapeError
from kernelops.viz.distributions import plot_channel_overlays, plot_histogram, value_densities
from kernelops.viz.embedding import _conditional_probabilities, _sq_distances, pca_2d, plot_embedding, tsne, tsne_2d

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _line_data(n: int, dim: int, seed: int, noise: float = 0.01):
    rng = np.random.default_rng(seed)
    u = rng.normal(size=dim)
    u /= np.linalg.norm(u)
    t = rng.normal(size=n) * 3.0
    return t, u, t[:, None] * u + noise * rng.normal(size=(n, dim)) + 0.5


def test_pca_recovers_a_known_dominant_direction():
    t, u, real = _line_data(400, 30, seed=1)
    fake = real + 2.0 * u  # the same cloud moved by 2 along the dominant direction
    r2, f2 = pca_2d(real, fake)
    # first coordinate is the position along u (up to sign), second carries only the noise
    assert abs(np.corrcoef(r2[:, 0], t)[0, 1]) > 0.9999
    assert r2[:, 1].var() < 1e-3 * r2[:, 0].var()
    np.testing.assert_allclose(r2[:, 0].mean(), 0.0, atol=1e-10)  # centred on the real mean
    # PCA is fitted on the real set and applied to the fake one: the shift shows as |2| on PC 1
    assert abs(abs(f2[:, 0].mean() - r2[:, 0].mean()) - 2.0) < 1e-3
    np.testing.assert_allclose(f2[:, 1], r2[:, 1], atol=1e-3)


def test_pca_mean_reduction_and_sign_are_deterministic():
    rng = np.random.default_rng(0)
    x = rng.random((50, 24, 5))
    y = rng.random((40, 24, 5))
    a = pca_2d(x, y)  # default reduce="mean": the channel average at each step
    b = pca_2d(x.mean(axis=2), y.mean(axis=2))
    np.testing.assert_allclose(a[0], b[0], atol=1e-12)
    np.testing.assert_allclose(a[1], b[1], atol=1e-12)
    flat = pca_2d(x, y, reduce="flatten")
    assert flat[0].shape == (50, 2) and not np.allclose(flat[0], a[0])
    sub = pca_2d(torch.tensor(x), torch.tensor(y), max_points=10, seed=3)
    assert sub[0].shape == (10, 2) and sub[1].shape == (10, 2)


def test_perplexity_calibration_hits_the_target_entropy():
    x = torch.tensor(np.random.default_rng(0).normal(size=(120, 6)))
    for perplexity in (5.0, 30.0):
        p = _conditional_probabilities(_sq_distances(x), perplexity)
        assert torch.allclose(p.sum(dim=1), torch.ones(120, dtype=p.dtype))
        assert torch.all(p.diagonal() == 0)
        entropy = -(p * torch.log(p.clamp_min(1e-300))).sum(dim=1)
        np.testing.assert_allclose(torch.exp(entropy).numpy(), perplexity, rtol=1e-4)


def _same_set_neighbour_fraction(a: np.ndarray, b: np.ndarray, k: int) -> float:
    y = np.concatenate([a, b])
    label = np.r_[np.zeros(len(a)), np.ones(len(b))]
    d = ((y[:, None] - y[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    nn = np.argsort(d, axis=1)[:, :k]
    return float((label[nn] == label[:, None]).mean())


def test_tsne_keeps_well_separated_clusters_apart():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(80, 10))
    fake = rng.normal(size=(80, 10))
    fake[:, 0] += 12.0
    r2, f2 = tsne_2d(real, fake, perplexity=20, iterations=300)
    assert _same_set_neighbour_fraction(r2, f2, k=10) == 1.0
    gap = np.linalg.norm(r2.mean(0) - f2.mean(0))
    spread = max(r2.std(0).max(), f2.std(0).max())
    assert gap > 3 * spread


def test_tsne_mixes_two_draws_of_one_distribution_and_is_seeded():
    rng = np.random.default_rng(1)
    real, fake = rng.normal(size=(80, 10)), rng.normal(size=(80, 10))
    r2, f2 = tsne_2d(real, fake, perplexity=20, iterations=300)
    assert 0.3 < _same_set_neighbour_fraction(r2, f2, k=10) < 0.7
    again = tsne(np.concatenate([real, fake]), perplexity=20, iterations=300)
    np.testing.assert_array_equal(np.concatenate([r2, f2]), again)


def test_value_densities_integrate_to_one_and_sit_where_the_values_are():
    real = np.full((10, 24, 2), 0.25)
    fake = np.full((10, 24, 2), 0.75)
    edges, dr, df = value_densities(real, fake, bins=10)
    widths = np.diff(edges)
    np.testing.assert_allclose((dr * widths).sum(), 1.0)
    np.testing.assert_allclose((df * widths).sum(), 1.0)
    assert dr[0] > 0 and dr[1:].sum() == 0 and df[-1] > 0 and df[:-1].sum() == 0


def _check_png(path, min_w: int, min_h: int):
    import matplotlib.image as mpimg

    assert path.read_bytes()[:8] == PNG_MAGIC
    h, w = mpimg.imread(path).shape[:2]
    assert w >= min_w and h >= min_h


@pytest.mark.parametrize("kind", ["pca", "tsne", "histogram", "channels"])
def test_plots_write_pngs(tmp_path, kind):
    rng = np.random.default_rng(0)
    real, fake = rng.random((60, 12, 3)), rng.random((50, 12, 3))
    target = tmp_path / f"{kind}.png"
    if kind in ("pca", "tsne"):
        out = plot_embedding(real, fake, target, method=kind, iterations=50)
    elif kind == "histogram":
        out = plot_histogram(real, fake, target)
    else:
        out = plot_channel_overlays(torch.tensor(real), fake, target, feature_names=["a", "b", "c"])
    assert out == target
    _check_png(target, 600 if kind == "channels" else 300, 200)
    assert [p.name for p in tmp_path.iterdir()] == [target.name]  # no temporary file left behind


@pytest.mark.parametrize("real, fake, match", [
    (np.zeros((5, 4, 2)), np.zeros((5, 4, 3)), "same \\(seq_len, features\\)"),
    (np.zeros((5, 4, 2)), np.zeros((5, 6, 2)), "same \\(seq_len, features\\)"),
    (np.zeros(5), np.zeros((5, 4, 2)), "real: expected shape"),
    (np.zeros((5, 4, 2)), np.full((5, 4, 2), np.nan), "fake: contains 40 NaN"),
])
def test_bad_inputs_name_the_argument(tmp_path, real, fake, match):
    with pytest.raises(ShapeError, match=match):
        plot_histogram(real, fake, tmp_path / "x.png")
    with pytest.raises(ShapeError, match=match):
        pca_2d(real, fake)


def test_bad_options_are_rejected(tmp_path):
    x = np.zeros((5, 4, 2))
    with pytest.raises(ValueError, match="method"):
        plot_embedding(x, x, tmp_path / "x.png", method="umap")
    with pytest.raises(ValueError, match="channels"):
        plot_channel_overlays(x, x, tmp_path / "x.png", channels=[2])
