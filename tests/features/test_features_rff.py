"""Random Fourier features: convergence to the exact kernels at rate 1/√D, determinism, buffers."""

from __future__ import annotations

import io

import pytest
import torch

import kernelops as ko
from kernelops.features import RandomFourierFeatures, laplace_kernel, rbf_kernel

D64 = torch.float64


def _pairs(d: int = 3, n: int = 40):
    g = torch.Generator().manual_seed(123)
    x = torch.randn(n, d, generator=g, dtype=D64)
    y = x + 0.8 * torch.randn(n, d, generator=g, dtype=D64)  # a spread of kernel values in (0, 1)
    return x, y


def _max_error(kernel: str, complex_: bool, out_dim: int, seeds=(0, 1, 2)) -> float:
    """Max |approx − exact| over fixed pairs (x_i, y_i), averaged over a few seeds."""
    x, y = _pairs()
    errs = []
    for seed in seeds:
        phi = RandomFourierFeatures(3, out_dim, bandwidth=1.3, kernel=kernel, complex=complex_, seed=seed, dtype=D64)
        exact = phi.kernel(x, y).diagonal()
        approx = phi.approx_kernel(x, y).diagonal()
        errs.append(float((approx - exact).abs().max()))
    return sum(errs) / len(errs)


@pytest.mark.parametrize("complex_", [False, True], ids=["real", "complex"])
@pytest.mark.parametrize("kernel", ["rbf", "laplace"])
def test_approximation_error_shrinks_like_inverse_sqrt_d(kernel, complex_):
    small, large = _max_error(kernel, complex_, 64), _max_error(kernel, complex_, 4096)
    # Monte Carlo error ∝ 1/√D predicts a ratio of √(4096/64) = 8; demand at least 3
    assert small / large > 3.0, (small, large)
    # and at D = 4096 the features reproduce the exact kernel closely (σ ≈ 1/√D ≈ 0.016)
    assert large < 0.08


@pytest.mark.parametrize("kernel,exact_fn", [("rbf", rbf_kernel), ("laplace", laplace_kernel)])
def test_kernel_method_is_the_exact_kernel(kernel, exact_fn):
    x, y = _pairs()
    phi = RandomFourierFeatures(3, 16, bandwidth=0.6, kernel=kernel, seed=0, dtype=D64)
    torch.testing.assert_close(phi.kernel(x, y), exact_fn(x, y, 0.6))


def test_real_features_form_and_complex_features_modulus():
    x, _ = _pairs()
    real = RandomFourierFeatures(3, 32, bandwidth=2.0, seed=5, dtype=D64)
    expected = (2.0 / 32) ** 0.5 * torch.cos(x @ real.freqs.T + real.phase)
    torch.testing.assert_close(real(x), expected)
    cplx = RandomFourierFeatures(3, 32, bandwidth=2.0, complex=True, seed=5, dtype=D64)
    f = cplx(x)
    assert f.dtype == torch.complex128 and f.shape == (40, 32)
    torch.testing.assert_close(f.abs(), torch.full((40, 32), 32**-0.5, dtype=D64))
    # complex features give k(x, x) = 1 exactly
    torch.testing.assert_close(cplx.approx_kernel(x, x).diagonal(), torch.ones(40, dtype=D64))


def test_frequency_distributions_have_the_right_scale():
    bw = 0.5
    rbf = RandomFourierFeatures(1, 20000, bandwidth=bw, seed=0, dtype=D64)
    # N(0, 1/bw²): standard deviation 1/bw
    assert float(rbf.freqs.std()) == pytest.approx(1 / bw, rel=0.03)
    lap = RandomFourierFeatures(1, 20000, bandwidth=bw, kernel="laplace", seed=0, dtype=D64)
    # Cauchy(0, 1/bw): median |ω| equals the scale 1/bw (the mean does not exist)
    assert float(lap.freqs.abs().median()) == pytest.approx(1 / bw, rel=0.05)
    # phases uniform on [0, 2π)
    assert float(rbf.phase.min()) >= 0 and float(rbf.phase.max()) < 2 * torch.pi
    assert float(rbf.phase.mean()) == pytest.approx(torch.pi, rel=0.03)


def test_same_seed_same_features_different_seed_different():
    x, _ = _pairs()
    a = RandomFourierFeatures(3, 64, seed=7)(x.float())
    b = RandomFourierFeatures(3, 64, seed=7)(x.float())
    c = RandomFourierFeatures(3, 64, seed=8)(x.float())
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


def test_unseeded_map_follows_torch_manual_seed():
    torch.manual_seed(3)
    a = RandomFourierFeatures(3, 8)
    torch.manual_seed(3)
    b = RandomFourierFeatures(3, 8)
    assert torch.equal(a.freqs, b.freqs)


def test_to_float64_and_dtype_argument_agree():
    x, _ = _pairs()
    f32 = RandomFourierFeatures(3, 64, seed=1)
    assert f32.freqs.dtype == torch.float32
    f64 = RandomFourierFeatures(3, 64, seed=1).to(torch.float64)
    assert f64.freqs.dtype == torch.float64 and f64.phase.dtype == torch.float64
    out = f64(x)
    assert out.dtype == torch.float64
    torch.testing.assert_close(out, f32(x.float()).double(), rtol=1e-5, atol=1e-5)
    # the same seed drawn directly in float64 gives the same frequencies to float32 precision
    direct = RandomFourierFeatures(3, 64, seed=1, dtype=D64)
    torch.testing.assert_close(direct.freqs.float(), f32.freqs)


def test_buffers_move_with_module_and_round_trip_through_state_dict(device):
    phi = RandomFourierFeatures(3, 16, seed=2, dtype=D64)
    assert {"freqs", "phase"} <= set(phi.state_dict())
    buf = io.BytesIO()
    torch.save(phi.state_dict(), buf)
    buf.seek(0)
    other = RandomFourierFeatures(3, 16, seed=99, dtype=D64)
    other.load_state_dict(torch.load(buf))
    x, _ = _pairs()
    torch.testing.assert_close(other(x), phi(x))
    moved = phi.to(device)
    assert moved.freqs.device.type == device.type
    assert moved(x.to(device)).device.type == device.type


def test_complex_map_has_no_phase_and_time_is_ignored():
    phi = RandomFourierFeatures(3, 16, complex=True, seed=0, dtype=D64)
    assert "phase" not in phi.state_dict() and phi.is_complex
    x, _ = _pairs()
    torch.testing.assert_close(phi(x, 0.3), phi(x))


def test_forward_keeps_batch_dimensions():
    phi = RandomFourierFeatures(3, 10, seed=0, dtype=D64)
    x = torch.randn(2, 5, 3, dtype=D64)
    out = phi(x)
    assert out.shape == (2, 5, 10)
    torch.testing.assert_close(out[1, 2], phi(x[1, 2:3])[0])


def test_registered_as_rff():
    phi = ko.feature_map("rff", in_dim=3, out_dim=12, bandwidth=0.5, seed=4)
    assert isinstance(phi, RandomFourierFeatures)
    assert (phi.in_dim, phi.out_dim, phi.bandwidth) == (3, 12, 0.5)


@pytest.mark.parametrize(
    "kwargs,name",
    [
        ({"in_dim": 0}, "in_dim"),
        ({"in_dim": 2.5}, "in_dim"),
        ({"out_dim": -1}, "out_dim"),
        ({"bandwidth": 0.0}, "bandwidth"),
        ({"bandwidth": float("inf")}, "bandwidth"),
        ({"kernel": "cosine"}, "kernel"),
        ({"dtype": torch.int64}, "dtype"),
        ({"seed": 1.5}, "seed"),
    ],
)
def test_bad_arguments_raise_naming_the_argument(kwargs, name):
    args = {"in_dim": 3, **kwargs}
    with pytest.raises(ValueError, match=name):
        RandomFourierFeatures(**args)


def test_unknown_kernel_message_lists_options():
    with pytest.raises(ValueError, match="'rbf', 'laplace'"):
        RandomFourierFeatures(3, kernel="matern")


def test_bad_input_to_forward():
    phi = RandomFourierFeatures(3, 8, seed=0)
    with pytest.raises(ValueError, match="in_dim"):
        phi(torch.randn(4, 2))
    with pytest.raises(ValueError, match="x"):
        phi(torch.tensor([[0.0, float("nan"), 1.0]]))
