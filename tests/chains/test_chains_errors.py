"""Bad input to chains raises ShapeError/ValueError naming the argument and the expected shape."""

from __future__ import annotations

import pytest
import torch

from kernelops.chains import SpectralChain, dense_inner_product, factored_chain_evaluate
from kernelops.errors import ShapeError


def _parts(r: int = 2, d: int = 3) -> dict[str, torch.Tensor]:
    return {
        "start": torch.randn(r, d),
        "transfer": torch.randn(d, r, r),
        "end": torch.randn(r, d),
        "eigvals": torch.rand(r),
    }


@pytest.mark.parametrize(
    "name,bad,expected",
    [
        ("start", torch.randn(2, 3, 1), r"start: expected shape \(r, D\)"),
        ("transfer", torch.randn(3, 2, 3), r"transfer: expected shape \(D, r, r\) = \(3, 2, 2\), got \(3, 2, 3\)"),
        ("transfer", torch.randn(2, 2, 2), r"transfer: expected shape \(D, r, r\) = \(3, 2, 2\), got \(2, 2, 2\)"),
        ("end", torch.randn(3, 3), r"end: expected shape \(r, D\) = \(2, 3\), got \(3, 3\)"),
        ("eigvals", torch.rand(3), r"eigvals: expected shape \(r,\) = \(2,\), got \(3,\)"),
        ("eigvals", torch.tensor([1.0, float("nan")]), r"eigvals: contains 1 NaN"),
        ("transfer", torch.ones(3, 2, 2, dtype=torch.long), r"transfer: expected a floating-point"),
    ],
)
def test_chain_constructor_names_the_bad_tensor(name, bad, expected):
    parts = _parts()
    parts[name] = bad
    with pytest.raises(ShapeError, match=expected):
        SpectralChain(**parts)


def test_phi_errors_name_phi_and_the_expected_shape():
    chain = SpectralChain(**_parts())
    with pytest.raises(ShapeError, match=r"phi: expected shape \(batch, N, D\) = \(\*, \*, 3\), got \(4, 5, 2\)"):
        chain.inner(torch.randn(4, 5, 2))
    with pytest.raises(ShapeError, match=r"phi: expected shape \(batch, N, D\) with N >= 2.*N = 1"):
        chain.inner(torch.randn(4, 1, 3))
    with pytest.raises(ShapeError, match=r"phi: expected shape \(batch, N, D\)"):
        chain.inner(torch.randn(5, 3))
    bad = torch.randn(4, 5, 3)
    bad[1, 2, 0] = float("nan")
    with pytest.raises(ShapeError, match="phi: contains 1 NaN"):
        chain.inner(bad)
    with pytest.raises(ShapeError, match="feats: contains"):
        chain.evaluate(bad)
    with pytest.raises(ShapeError, match="phi: expected a torch.Tensor"):
        chain.inner([[1.0, 2.0, 3.0]])
    with pytest.raises(ShapeError, match=r"phi: expected shape .* got \(4, 5, 2\)"):
        dense_inner_product(chain, torch.randn(4, 5, 2))


def test_unknown_method_and_bad_chunk():
    chain = SpectralChain(**_parts())
    phi = torch.randn(2, 4, 3)
    with pytest.raises(ValueError, match=r"method: expected one of 'sequential', 'scan', 'logscale', got 'fast'"):
        chain.inner(phi, method="fast")
    with pytest.raises(ValueError, match="method: expected one of 'sequential', 'scan'"):
        chain.log_inner(phi, method="dense")
    with pytest.raises(ValueError, match="chunk_size"):
        chain.inner(phi, chunk_size=0)


def test_dense_reference_refuses_huge_tensors():
    chain = SpectralChain.random(2, 32, complex=False, dtype=torch.float32)
    phi = torch.randn(1, 6, 32)
    with pytest.raises(ValueError, match=r"D\^N = 32\^6 = 1073741824 entries.*max_entries"):
        dense_inner_product(chain, phi)


def test_factored_errors_name_the_argument():
    h = torch.randn(2, 4, 5, dtype=torch.complex128)
    heads = [torch.randn(5, 3, dtype=torch.complex128) for _ in range(4)]
    lam = torch.rand(3, dtype=torch.float64)
    with pytest.raises(ShapeError, match=r"Rh: expected shape \(K, r\) = \(5, 3\), got \(5, 2\)"):
        factored_chain_evaluate(h, heads[0], heads[1], heads[2][:, :2], heads[3], lam)
    with pytest.raises(ShapeError, match=r"B: expected shape \(K, r\) = \(5, \*\), got \(4, 3\)"):
        factored_chain_evaluate(h, heads[0][:4], *heads[1:], lam)
    with pytest.raises(ShapeError, match=r"eigvals: expected shape \(r,\) = \(3,\)"):
        factored_chain_evaluate(h, *heads, torch.rand(4))
    with pytest.raises(ShapeError, match=r"h: expected N >= 1 steps, got shape \(2, 0, 5\)"):
        factored_chain_evaluate(h[:, :0], *heads, lam)
    with pytest.raises(ShapeError, match=r"h: expected shape \(batch, N, K\) or"):
        factored_chain_evaluate(h[0, 0], *heads, lam)
    hb = torch.randn(2, 4, 3, 2, dtype=torch.complex128)
    bheads = [torch.randn(3, 2, 2, dtype=torch.complex128) for _ in range(4)]
    with pytest.raises(ShapeError, match=r"H: expected shape \(L, k, r\) = \(3, 2, 2\), got \(2, 2, 2\)"):
        factored_chain_evaluate(hb, *bheads[:3], bheads[3][:2], torch.rand(3, 2))
    with pytest.raises(ShapeError, match=r"eigvals: expected shape \(L\*r,\) = \(6,\)"):
        factored_chain_evaluate(hb, *bheads, torch.rand(5))
    nan_h = h.clone()
    nan_h[0, 0, 0] = complex("nan")
    with pytest.raises(ShapeError, match="h: contains"):
        factored_chain_evaluate(nan_h, *heads, lam)


def test_finite_check_accepts_huge_finite_values_whose_sum_overflows():
    """The O(1)-memory check sums first; an overflowing sum of finite values must not be rejected."""
    chain = SpectralChain(**_parts())
    phi = torch.full((2, 3, 3), 3e38)  # float32: the sum is inf, every entry is finite
    assert not bool(torch.isfinite(phi.sum()))
    chain.inner(phi)  # no ShapeError (the value itself may overflow; that is not an input error)
    phi[0, 0, 0] = float("inf")
    with pytest.raises(ShapeError, match="phi: contains 1 NaN or infinite"):
        chain.inner(phi)
