"""Linear features: φ(x) = x or [x, c], kernel x·y (+ c²)."""

from __future__ import annotations

import pytest
import torch

import kernelops as ko
from kernelops.features import LinearFeatures

D64 = torch.float64


def test_identity_features_and_dot_product_kernel():
    phi = LinearFeatures(3)
    x, y = torch.randn(5, 3, dtype=D64), torch.randn(4, 3, dtype=D64)
    assert phi.out_dim == 3 and not phi.is_complex
    assert torch.equal(phi(x), x)
    ref = torch.tensor([[float(x[i] @ y[j]) for j in range(4)] for i in range(5)], dtype=D64)
    torch.testing.assert_close(phi.kernel(x, y), ref)


def test_constant_feature_is_appended_and_adds_c_squared():
    phi = LinearFeatures(2, constant=1.5)
    x, y = torch.randn(5, 2, dtype=D64), torch.randn(4, 2, dtype=D64)
    assert phi.out_dim == 3
    f = phi(x)
    assert torch.equal(f[:, :2], x) and torch.equal(f[:, 2], torch.full((5,), 1.5, dtype=D64))
    torch.testing.assert_close(phi.kernel(x, y), x @ y.T + 2.25)
    # the exact kernel equals the feature inner product (the base class's generic form)
    torch.testing.assert_close(phi.kernel(x, y), phi(x) @ phi(y).T)


def test_batch_dims_and_integer_input():
    phi = LinearFeatures(2, constant=0.5)
    x = torch.randn(3, 4, 2, dtype=D64)
    assert phi(x).shape == (3, 4, 3)
    out = phi(torch.tensor([[1, 2]]))
    assert out.dtype == torch.get_default_dtype()
    assert out.tolist() == [[1.0, 2.0, 0.5]]


def test_registered_as_linear():
    phi = ko.feature_map("linear", in_dim=4, constant=1.0)
    assert isinstance(phi, LinearFeatures) and phi.out_dim == 5


@pytest.mark.parametrize("kwargs,name", [({"in_dim": 0}, "in_dim"), ({"in_dim": 2, "constant": float("nan")}, "constant"),
                                         ({"in_dim": 2, "constant": "1"}, "constant")])
def test_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        LinearFeatures(**kwargs)


def test_wrong_input_width_names_in_dim():
    with pytest.raises(ValueError, match="in_dim"):
        LinearFeatures(3)(torch.randn(2, 4))
