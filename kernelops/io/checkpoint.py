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
import warnings
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
    _check_container(target)
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols of foreign files
            warnings.simplefilter("ignore")
            state = torch.load(target, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:  # torch's text suggests weights_only=False: never repeat it
        raise CheckpointError(f"{target}: not a kernelops checkpoint (it holds Python objects other than tensors, "
                              "numbers and strings; kernelops never unpickles those, since that could run code)") from exc
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile,
            AttributeError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{target}: not a kernelops checkpoint, or a truncated or damaged one "
                              f"({type(exc).__name__}: {_first_sentence(exc)})") from exc
    if not isinstance(state, dict):
        raise CheckpointError(f"{target}: not a kernelops checkpoint (it holds a {type(state).__name__}, expected a dict)")
    if expect_format is not None and state.get(FORMAT_KEY) != expect_format:
        raise CheckpointError(f"{target}: not a {expect_format} checkpoint "
                              f"(its format is {state.get(FORMAT_KEY)!r})")
    missing = [key for key in required if key not in state]
    if missing:
        raise CheckpointError(f"{target}: corrupt checkpoint, missing {', '.join(repr(k) for k in missing)}")
    return state


_ZIP_MAGIC = b"PK\x03\x04"  # torch.save writes a zip archive


def _check_container(target: Path) -> None:
    """A checkpoint is a torch zip archive; say what the file is when it is not one."""
    with open(target, "rb") as fh:
        head = fh.read(8)
    if head.startswith(_ZIP_MAGIC):
        return
    if not head:
        what = "the file is empty"
    elif head.startswith(b"\x93NUMPY"):
        what = "it is a NumPy .npy array"
    elif head[:1] == b"\x80":
        what = "it is a bare Python pickle, which kernelops never loads"
    else:
        what = f"a checkpoint is a torch zip archive; this file starts with {head[:4]!r}"
    raise CheckpointError(f"{target}: not a kernelops checkpoint ({what})")


def _first_sentence(exc: BaseException) -> str:
    """The first sentence of an exception's message, at most 120 characters."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    first = text.split(". ")[0]
    return first if len(first) <= 120 else first[:117] + "..."


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
