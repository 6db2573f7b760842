"""Checkpoint files: atomic writes, safe loads, and the plugins a checkpoint needs.

A checkpoint is a ``dict`` saved with ``torch.save`` and read back with
``torch.load(weights_only=True)``, so loading never runs arbitrary pickled code: everything
in it must be tensors, numbers, strings, ``None`` and lists/tuples/dicts of those (configs as
JSON-compatible primitives, RNG states as uint8 tensors). The write goes to a temporary file
beside the target and is renamed over it only once complete (:mod:`kernelops.utils.atomic`), so
a crash or Ctrl-C mid-save leaves the previous checkpoint intact.

Every checkpoint carries ``format`` and ``format_version`` keys; :func:`require_plugins` turns
"this checkpoint was built with path 'foo' from plugin 'bar'" into a :class:`CheckpointError`
naming what to install when that name is not registered here.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from kernelops.errors import CheckpointError, UnknownPluginError
from kernelops.utils.atomic import atomic_open

FORMAT_KEY = "format"
VERSION_KEY = "format_version"


def save_checkpoint(path: str | os.PathLike[str], state: dict[str, Any]) -> Path:
    """Write ``state`` to ``path`` atomically; returns the path.

    Raises:
        CheckpointError: ``state`` is not a dict.
    """
    if not isinstance(state, dict):
        raise CheckpointError(f"state: expected a dict, got {type(state).__name__}")
    target = Path(path)
    with atomic_open(target, "wb") as handle:
        torch.save(state, handle)
    return target


def load_checkpoint(path: str | os.PathLike[str], map_location: Any = None, *,
                    expect_format: str | None = None, required: tuple[str, ...] = ()) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` with ``weights_only=True``.

    Args:
        path: the checkpoint file.
        map_location: as for ``torch.load`` (e.g. "cpu").
        expect_format: if given, the value the checkpoint's ``format`` key must have.
        required: keys the checkpoint must contain.

    Raises:
        CheckpointError: the file is missing, is not a readable checkpoint (truncated, corrupt,
            holds objects other than tensors and primitives), has another format, or lacks a key.
    """
    target = Path(path)
    if not target.exists():
        raise CheckpointError(f"{target}: no such checkpoint file")
    if target.is_dir():
        raise CheckpointError(f"{target}: is a directory, expected a checkpoint file")
    try:
        state = torch.load(target, map_location=map_location, weights_only=True)
    except (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError, zipfile.BadZipFile,
            AttributeError, KeyError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{target}: corrupt or not a kernelops checkpoint ({type(exc).__name__}: {first})") from exc
    if not isinstance(state, dict):
        raise CheckpointError(f"{target}: corrupt or not a kernelops checkpoint (holds a {type(state).__name__}, expected a dict)")
    if expect_format is not None and state.get(FORMAT_KEY) != expect_format:
        raise CheckpointError(f"{target}: not a {expect_format} checkpoint "
                              f"(its format is {state.get(FORMAT_KEY)!r})")
    missing = [key for key in required if key not in state]
    if missing:
        raise CheckpointError(f"{target}: corrupt checkpoint, missing {', '.join(repr(k) for k in missing)}")
    return state


def plugin_record(kind: str, name: str) -> dict[str, Any]:
    """Where the registered ``name`` of ``kind`` comes from: {kind, name, plugin, dist, version}.

    ``kind`` is a registry kind ("paths", "solvers", "feature_maps", "datasets").
    """
    from kernelops.plugins.manager import get_host

    entry = get_host().entry(kind, name)
    src = entry.source
    return {"kind": kind, "name": entry.name, "plugin": src.plugin, "dist": src.dist, "version": src.version}


def require_plugins(records: list[dict[str, Any]], *, where: str = "checkpoint") -> None:
    """Raise :class:`CheckpointError` unless every recorded plugin name is registered here.

    Args:
        records: dicts as made by :func:`plugin_record`.
        where: what needs them, for the message (e.g. the checkpoint path).
    """
    from kernelops.plugins.manager import get_host

    host = get_host()
    for rec in records:
        kind, name = rec.get("kind"), rec.get("name")
        try:
            host.entry(str(kind), str(name))
        except UnknownPluginError:
            dist, plugin, version = rec.get("dist"), rec.get("plugin"), rec.get("version")
            noun = str(kind).rstrip("s").replace("_", " ")
            if dist:
                hint = f"install it: pip install '{dist}{'==' + version if version else ''}'"
            else:
                hint = f"it came from plugin {plugin!r}; register that plugin before loading"
            raise CheckpointError(f"{where} needs {noun} {name!r} from plugin {plugin!r} "
                                  f"({dist or 'no distribution'} {version or ''}".rstrip() + f"), which is not "
                                  f"installed or failed to load; {hint}") from None
        except KeyError:
            raise CheckpointError(f"{where}: unknown plugin kind {kind!r}") from None


__all__ = ["load_checkpoint", "plugin_record", "require_plugins", "save_checkpoint"]
