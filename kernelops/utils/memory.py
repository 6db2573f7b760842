"""Refuse an allocation that cannot fit in memory before making it, with the figure and a remedy.

NumPy asked for 298 GiB raises a bare ``MemoryError`` (or, under memory overcommit, succeeds and
the process is killed by the kernel while filling the array). Loaders call
:func:`check_allocation` with the size they are about to allocate and the option that shrinks
it, so the user reads "... would take 298 GiB, ... use a larger --stride" instead.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from kernelops.errors import AllocationError

#: the largest share of the available memory one array may take: training holds further copies
#: (float32 model inputs, a float64 fingerprint, the batch graph) next to the windows
SHARE = 0.5
ENV_LIMIT = "KERNELOPS_MEMORY_LIMIT"


def format_bytes(n: float) -> str:
    """1536 -> '1.5 KiB', 3.2e11 -> '298 GiB' (three significant digits)."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.3g} {unit}"
        n /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def _parse_size(raw: str) -> int:
    text = raw.strip().upper().removesuffix("B").removesuffix("I")
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}.get(text[-1:], 1)
    number = text[:-1] if text[-1:] in "KMGT" else text
    try:
        value = float(number) * scale
    except ValueError:
        raise ValueError(f"{ENV_LIMIT}: expected a size such as 8G or 512M, got {raw!r}") from None
    if not value > 0:
        raise ValueError(f"{ENV_LIMIT}: expected a positive size, got {raw!r}")
    return int(value)


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def available_bytes() -> int | None:
    """Memory this process may still allocate, or None when it cannot be told.

    ``KERNELOPS_MEMORY_LIMIT`` (e.g. ``8G``) when set; otherwise the kernel's ``MemAvailable``,
    capped by the room left under a cgroup (container / batch-job) memory limit.
    """
    env = os.environ.get(ENV_LIMIT, "").strip()
    if env:
        return _parse_size(env)
    candidates: list[int] = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                candidates.append(int(line.split()[1]) * 1024)
                break
    except (OSError, ValueError, IndexError):
        pass
    cgroup = Path("/sys/fs/cgroup")
    for limit_file, usage_file in (("memory.max", "memory.current"),  # cgroup v2
                                   ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes")):  # v1
        limit, usage = _read_int(cgroup / limit_file), _read_int(cgroup / usage_file)
        if limit is not None and usage is not None and limit < 1 << 60:  # v1 writes ~2^63 for "no limit"
            candidates.append(max(limit - usage, 0))
    return min(candidates) if candidates else None


def check_allocation(nbytes: int, what: str, remedy: str | Callable[[int], str]) -> None:
    """Raise :class:`AllocationError` if ``nbytes`` exceed :data:`SHARE` of the available memory.

    Args:
        nbytes: size of the array about to be allocated.
        what: the array and how its size arises, e.g. "200001 windows x 100000 steps x 2 features (float64)".
        remedy: what makes it smaller, e.g. "use a larger --stride or a smaller --window", or a
            function of the byte budget that returns such advice with figures.
    """
    available = available_bytes()
    if available is None or nbytes <= SHARE * available:
        return
    advice = remedy(int(SHARE * available)) if callable(remedy) else remedy
    raise AllocationError(f"{what} would take {format_bytes(nbytes)}, more than {SHARE:.0%} of the "
                          f"{format_bytes(available)} of memory available; {advice}")
