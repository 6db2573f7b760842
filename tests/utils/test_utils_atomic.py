"""Atomic writes: the target is replaced only on success, with ordinary permissions."""

from __future__ import annotations

import os
import stat

import pytest

from kernelops.utils.atomic import atomic_open, atomic_write


def test_success_replaces_target_with_umask_permissions(tmp_path):
    target = tmp_path / "sub" / "file.bin"
    atomic_write(target, lambda f: f.write(b"new"))
    assert target.read_bytes() == b"new"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask


def test_failure_keeps_previous_content_and_leaves_no_temp_file(tmp_path):
    target = tmp_path / "file.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_open(target, "w") as handle:
            handle.write("half written")
            raise RuntimeError("crash mid-write")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]


def test_read_mode_is_refused(tmp_path):
    with pytest.raises(ValueError, match="write mode"):
        with atomic_open(tmp_path / "x", "rb"):
            pass
