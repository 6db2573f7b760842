"""Floating-point settings for training and sampling: flush subnormal numbers to zero on the CPU.

The gradient of a long chain with respect to its early steps decays geometrically along the
chain (each transfer step contracts what the end still sees of the start), so in the backward
pass of a long window many intermediate values fall below the smallest normal float (1.2e-38 in
float32). x86 CPUs compute with such subnormal numbers through a slow microcode path, tens of
times slower per operation, so the time of a step grew faster than N: at N = 1024 a training
step took 1.25× (benchmarks/results/long_sequences.md) to 1.8× (one profiled step) as long with
subnormals kept as with them flushed, a sampling evaluation 1.9×. Flushing them to zero changes
values by less than the smallest normal number. CUDA kernels are unaffected by this setting.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

__all__ = ["flush_denormals", "flushing_denormals"]

#: a float32 subnormal: kept non-zero by ordinary arithmetic, zero when subnormals are flushed
_SUBNORMAL = 1e-40


def flushing_denormals() -> bool:
    """True when CPU arithmetic in this thread currently flushes subnormal numbers to zero."""
    return float(torch.tensor([_SUBNORMAL], dtype=torch.float32).mul(2.0)) == 0.0


@contextlib.contextmanager
def flush_denormals() -> Iterator[None]:
    """Flush subnormal numbers to zero inside the block (module docstring), then restore the setting.

    ``torch.set_flush_denormal`` sets the calling thread's floating-point mode (where the CPU
    supports it; elsewhere this is a no-op); the mode before the block is read back by
    computing with a subnormal number and restored on exit.
    """
    before = flushing_denormals()
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(before)
