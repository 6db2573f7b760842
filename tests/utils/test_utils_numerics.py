"""flush_denormals: subnormal results become zero inside the block, the previous mode returns after."""

from __future__ import annotations

import pytest
import torch

from kernelops.utils.numerics import flush_denormals, flushing_denormals

pytestmark = pytest.mark.skipif(not torch.set_flush_denormal(False), reason="this CPU cannot flush subnormals")


def test_flush_denormals_zeroes_subnormal_results_and_restores_the_mode():
    tiny = torch.tensor([1e-30], dtype=torch.float32)
    assert not flushing_denormals() and float(tiny * 1e-10) > 0  # 1e-40: a subnormal float32
    with flush_denormals():
        assert flushing_denormals() and float(tiny * 1e-10) == 0.0
        assert float(tiny * 1e-5) == pytest.approx(1e-35)  # normal numbers are untouched
    assert not flushing_denormals() and float(tiny * 1e-10) > 0
    torch.set_flush_denormal(True)
    try:  # a mode set by the caller is kept, not reset to the default
        with flush_denormals():
            pass
        assert flushing_denormals()
    finally:
        torch.set_flush_denormal(False)
