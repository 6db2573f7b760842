"""MeanEmbedding (fit, inner, witness, mmd) and the witness function, against kernel-form answers."""

from __future__ import annotations

import math

import pytest
import torch

from kernelops.embeddings import MeanEmbedding, mmd, mmd2, witness
from kernelops.errors import ShapeError
from kernelops.features import LinearFeatures, RandomFourierFeatures, median_bandwidth

D64 = torch.float64


def _xy():
    gen = torch.Generator().manual_seed(7)
    return torch.randn(40, 2, generator=gen, dtype=D64), torch.randn(30, 2, generator=gen, dtype=D64) + 0.7


def test_linear_mean_is_the_sample_mean_and_weights_are_normalised():
    x, _ = _xy()
    phi = LinearFeatures(2, constant=2.0)
    mu = MeanEmbedding(phi).fit(x)
    torch.testing.assert_close(mu.mean_, torch.cat([x.mean(0), torch.tensor([2.0], dtype=D64)]))
    assert mu.n_samples_ == 40
    w = torch.rand(40, dtype=D64)
    mw = MeanEmbedding(phi, block_size=7).fit(x, weights=w)
    torch.testing.assert_close(mw.mean_[:2], (w[:, None] * x).sum(0) / w.sum())
    torch.testing.assert_close(mw.mean_[2], torch.tensor(2.0, dtype=D64))  # normalised weights sum to 1
    signed = torch.randn(40, dtype=D64)
    ms = MeanEmbedding(LinearFeatures(2)).fit(x, weights=signed, normalize=False)
    torch.testing.assert_close(ms.mean_, (signed[:, None] * x).sum(0))


@pytest.mark.parametrize("complex_", [False, True])
def test_inner_product_is_the_mean_feature_kernel(complex_):
    x, y = _xy()
    phi = RandomFourierFeatures(2, 64, complex=complex_, seed=0, dtype=D64)
    mx, my = MeanEmbedding(phi).fit(x), MeanEmbedding(phi).fit(y)
    # ⟨μ_x, μ_y⟩ = (1/nm) Σ_ij ⟨φ(x_i), φ(y_j)⟩, whose real part is the mean approximate kernel
    torch.testing.assert_close(mx.inner(my).real, phi.approx_kernel(x, y).mean())
    # Hermitian: ⟨a, b⟩ = conj⟨b, a⟩
    torch.testing.assert_close(mx.inner(my), my.inner(mx).conj())


def test_inner_conjugates_self_not_other():
    phi = RandomFourierFeatures(1, 16, complex=True, seed=3, dtype=D64)
    point = torch.tensor([[0.4]], dtype=D64)
    mu = MeanEmbedding(phi).fit(point)
    # ⟨φ, iφ⟩ = i‖φ‖² = i (complex features have ‖φ(x)‖ = 1); conj on the right would give −i
    torch.testing.assert_close(mu.inner(1j * mu.mean_), torch.tensor(1j, dtype=torch.complex128))


@pytest.mark.parametrize("complex_", [False, True])
def test_witness_equals_difference_of_kernel_means(complex_):
    x, y = _xy()
    z = torch.randn(9, 2, dtype=D64)
    phi = RandomFourierFeatures(2, 128, bandwidth=0.8, complex=complex_, seed=1, dtype=D64)
    mx, my = MeanEmbedding(phi).fit(x), MeanEmbedding(phi, block_size=4).fit(y)
    expected = phi.approx_kernel(z, x).mean(1) - phi.approx_kernel(z, y).mean(1)
    torch.testing.assert_close(mx.witness(z, my), expected)
    torch.testing.assert_close(mx.witness(z, my.mean_), expected)  # a tensor works as `other`
    torch.testing.assert_close(witness(x, y, z, phi, block_size=4), expected)
    torch.testing.assert_close(witness(x, y, z, phi.approx_kernel, block_size=4), expected)


def test_linear_witness_and_mmd():
    x, y = _xy()
    z = torch.randn(6, 2, dtype=D64)
    mx, my = MeanEmbedding(LinearFeatures(2)).fit(x), MeanEmbedding(LinearFeatures(2)).fit(y)
    torch.testing.assert_close(mx.witness(z, my), z @ (x.mean(0) - y.mean(0)))
    torch.testing.assert_close(mx.mmd(my), (x.mean(0) - y.mean(0)).norm())
    torch.testing.assert_close(mx.mmd(my), mmd(x, y, LinearFeatures(2)))


def test_mean_embedding_mmd_matches_biased_mmd2_with_features():
    x, y = _xy()
    phi = RandomFourierFeatures(2, 256, complex=True, seed=2, dtype=D64)
    mx, my = MeanEmbedding(phi).fit(x), MeanEmbedding(phi).fit(y)
    torch.testing.assert_close(mx.mmd(my) ** 2, mmd2(x, y, phi))


@pytest.mark.parametrize("kernel", ["rbf", "laplace"])
def test_exact_kernel_witness_against_double_loop(kernel):
    x, y = _xy()
    z = torch.randn(5, 2, dtype=D64)
    bw = 0.9
    if kernel == "rbf":
        k = lambda a, b: math.exp(-float(((a - b) ** 2).sum()) / (2 * bw * bw))  # noqa: E731
    else:
        k = lambda a, b: math.exp(-float((a - b).abs().sum()) / bw)  # noqa: E731
    ref = torch.tensor([sum(k(zi, xi) for xi in x) / len(x) - sum(k(zi, yj) for yj in y) / len(y) for zi in z],
                       dtype=D64)
    torch.testing.assert_close(witness(x, y, z, kernel, bandwidth=bw, block_size=3), ref)


def test_witness_means_give_mmd2_and_median_bandwidth_matches_mmd2():
    x, y = _xy()
    # E_x f − E_y f = ⟨μ_x − μ_y, μ_x − μ_y⟩ = biased MMD²; with bandwidth=None both pick the median
    gap = witness(x, y, x).mean() - witness(x, y, y).mean()
    torch.testing.assert_close(gap, mmd2(x, y))
    bw = median_bandwidth(torch.cat([x, y]))
    torch.testing.assert_close(witness(x, y, x), witness(x, y, x, bandwidth=bw))


def test_witness_is_positive_where_x_has_more_mass():
    x = torch.randn(200, 1, dtype=D64) - 2.0
    y = torch.randn(200, 1, dtype=D64) + 2.0
    f = witness(x, y, torch.tensor([[-2.0], [0.0], [2.0]], dtype=D64), bandwidth=1.0)
    assert f[0] > 0.1 and f[2] < -0.1 and abs(float(f[1])) < 0.1


def test_time_is_kept_by_fit_for_witness():
    class Scaled(LinearFeatures):
        def forward(self, x, t=None):
            return super().forward(x) * (1.0 if t is None else t)

    x, y = _xy()
    z = torch.randn(3, 2, dtype=D64)
    mx, my = MeanEmbedding(Scaled(2)).fit(x, t=2.0), MeanEmbedding(Scaled(2)).fit(y, t=2.0)
    # f_t(z) = ⟨t z, t(x̄ − ȳ)⟩
    torch.testing.assert_close(mx.witness(z, my), 4.0 * z @ (x.mean(0) - y.mean(0)))
    torch.testing.assert_close(witness(x, y, z, Scaled(2), t=2.0), 4.0 * z @ (x.mean(0) - y.mean(0)))


def test_bad_inputs():
    x, _ = _xy()
    mu = MeanEmbedding(LinearFeatures(2))
    with pytest.raises(RuntimeError, match="not fitted"):
        mu.inner(torch.zeros(2))
    with pytest.raises(ValueError, match="feature_map"):
        MeanEmbedding(lambda a: a)
    with pytest.raises(ShapeError, match="x: "):
        mu.fit(torch.randn(5))
    with pytest.raises(ShapeError, match="in_dim"):
        mu.fit(torch.randn(5, 3))
    with pytest.raises(ShapeError, match="weights"):
        mu.fit(x, weights=torch.ones(3))
    with pytest.raises(ValueError, match="weights.*non-negative"):
        mu.fit(x, weights=-torch.ones(40))
    with pytest.raises(ShapeError, match="x: .*NaN"):
        mu.fit(torch.full((3, 2), float("nan")))
    mu.fit(x)
    with pytest.raises(ShapeError, match="other"):
        mu.inner(torch.zeros(3))
    with pytest.raises(ShapeError, match="other"):
        mu.mmd(MeanEmbedding(LinearFeatures(2, constant=1.0)).fit(x))
    with pytest.raises(ShapeError, match="points"):
        witness(x, x, torch.randn(4, 3))
