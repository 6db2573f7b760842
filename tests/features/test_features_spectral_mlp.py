"""SpectralMLP: complex, RMS-normalised, twice differentiable, q- and t-conditioned features."""

from __future__ import annotations

import pytest
import torch

import kernelops as ko
from kernelops.features.spectral_mlp import SpectralMLP, sqrelu


def _tiny(dtype=torch.float64, **kw):
    torch.manual_seed(0)
    return SpectralMLP(3, depth=2, width=8, time_features=4, dtype=dtype, **kw)


def test_shape_dtype_blocks_and_registry():
    fm = ko.feature_map("spectral_mlp", in_dim=3, depth=3, width=10)
    assert isinstance(fm, SpectralMLP)
    assert fm.out_dim == 15 and fm.blocks == (3, 5) and fm.is_complex
    h = fm(torch.randn(2, 7, 3), 0.3, "s")
    assert h.shape == (2, 7, 15) and h.dtype == torch.complex64
    h64 = _tiny()(torch.randn(4, 3, dtype=torch.float64), torch.rand(4), "o")
    assert h64.dtype == torch.complex128


def test_complex_rms_normalisation_per_input():
    fm = _tiny()
    h = fm(torch.randn(50, 3, dtype=torch.float64) * 3, torch.rand(50))
    mean_sq = (h.abs() ** 2).mean(-1)
    torch.testing.assert_close(mean_sq, torch.ones(50, dtype=torch.float64), atol=1e-5, rtol=0)


def test_hidden_states_read_as_complex_halves():
    """Block l of h is (z_l[:k] + i z_l[k:]) / rms over all blocks."""
    fm = _tiny()
    x, t = torch.randn(5, 3, dtype=torch.float64), torch.rand(5, dtype=torch.float64)
    inp = torch.cat([x, fm.time_embedding(t)], -1)
    z = fm.input(inp) + fm.q_embed[0]
    parts = []
    for block in fm.blocks_:
        z = block(z)
        parts.append(torch.complex(z[:, :4], z[:, 4:]))
    ref = torch.cat(parts, -1)
    ref = ref / (ref.abs() ** 2).mean(-1, keepdim=True).add(fm.eps).sqrt()
    torch.testing.assert_close(fm(x, t, "o"), ref)


def test_q_and_t_condition_the_features_and_tensor_q_matches_strings():
    fm = _tiny()
    x, t = torch.randn(6, 3, dtype=torch.float64), torch.rand(6, dtype=torch.float64)
    h_o, h_s = fm(x, t, "o"), fm(x, t, "s")
    assert (h_o - h_s).abs().max() > 1e-3
    q = torch.tensor([0, 1, 0, 1, 1, 0])
    mixed = fm(x, t, q)
    expect = torch.where(q.bool().unsqueeze(-1), h_s, h_o)
    torch.testing.assert_close(mixed, expect)
    assert (fm(x, 0.1) - fm(x, 0.9)).abs().max() > 1e-3
    # a scalar t equals a broadcast per-sample t
    torch.testing.assert_close(fm(x, 0.25), fm(x, torch.full((6,), 0.25, dtype=torch.float64)))


def test_twice_differentiable_in_x():
    """Squared ReLU makes h C¹ in x; gradgradcheck verifies the second derivatives."""
    fm = _tiny()
    x = torch.randn(3, 3, dtype=torch.float64, requires_grad=True)

    def real_view(inp):
        return torch.view_as_real(fm(inp, 0.4, "s"))

    assert torch.autograd.gradcheck(real_view, (x,))
    assert torch.autograd.gradgradcheck(real_view, (x,))


def test_sqrelu_is_squared_relu():
    z = torch.tensor([-2.0, -0.0, 0.5, 3.0])
    torch.testing.assert_close(sqrelu(z), torch.tensor([0.0, 0.0, 0.25, 9.0]))


@pytest.mark.parametrize("kwargs, word", [
    ({"width": 7}, "width"), ({"depth": 0}, "depth"), ({"time_features": 3}, "time_features"),
])
def test_bad_arguments(kwargs, word):
    args = {"in_dim": 3, **kwargs}
    with pytest.raises(ValueError, match=word):
        SpectralMLP(**args)


def test_bad_inputs():
    fm = _tiny()
    with pytest.raises(ValueError, match="x"):
        fm(torch.randn(2, 4, dtype=torch.float64))
    with pytest.raises(ValueError, match="q"):
        fm(torch.randn(2, 3, dtype=torch.float64), 0.1, "z")
    with pytest.raises(ValueError, match="t"):
        fm(torch.randn(2, 3, dtype=torch.float64), torch.rand(5))
