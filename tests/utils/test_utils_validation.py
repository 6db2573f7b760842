"""check_tensor's finiteness check: exact, whatever the sum of the values does."""

import pytest
import torch

from kernelops.errors import ShapeError
from kernelops.utils.validation import check_tensor


def test_finite_values_whose_sum_overflows_are_accepted():
    x = torch.full((8,), 3e38)  # finite float32, but the sum is inf
    assert not torch.isfinite(x.sum())
    assert check_tensor(x, "x") is x


@pytest.mark.parametrize("bad, count", [
    (torch.tensor([1.0, float("nan"), 2.0, float("inf")]), 2),
    (torch.tensor([float("inf"), -float("inf")]), 2),  # sums to NaN, still counted as two
    (torch.tensor([1 + 1j, complex(float("inf"), 0.0)]), 1),
])
def test_non_finite_values_are_counted_and_named(bad, count):
    with pytest.raises(ShapeError, match=rf"x: contains {count} NaN or infinite value\(s\)"):
        check_tensor(bad, "x", allow_complex=True)
