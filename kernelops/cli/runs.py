"""Run folders on the command line: the checkpoint a `RUN` argument names."""

from __future__ import annotations

from pathlib import Path


def checkpoint_path(target: str | Path) -> Path:
    """``RUN/checkpoint.pt`` for a run folder, or ``target`` itself for a checkpoint file.

    Raises:
        CheckpointError: a folder without checkpoint.pt.
        FileNotFoundError: neither a folder nor a file.
    """
    from kernelops.errors import CheckpointError

    path = Path(target)
    if path.is_dir():
        ckpt = path / "checkpoint.pt"
        if not ckpt.exists():
            raise CheckpointError(f"{path}: no checkpoint.pt in this folder (is it a `kernelops fit` run folder?)")
        return ckpt
    if path.exists():
        return path
    raise FileNotFoundError(f"no run folder or checkpoint {str(target)!r}")


__all__ = ["checkpoint_path"]
