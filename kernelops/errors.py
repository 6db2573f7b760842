"""Exception and warning types raised by kernelops.

Every error subclasses :class:`KernelopsError`; those about bad input also subclass
:class:`ValueError` so that ``except ValueError`` in user code keeps working.
"""

from __future__ import annotations

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


class DuplicatePluginError(KernelopsError):
    """Two plugins registered the same name (or alias) for one kind."""


class PluginLoadError(KernelopsError):
    """A plugin failed to import, register or run its hooks (re-raised in strict mode)."""


class CheckpointError(KernelopsError):
    """A checkpoint is missing, corrupt, or needs a plugin that is not installed."""
