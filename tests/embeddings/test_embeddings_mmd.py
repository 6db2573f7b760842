"""mmd2 / mmd: closed forms for Gaussians, unbiasedness, blocked sums, feature-map and callable kernels."""

from __future__ import annotations

import math

import hypothesis.extra.numpy as hnp
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from kernelops.embeddings import mmd, mmd2
from kernelops.errors import ShapeError
from kernelops.features import FeatureMap, LinearFeatures, RandomFourierFeatures, median_bandwidth

D64 = torch.float64


def _dense_mmd2(x, y, gram, unbiased):
    """Reference: full Gram matrices, the textbook V- and U-statistics."""
    kxx, kyy, kxy = gram(x, x), gram(y, y), gram(x, y)
    n, m = len(x), len(y)
    if unbiased:
        return ((kxx.sum() - kxx.trace()) / (n * (n - 1)) + (kyy.sum() - kyy.trace()) / (m * (m - 1))
                - 2 * kxy.mean())
    return kxx.mean() + kyy.mean() - 2 * kxy.mean()


def _rbf_ref(bw):
    return lambda a, b: torch.exp(-torch.cdist(a, b) ** 2 / (2 * bw * bw))


def _laplace_ref(bw):
    return lambda a, b: torch.exp(-torch.cdist(a, b, p=1) / bw)


def _gaussian_mmd2(d, s, ell, shift):
    """MMD² between N(a, s²I) and N(b, s²I) under the RBF kernel of bandwidth ℓ, ‖a − b‖ = shift."""
    c = (ell**2 / (ell**2 + 2 * s**2)) ** (d / 2)
    return 2 * c * (1 - math.exp(-shift**2 / (2 * (ell**2 + 2 * s**2))))


def test_unbiased_matches_gaussian_closed_form():
    d, s, ell = 2, 1.0, 1.5
    shift = torch.tensor([0.8, 0.0], dtype=D64)
    gen = torch.Generator().manual_seed(11)
    est = torch.stack([
        mmd2(s * torch.randn(300, d, generator=gen, dtype=D64),
             s * torch.randn(300, d, generator=gen, dtype=D64) + shift, bandwidth=ell, unbiased=True)
        for _ in range(60)
    ])
    true = _gaussian_mmd2(d, s, ell, 0.8)
    se = float(est.std()) / math.sqrt(len(est))
    assert abs(float(est.mean()) - true) < 4 * se, (float(est.mean()), true, se)
    assert se < 0.1 * true  # the check above is informative: the MC error is small next to MMD²


def test_unbiased_is_centred_on_zero_for_one_distribution_and_positive_for_a_shift():
    gen = torch.Generator().manual_seed(3)
    same, shifted = [], []
    for _ in range(30):
        x = torch.randn(150, 2, generator=gen, dtype=D64)
        y = torch.randn(150, 2, generator=gen, dtype=D64)
        same.append(mmd2(x, y, bandwidth=1.0, unbiased=True))
        shifted.append(mmd2(x, y + 1.0, bandwidth=1.0, unbiased=True))
    same, shifted = torch.stack(same), torch.stack(shifted)
    se = float(same.std()) / math.sqrt(len(same))
    assert abs(float(same.mean())) < 3 * se
    assert (same < 0).any()  # an unbiased estimate of 0 must go negative sometimes
    assert (shifted > 0).all()
    se_shift = float(shifted.std()) / math.sqrt(len(shifted))
    assert float(shifted.mean()) > 10 * se_shift
    truth = _gaussian_mmd2(2, 1.0, 1.0, math.sqrt(2.0))  # shift (1, 1) has norm √2
    assert abs(float(shifted.mean()) - truth) < 4 * se_shift


@pytest.mark.parametrize("unbiased", [False, True])
@pytest.mark.parametrize("name,ref", [("rbf", _rbf_ref), ("laplace", _laplace_ref)])
def test_exact_kernels_match_dense_reference_blocked_and_unblocked(name, ref, unbiased):
    x, y = torch.randn(37, 3, dtype=D64), torch.randn(23, 3, dtype=D64) + 0.3
    expected = _dense_mmd2(x, y, ref(0.9), unbiased)
    for block_size in (5, 16, 2048):
        got = mmd2(x, y, name, bandwidth=0.9, unbiased=unbiased, block_size=block_size)
        torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("unbiased", [False, True])
def test_callable_kernel_is_only_asked_for_small_blocks(unbiased):
    x, y = torch.randn(31, 2, dtype=D64), torch.randn(18, 2, dtype=D64)
    shapes = []

    def k(a, b):
        shapes.append((a.shape[0], b.shape[0]))
        return _rbf_ref(1.2)(a, b)

    got = mmd2(x, y, k, unbiased=unbiased, block_size=7)
    assert max(max(s) for s in shapes) <= 7
    torch.testing.assert_close(got, _dense_mmd2(x, y, _rbf_ref(1.2), unbiased), rtol=1e-10, atol=1e-12)
    # symmetric Gram k(x, x): only blocks on or above the diagonal are computed (5·6/2 of 25)
    assert shapes.count((7, 7)) < 25


def test_median_heuristic_is_used_when_bandwidth_is_none():
    x, y = torch.randn(40, 2, dtype=D64), torch.randn(30, 2, dtype=D64) + 0.5
    bw = median_bandwidth(torch.cat([x, y]))
    torch.testing.assert_close(mmd2(x, y), mmd2(x, y, bandwidth=bw))
    torch.testing.assert_close(mmd2(x, y, "laplace", unbiased=True), mmd2(x, y, "laplace", bandwidth=bw, unbiased=True))


def test_linear_feature_map_gives_squared_mean_difference():
    x, y = torch.randn(50, 3, dtype=D64), torch.randn(40, 3, dtype=D64) + 0.2
    phi = LinearFeatures(3)
    torch.testing.assert_close(mmd2(x, y, phi), ((x.mean(0) - y.mean(0)) ** 2).sum())
    # the unbiased feature form (diagonal removed) equals the dense U-statistic of k = x·y
    torch.testing.assert_close(mmd2(x, y, phi, unbiased=True, block_size=8),
                               _dense_mmd2(x, y, lambda a, b: a @ b.T, True))


@pytest.mark.parametrize("complex_", [False, True])
@pytest.mark.parametrize("unbiased", [False, True])
def test_feature_map_equals_its_feature_inner_product_kernel(complex_, unbiased):
    x, y = torch.randn(30, 2, dtype=D64), torch.randn(25, 2, dtype=D64) + 0.4
    phi = RandomFourierFeatures(2, 128, bandwidth=1.0, complex=complex_, seed=0, dtype=D64)
    expected = _dense_mmd2(x, y, phi.approx_kernel, unbiased)
    torch.testing.assert_close(mmd2(x, y, phi, unbiased=unbiased, block_size=7), expected, rtol=1e-10, atol=1e-12)


def test_rff_mmd_approaches_exact_rbf_mmd():
    x, y = torch.randn(200, 2, dtype=D64), torch.randn(200, 2, dtype=D64) + 0.6
    exact = float(mmd2(x, y, bandwidth=1.5))
    errs = [abs(float(mmd2(x, y, RandomFourierFeatures(2, D, bandwidth=1.5, complex=True, seed=1, dtype=D64)))
                - exact) for D in (16, 4096)]
    assert errs[1] < 0.1 * exact and errs[1] < errs[0]


def test_time_dependent_feature_map_gets_t():
    class Scaled(FeatureMap):
        in_dim = out_dim = 2

        def forward(self, x, t=None):
            return x * (1.0 if t is None else t)

    x, y = torch.randn(20, 2, dtype=D64), torch.randn(20, 2, dtype=D64)
    base = mmd2(x, y, Scaled())
    torch.testing.assert_close(mmd2(x, y, Scaled(), t=3.0), 9.0 * base)


def test_sequences_are_flattened():
    x, y = torch.randn(12, 4, 3, dtype=D64), torch.randn(9, 4, 3, dtype=D64)
    torch.testing.assert_close(mmd2(x, y, bandwidth=2.0, unbiased=True),
                               mmd2(x.reshape(12, 12), y.reshape(9, 12), bandwidth=2.0, unbiased=True))
    torch.testing.assert_close(mmd2(x, y, LinearFeatures(12)), ((x.mean(0) - y.mean(0)) ** 2).sum())


@pytest.mark.parametrize("kernel", ["rbf", "laplace", "linear", "callable"])
@pytest.mark.parametrize("unbiased", [False, True])
def test_symmetric_in_x_and_y(kernel, unbiased):
    x, y = torch.randn(15, 2, dtype=D64), torch.randn(11, 2, dtype=D64) * 2
    k = {"linear": LinearFeatures(2, constant=1.0), "callable": _rbf_ref(0.7)}.get(kernel, kernel)
    torch.testing.assert_close(mmd2(x, y, k, unbiased=unbiased, block_size=4),
                               mmd2(y, x, k, unbiased=unbiased, block_size=4), rtol=1e-12, atol=1e-14)


def test_identical_samples_give_zero_biased_mmd():
    x = torch.randn(20, 3, dtype=D64)
    assert abs(float(mmd2(x, x.clone()))) < 1e-13
    assert abs(float(mmd(x, x.clone(), "laplace"))) < 1e-6


def test_mmd_is_root_of_clamped_mmd2():
    x, y = torch.randn(20, 2, dtype=D64), torch.randn(20, 2, dtype=D64) + 1
    torch.testing.assert_close(mmd(x, y, bandwidth=1.0) ** 2, mmd2(x, y, bandwidth=1.0))
    # two samples of one law: the U-statistic may be negative, mmd then clamps it to 0
    gen = torch.Generator().manual_seed(0)
    for _ in range(20):
        a, b = torch.randn(10, 2, generator=gen, dtype=D64), torch.randn(10, 2, generator=gen, dtype=D64)
        if float(mmd2(a, b, bandwidth=1.0, unbiased=True)) < 0:
            assert float(mmd(a, b, bandwidth=1.0, unbiased=True)) == 0.0
            break
    else:
        pytest.fail("no negative unbiased estimate in 20 draws")


def test_gradient_matches_finite_differences():
    x = torch.randn(6, 2, dtype=D64, requires_grad=True)
    y = torch.randn(5, 2, dtype=D64)
    assert torch.autograd.gradcheck(lambda a: mmd2(a, y, bandwidth=0.8, block_size=4), (x,))
    assert torch.autograd.gradcheck(lambda a: mmd2(a, y, bandwidth=0.8, unbiased=True, block_size=4), (x,))


def test_dtype_and_device_follow_inputs(device):
    for dtype in (torch.float32, torch.float64):
        x = torch.randn(10, 2, dtype=dtype, device=device)
        out = mmd2(x, x + 1, bandwidth=1.0)
        assert out.shape == () and out.dtype == dtype and out.device.type == device.type


samples = st.integers(1, 6).flatmap(
    lambda d: st.tuples(
        hnp.arrays("float64", st.tuples(st.integers(1, 8), st.just(d)), elements=st.floats(-5, 5)),
        hnp.arrays("float64", st.tuples(st.integers(1, 8), st.just(d)), elements=st.floats(-5, 5)),
    )
)


@settings(max_examples=60, deadline=None)
@given(samples, st.sampled_from(["rbf", "laplace"]), st.sampled_from([None, 0.1, 1.0, 10.0]))
def test_biased_estimate_is_never_negative(xy, kernel, bandwidth):
    x, y = (torch.from_numpy(a) for a in xy)
    # a V-statistic is ‖μ̂_x − μ̂_y‖² ≥ 0; allow only float64 rounding of the three summed terms
    assert float(mmd2(x, y, kernel, bandwidth=bandwidth, block_size=3)) >= -1e-12


@pytest.mark.parametrize(
    "x,y,match",
    [
        (torch.randn(5, 3), torch.randn(5, 4), "trailing shape"),
        (torch.randn(5, 2, 3), torch.randn(5, 3, 2), "trailing shape"),
        (torch.randn(5), torch.randn(5, 1), "x: "),
        (torch.randn(5, 1), torch.randn(5), "y: "),
        (torch.randn(5, 2), torch.tensor([[0.0, float("nan")]]), "y: .*NaN"),
        (torch.tensor([[float("inf"), 0.0]]), torch.randn(5, 2), "x: .*NaN or infinite"),
        (torch.randn(0, 2), torch.randn(5, 2), "x: .*at least one"),
        (torch.randn(5, 2, dtype=torch.complex64), torch.randn(5, 2), "x: .*real"),
    ],
)
def test_bad_inputs_raise_shape_error_naming_the_argument(x, y, match):
    with pytest.raises(ShapeError, match=match):
        mmd2(x, y)


def test_bad_options_raise_value_error():
    x, y = torch.randn(5, 2), torch.randn(4, 2)
    with pytest.raises(ValueError, match="'rbf', 'laplace'"):
        mmd2(x, y, "gaussian")
    with pytest.raises(ValueError, match="bandwidth"):
        mmd2(x, y, bandwidth=-1.0)
    with pytest.raises(ValueError, match="bandwidth"):
        mmd2(x, y, LinearFeatures(2), bandwidth=1.0)
    with pytest.raises(ValueError, match="block_size"):
        mmd2(x, y, block_size=0)
    with pytest.raises(ValueError, match="unbiased.*n=1"):
        mmd2(x[:1], y, unbiased=True)
    with pytest.raises(ShapeError, match="in_dim"):
        mmd2(x, y, LinearFeatures(3))
    with pytest.raises(ShapeError, match="kernel: expected a Gram matrix"):
        mmd2(x, y, lambda a, b: a @ a.T)
    with pytest.raises(ValueError, match="kernel"):
        mmd2(x, y, 3)
