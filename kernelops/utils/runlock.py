"""A lock file that keeps two writers out of one run folder.

``kernelops fit`` holds ``RUN/.lock`` while it writes the folder. The file is created with
``O_CREAT | O_EXCL`` (atomic on local file systems and on NFS v3 and later: exactly one of two
processes racing for it succeeds) and holds the owner's pid, host and start time. A second
writer finds it and refuses, naming the owner. A lock whose owner is gone (``kill -9``, power
loss) is stale: when its host is this one and no process with its pid is running, it is removed
and taken over. A lock from another host cannot be checked; the message says how to remove it.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kernelops.errors import KernelopsError

#: the lock file's name inside the run folder
LOCK_NAME = ".lock"
#: a lock file still empty after this many seconds was left by a writer killed between create and write
_EMPTY_GRACE_S = 10.0


class RunLocked(KernelopsError):
    """Another live process holds the run folder's lock."""


def _alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host (one we may not signal counts as alive)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_lock(path: Path) -> dict[str, Any] | None:
    """The owner recorded in a lock file ({} when it is empty or unreadable), or None if there is none."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError):
        return {}
    try:
        owner = json.loads(text)
    except json.JSONDecodeError:
        return {}
    return owner if isinstance(owner, dict) else {}


def _stale(path: Path, owner: dict[str, Any]) -> bool:
    if not owner:  # created but never written: its writer died in between (or is writing right now)
        with contextlib.suppress(OSError):
            return time.time() - path.stat().st_mtime > _EMPTY_GRACE_S
        return False
    if owner.get("host") != socket.gethostname():
        return False
    pid = owner.get("pid")
    return isinstance(pid, int) and not _alive(pid)


def acquire(folder: str | os.PathLike[str], what: str = "kernelops fit") -> tuple[Path, dict[str, Any] | None]:
    """Create ``folder/.lock`` for this process.

    Returns:
        the lock file, and the owner of a stale lock that was cleared to take it (else None).

    Raises:
        RunLocked: a live process (or one on another host) holds the lock; one line naming it.
    """
    path = Path(folder) / LOCK_NAME
    cleared: dict[str, Any] | None = None
    me = {"pid": os.getpid(), "host": socket.gethostname(), "command": what,
          "since": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime())}
    for _ in range(3):  # a stale lock removed by a racing process: try again
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            owner = read_lock(path)
            if owner is None:
                continue  # released in between
            if _stale(path, owner):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
                cleared = owner
                continue
            who = (f"pid {owner.get('pid')} on host {owner.get('host')}, {owner.get('command', 'a writer')} "
                   f"since {owner.get('since', '?')}") if owner else "a process that is starting"
            remote = owner and owner.get("host") != socket.gethostname()
            hint = (f"; if that process is gone, delete {path}" if remote
                    else "; wait for it to finish or stop it, or choose another folder")
            raise RunLocked(f"{folder} is in use by {who}{hint}") from None
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(me) + "\n")
        return path, cleared
    raise RunLocked(f"{folder}: could not take its lock {path} (it keeps reappearing); another process is starting there")


def release(path: Path) -> None:
    """Remove the lock if this process still owns it."""
    owner = read_lock(path)
    if owner and owner.get("pid") == os.getpid() and owner.get("host") == socket.gethostname():
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


@contextlib.contextmanager
def run_lock(folder: str | os.PathLike[str], what: str = "kernelops fit") -> Iterator[dict[str, Any] | None]:
    """Hold ``folder/.lock`` for the block (see :func:`acquire`); yields the owner of a cleared stale lock."""
    try:
        path, cleared = acquire(folder, what)
    except PermissionError as exc:  # a read-only folder: say so, not "lock"
        raise PermissionError(f"cannot write in {folder} ({os.strerror(exc.errno or errno.EACCES).lower()})") from exc
    try:
        yield cleared
    finally:
        release(path)


__all__ = ["LOCK_NAME", "RunLocked", "acquire", "read_lock", "release", "run_lock"]
