"""Atomic file writes: write a temporary file beside the target, fsync, then rename.

A crash or Ctrl-C mid-write leaves the previous file intact, never a truncated one. A write that
fails because the disk (or the quota, or the file-size limit) is full raises
:class:`~kernelops.errors.DiskFullError` naming the target, whatever layer noticed it first (a
plain ``write``, NumPy's "N requested and M written" or torch's zip writer, which wraps the
``OSError`` in a ``RuntimeError``).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from kernelops.errors import DiskFullError

#: errno -> the words used in the one-line message
_FULL_ERRNOS = {errno.ENOSPC: "no space left on device", errno.EFBIG: "file size limit exceeded"}
if hasattr(errno, "EDQUOT"):
    _FULL_ERRNOS[errno.EDQUOT] = "disk quota exceeded"
#: numpy's ndarray.tofile reports a short write without an errno
_SHORT_WRITE = re.compile(r"\d+ requested and \d+ written")


def out_of_space(exc: BaseException | None) -> str | None:
    """Why ``exc`` (or an exception it wraps) is a full-disk error, in words, or None if it is not."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, DiskFullError):
            return None  # already translated, keep its message
        if isinstance(exc, OSError):
            if exc.errno in _FULL_ERRNOS:
                return _FULL_ERRNOS[exc.errno]
            if exc.errno is None and _SHORT_WRITE.search(str(exc)):
                return _FULL_ERRNOS[errno.ENOSPC]
        exc = exc.__cause__ or exc.__context__
    return None


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file that replaces ``path`` only if the block exits cleanly.

    Raises:
        DiskFullError: the disk, quota or file-size limit ran out (``path`` keeps its old content).
    """
    if "w" not in mode:
        raise ValueError(f"atomic_open: mode must be a write mode, got {mode!r}")
    target = Path(path)
    if target.is_symlink():  # write what the link points to; renaming over the link would replace it
        target = Path(os.path.realpath(target))
    tmp: str | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        # mkstemp creates 0600 files; give the result the mode a plain open() would (0666 & ~umask)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException as exc:
        if tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        reason = out_of_space(exc)
        if reason is not None:
            raise DiskFullError(str(target), reason) from exc
        raise


def atomic_write(path: str | os.PathLike[str], write: Callable[[IO], object], mode: str = "wb") -> None:
    """Call ``write(handle)`` on a temporary file and atomically move it to ``path``."""
    with atomic_open(path, mode) as handle:
        write(handle)
