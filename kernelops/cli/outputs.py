"""Where a command's output file goes, checked before any computation.

``--out`` names a file (``.npy`` appended when missing), or a folder, an existing directory or a
path ending in ``/``, which then receives the command's default file name. The folder must be
writable: that is checked by creating (and removing) a temporary file in it before the model is
loaded, so a read-only folder costs one line, not a whole computation first.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path


def output_file(out: str | None, run_folder: Path, default_name: str) -> Path:
    """``--out`` as a .npy file; a folder (existing, or written with a trailing /) gets ``default_name``."""
    if out is None:
        return run_folder / default_name
    path = Path(out)
    if path.is_dir() or out.endswith(("/", os.sep)):
        return path / default_name
    return path if path.suffix == ".npy" else path.with_name(path.name + ".npy")


def check_writable(path: Path, option: str = "--out") -> None:
    """Refuse now, in one line, if ``path``'s folder cannot be created or written in.

    Raises:
        PermissionError / OSError: naming the option, the folder and the reason.
    """
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PermissionError(f"{option}: cannot create the folder {folder} ({os.strerror(exc.errno or 0).lower()}); "
                              f"choose another {option}") from None
    try:
        fd, probe = tempfile.mkstemp(prefix=".kernelops-write-check.", dir=folder)
    except OSError as exc:
        reason = "read-only file system" if exc.errno == errno.EROFS else os.strerror(exc.errno or errno.EACCES)
        raise PermissionError(f"{option}: cannot write in {folder} ({reason.lower()}); choose another {option}") from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)


__all__ = ["check_writable", "output_file"]
