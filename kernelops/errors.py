"""Exception and warning types raised by kernelops.

Every error subclasses :class:`KernelopsError`; those about bad input also subclass
:class:`ValueError` so that ``except ValueError`` in user code keeps working.
"""

from __future__ import annotations

import errno
from collections.abc import Iterable


class KernelopsError(Exception):
    """Base class of every error kernelops raises on purpose."""


class KernelopsWarning(UserWarning):
    """Base class of kernelops warnings (e.g. a plugin that failed to load)."""


class ShapeError(KernelopsError, ValueError):
    """A tensor has the wrong rank, size, dtype or non-finite values."""


class DataError(KernelopsError, ValueError):
    """A data file or array cannot be used (non-numeric column, NaN, too short...)."""


class UnknownPluginError(KernelopsError, LookupError):
    """A plugin name is not registered; the message lists the known names of that kind, or, for
    a name that one of kernelops' optional distributions provides, says what to install."""

    def __init__(self, kind: str, name: str, known: Iterable[str], hint: str | None = None):
        self.kind, self.name, self.known, self.hint = kind, name, sorted(known), hint
        listed = ", ".join(self.known) if self.known else "(none registered)"
        super().__init__(hint or f"unknown {kind} {name!r}; known {kind}s: {listed}")

    def __str__(self) -> str:  # LookupError would otherwise quote the message
        return self.args[0]


class UnknownOptionError(KernelopsError, TypeError):
    """A registered factory was given a keyword it does not take; the message lists those it does."""


class DuplicatePluginError(KernelopsError):
    """Two plugins registered the same name (or alias) for one kind."""


class PluginLoadError(KernelopsError):
    """A plugin failed to import, register or run its hooks (re-raised in strict mode)."""


class AllocationError(KernelopsError, MemoryError):
    """An array about to be allocated would not fit in memory; the message gives its size and
    the option that makes it smaller (raised before allocating, :mod:`kernelops.utils.memory`)."""


class DiskFullError(KernelopsError, OSError):
    """The disk, the quota or the file-size limit ran out while writing ``filename``.

    Raised by the atomic writes (:mod:`kernelops.utils.atomic`), so the previous version of the
    file is intact. ``str(error)`` is one line: ``"no space left on device writing <file>"``.
    """

    def __init__(self, filename: str, reason: str = "no space left on device"):
        super().__init__(f"{reason} writing {filename}")
        self.filename, self.reason = filename, reason
        self.errno = errno.ENOSPC

    def __str__(self) -> str:  # OSError would otherwise format "[Errno ...]" when errno is set
        return self.args[0]


class CheckpointError(KernelopsError):
    """A checkpoint is missing, corrupt, or needs a plugin that is not installed."""
