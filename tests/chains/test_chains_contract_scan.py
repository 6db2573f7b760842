"""cached_contract caches one expression per key and equals torch.einsum; tree reductions are exact."""

from __future__ import annotations

import functools
import math

import pytest
import torch

from kernelops.chains import (
    cached_contract,
    clear_contract_cache,
    contract_cache_info,
    get_contract_expression,
    tree_matmul,
    tree_matmul_logscale,
)
from kernelops.chains import contract as contract_module
from kernelops.errors import ShapeError


def test_same_key_returns_the_same_expression_object():
    clear_contract_cache()
    a, b = torch.randn(4, 5, dtype=torch.float64), torch.randn(5, 3, 3, dtype=torch.float64)
    e1 = get_contract_expression("bk,kij->bij", a, b)
    e2 = get_contract_expression("bk,kij->bij", torch.randn(4, 5, dtype=torch.float64), b)
    assert e1 is e2
    info = contract_cache_info()
    assert info["misses"] == 1 and info["hits"] == 1 and info["size"] == 1
    # a different shape, dtype or equation is a different key
    assert get_contract_expression("bk,kij->bij", torch.randn(2, 5, dtype=torch.float64), b) is not e1
    assert get_contract_expression("bk,kij->bij", a.float(), b.float()) is not e1
    assert get_contract_expression("bk,kij->bji", a, b) is not e1
    assert contract_cache_info()["size"] == 4
    cached_contract("bk,kij->bij", a, b)
    assert contract_cache_info()["hits"] == 2


@pytest.mark.parametrize(
    "eq,shapes",
    [
        ("bk,kij->bij", [(4, 5), (5, 3, 3)]),
        ("bi,bk,kij->bj", [(4, 3), (4, 5), (5, 3, 3)]),
        ("bi,bij,bj->b", [(4, 3), (4, 3, 3), (4, 3)]),
        ("ij,jk,kl", [(2, 3), (3, 4), (4, 5)]),
    ],
)
def test_cached_contract_equals_einsum_and_gradients(eq, shapes):
    ops = [torch.randn(*s, dtype=torch.complex128, requires_grad=True) for s in shapes]
    got = cached_contract(eq, *ops)
    want = torch.einsum(eq, *ops)
    assert torch.allclose(got, want, rtol=1e-12, atol=1e-12)
    w = torch.randn_like(want)
    g1 = torch.autograd.grad((got * w).real.sum(), ops)
    g2 = torch.autograd.grad((want * w).real.sum(), ops)
    for x, y in zip(g1, g2):
        assert torch.allclose(x, y, rtol=1e-12, atol=1e-12)


def test_cached_contract_promotes_mixed_dtypes():
    a = torch.randn(3, 4, dtype=torch.float64)
    b = torch.randn(4, 2, dtype=torch.complex128)
    got = cached_contract("ij,jk->ik", a, b)
    assert got.dtype == torch.complex128
    assert torch.allclose(got, a.to(torch.complex128) @ b)


def test_cache_is_bounded(monkeypatch):
    clear_contract_cache()
    monkeypatch.setattr(contract_module, "MAX_CACHED_EXPRESSIONS", 3)
    first = get_contract_expression("ij,jk->ik", torch.randn(1, 2), torch.randn(2, 2))
    for n in range(2, 6):
        get_contract_expression("ij,jk->ik", torch.randn(n, 2), torch.randn(2, 2))
    assert contract_cache_info()["size"] == 3
    assert get_contract_expression("ij,jk->ik", torch.randn(1, 2), torch.randn(2, 2)) is not first  # evicted


def test_cached_contract_bad_operands():
    with pytest.raises(ShapeError, match=r"do not fit"):
        cached_contract("ij,jk->ik", torch.randn(2, 3), torch.randn(4, 2))
    with pytest.raises(ShapeError, match=r"operand 1: expected a torch.Tensor"):
        cached_contract("ij,jk->ik", torch.randn(2, 3), [[1.0]])


@pytest.mark.parametrize("m", [1, 2, 3, 4, 5, 7, 8, 9, 16, 17])
def test_tree_matmul_equals_left_to_right_product(m):
    mats = torch.randn(3, m, 4, 4, dtype=torch.complex128)
    want = functools.reduce(torch.matmul, mats.unbind(1))
    assert torch.allclose(tree_matmul(mats), want, rtol=1e-10, atol=1e-10)
    unit, log_scale = tree_matmul_logscale(mats)
    assert torch.allclose(torch.linalg.matrix_norm(unit), torch.ones(3, dtype=torch.float64))
    assert torch.allclose(unit * log_scale.exp()[:, None, None], want, rtol=1e-10, atol=1e-10)


def test_tree_matmul_logscale_closed_form_far_below_underflow():
    """c·Qₙ with orthogonal Qₙ: the product has Frobenius norm c^m·√r exactly."""
    m, r, c = 1000, 3, 1e-3
    q = torch.linalg.qr(torch.randn(m, r, r, dtype=torch.float64)).Q
    unit, log_scale = tree_matmul_logscale(c * q)
    assert float(tree_matmul(c * q).abs().max()) == 0.0  # the plain product underflows
    assert math.isclose(float(log_scale), m * math.log(c) + 0.5 * math.log(r), rel_tol=1e-12)
    want_unit = functools.reduce(torch.matmul, q.unbind(0)) / math.sqrt(r)
    assert torch.allclose(unit, want_unit, atol=1e-9)


def test_tree_matmul_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"mats: expected shape \(\.\.\., m, r, r\)"):
        tree_matmul(torch.randn(3, 4, 5))
