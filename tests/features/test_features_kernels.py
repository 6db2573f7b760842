"""Exact kernels against direct double loops, and the median heuristic on known configurations."""

from __future__ import annotations

import math

import pytest
import scipy.stats
import torch

from kernelops.errors import ShapeError
from kernelops.features import (
    l1_distances,
    laplace_kernel,
    median_bandwidth,
    rbf_kernel,
    squared_distances,
)

D64 = torch.float64


def _loop(x, y, fn):
    return torch.tensor([[fn(x[i], y[j]) for j in range(len(y))] for i in range(len(x))], dtype=D64)


def test_rbf_matches_double_loop():
    x, y = torch.randn(5, 3, dtype=D64), torch.randn(4, 3, dtype=D64)
    bw = 0.7
    ref = _loop(x, y, lambda a, b: math.exp(-float(((a - b) ** 2).sum()) / (2 * bw**2)))
    torch.testing.assert_close(rbf_kernel(x, y, bw), ref, rtol=1e-12, atol=1e-14)


def test_laplace_matches_double_loop():
    x, y = torch.randn(5, 3, dtype=D64), torch.randn(4, 3, dtype=D64)
    bw = 1.3
    ref = _loop(x, y, lambda a, b: math.exp(-float((a - b).abs().sum()) / bw))
    torch.testing.assert_close(laplace_kernel(x, y, bw), ref, rtol=1e-12, atol=1e-14)


def test_l1_distances_chunking_matches_unchunked(monkeypatch):
    import kernelops.features.kernels as K

    x, y = torch.randn(23, 4, dtype=D64), torch.randn(9, 4, dtype=D64)
    full = l1_distances(x, y)
    monkeypatch.setattr(K, "_L1_CHUNK_ELEMENTS", 50)  # forces chunks of one row
    torch.testing.assert_close(K.l1_distances(x, y), full, rtol=0, atol=0)
    torch.testing.assert_close(full, torch.cdist(x, y, p=1), rtol=1e-12, atol=1e-12)


def test_squared_distances_nonnegative_and_accurate_far_from_origin():
    # far from the origin the naive expansion ‖x‖²+‖y‖²−2x·y cancels catastrophically in float32
    base = torch.full((1, 3), 1e4)
    x = base + torch.randn(6, 3)
    d2 = squared_distances(x, x)
    ref = ((x.double()[:, None] - x.double()[None]) ** 2).sum(-1)
    assert (d2 >= 0).all()
    torch.testing.assert_close(d2.double(), ref, rtol=1e-3, atol=1e-3)


def test_kernels_are_differentiable_twice():
    x = torch.randn(4, 2, dtype=D64, requires_grad=True)
    y = torch.randn(3, 2, dtype=D64)
    assert torch.autograd.gradcheck(lambda a: rbf_kernel(a, y, 0.9), (x,))
    assert torch.autograd.gradgradcheck(lambda a: rbf_kernel(a, y, 0.9), (x,))


def test_tensor_bandwidth_gets_gradient():
    x, y = torch.randn(4, 2, dtype=D64), torch.randn(3, 2, dtype=D64)
    bw = torch.tensor(0.8, dtype=D64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda b: rbf_kernel(x, y, b).sum(), (bw,))


def test_median_bandwidth_known_configurations():
    # distances 1, 3, 2 -> median 2
    assert median_bandwidth(torch.tensor([[0.0], [1.0], [3.0]])) == pytest.approx(2.0)
    # pooled x and y: points 0, 1, 2, 3 -> distances 1,1,1,2,2,3 -> median (1+2)/2 (even count)
    assert median_bandwidth(torch.tensor([[0.0], [1.0]]), torch.tensor([[2.0], [3.0]])) == pytest.approx(1.5)
    # unit square: distances 1, 1, 1, 1, √2, √2 -> median 1
    sq = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    assert median_bandwidth(sq) == pytest.approx(1.0)


def test_median_bandwidth_matches_chi_distribution_on_gaussian_subsample():
    # ‖X − X'‖ for X, X' ~ N(0, I_d) is √2·χ_d, so its median is sqrt(2·median(χ²_d))
    d = 4
    z = torch.randn(6000, d, dtype=D64)
    gen = torch.Generator().manual_seed(1)
    got = median_bandwidth(z, max_points=1500, generator=gen)
    assert got == pytest.approx(math.sqrt(2 * scipy.stats.chi2.median(d)), rel=0.02)
    # the generator makes the subsample reproducible
    assert median_bandwidth(z, max_points=1500, generator=torch.Generator().manual_seed(1)) == got


def test_median_bandwidth_degenerate_samples():
    same = torch.ones(5, 2)
    assert median_bandwidth(same) == 1.0
    # 4 identical points and 1 other: most distances are 0, fall back to the positive ones (all 3)
    mostly = torch.tensor([[0.0], [0.0], [0.0], [0.0], [3.0]])
    assert median_bandwidth(mostly) == pytest.approx(3.0)


def test_bad_inputs_name_the_argument():
    x = torch.randn(3, 2)
    with pytest.raises(ShapeError, match="y"):
        rbf_kernel(x, torch.randn(3, 4))
    with pytest.raises(ShapeError, match="x"):
        rbf_kernel(torch.randn(3), x)
    with pytest.raises(ShapeError, match="y"):
        laplace_kernel(x, torch.tensor([[float("nan"), 0.0]]))
    with pytest.raises(ValueError, match="bandwidth"):
        rbf_kernel(x, x, 0.0)
    with pytest.raises(ValueError, match="bandwidth"):
        laplace_kernel(x, x, -1.0)
    with pytest.raises(ValueError, match="max_points"):
        median_bandwidth(x, max_points=1)
    with pytest.raises(ShapeError, match="at least 2"):
        median_bandwidth(torch.randn(1, 2))


def test_kernels_keep_dtype_and_device(device):
    for dtype in (torch.float32, torch.float64):
        x = torch.randn(4, 3, dtype=dtype, device=device)
        for fn in (rbf_kernel, laplace_kernel):
            k = fn(x, x, 1.0)
            assert k.dtype == dtype and k.device.type == device.type
            torch.testing.assert_close(k.diagonal(), torch.ones(4, dtype=dtype, device=device))


def test_near_duplicates_get_exact_squared_distances_where_asked():
    # one far point makes ‖x − mean‖² ≈ 4.4e5, so the expansion errs by ~1e-10 on every entry
    x = torch.tensor([[1e3, 0.0], [0.0, 0.0], [0.0, 1e-6]], dtype=torch.float64)
    direct = (x[:, None, :] - x[None, :, :]).square().sum(-1)
    exact = squared_distances(x, x, bandwidth=1e-6)  # entries with d² < 80·bw² recomputed
    assert torch.equal(exact[1:, 1:], direct[1:, 1:])  # 0 on the diagonal, 1e-12 off it
    assert torch.allclose(exact, direct, rtol=1e-12, atol=0)
    assert not torch.allclose(squared_distances(x, x)[1:, 1:], direct[1:, 1:], rtol=1e-3, atol=1e-14)


def test_rbf_with_a_bandwidth_far_below_the_data_scale_keeps_the_v_statistic_non_negative():
    # the case hypothesis found: identical sets, near-duplicate rows, median bandwidth 1e-5
    rows = [[1.0, 1e-5, 0.0], [0.0, 1e-5, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
    x = torch.tensor(rows, dtype=torch.float64)
    from kernelops.embeddings import mmd2

    assert float(mmd2(x, x.clone(), "rbf", bandwidth=None, block_size=3)) >= -1e-12
    k = rbf_kernel(x, x, bandwidth=1e-5)
    direct = torch.exp(-(x[:, None, :] - x[None, :, :]).square().sum(-1) / 2e-10)
    assert torch.allclose(k, direct, rtol=1e-13, atol=1e-300)
