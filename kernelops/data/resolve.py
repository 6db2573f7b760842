"""One entry point for "the data" of a command: a registered dataset name or a user file."""

from __future__ import annotations

import inspect
import os
from collections.abc import Sequence
from typing import Any

from kernelops.data.base import WindowDataset
from kernelops.data.user import Columns, load_user_windows
from kernelops.errors import DataError


def resolve_dataset(dataset: str | None = None, data: str | os.PathLike[str] | None = None,
                    window: int | None = None, stride: int | None = None, columns: Columns = None,
                    **kwargs: Any) -> WindowDataset:
    """Build the windows a command works on from exactly one of ``dataset`` or ``data``.

    Args:
        dataset: a registered dataset name (``kernelops datasets`` lists them), built with
            ``ko.dataset(name, **kwargs)``; an unknown name raises the plugin error that lists
            the known ones. ``window`` / ``stride``, when given, are passed on as ``seq_len`` /
            ``stride``; a factory that does not take them raises instead of silently ignoring
            them.
        data: a user file (.csv, .csv.gz, .npy, .npz), see :func:`kernelops.data.load_user_windows`.
        window: window length (sequence length N); None: 24 for a file, the dataset's own
            default for a registered name (e.g. full-length series for "fred_md").
        stride: step between windows; None: 1 for a file, the dataset's default otherwise.
        columns: for ``data``: the columns to keep (names or indices).
        **kwargs: for ``dataset``: extra factory arguments (e.g. ``num``, ``seed``, ``root``);
            for ``data``: ``key`` (the .npz array).

    Raises:
        ValueError: both or neither of ``dataset`` and ``data`` given.
        UnknownPluginError: no dataset registered under that name.
        DataError / FileNotFoundError: the file cannot be used.
    """
    if (dataset is None) == (data is None):
        which = "both" if dataset is not None else "neither"
        raise ValueError(f"give exactly one of dataset (a registered name) or data (a file path); got {which}")
    if data is not None:
        unknown = sorted(set(kwargs) - {"key"})
        if unknown:
            raise ValueError(f"{', '.join(unknown)}: not an option for a user file (data={str(data)!r}); "
                             "only window, stride, columns and key apply")
        return load_user_windows(data, window=24 if window is None else window,
                                 stride=1 if stride is None else stride, columns=columns, **kwargs)

    from kernelops.plugins.manager import get_host

    if columns is not None:
        raise ValueError(f"columns: only applies to a user file (data=...), not to dataset {dataset!r}")
    assert dataset is not None
    factory = get_host().entry("datasets", dataset).resolve()  # unknown name -> lists known ones
    params = _parameters(factory)
    for arg, value, target in (("window", window, "seq_len"), ("stride", stride, "stride")):
        if value is None:
            continue
        if target in kwargs:
            raise ValueError(f"{arg}: given twice, as {arg}={value} and {target}={kwargs[target]}")
        if params is not None and target not in params:
            raise ValueError(f"{arg}: dataset {dataset!r} takes no {target!r} argument; got {arg}={value}")
        kwargs[target] = value
    from kernelops.plugins.api import dataset as build

    result = build(dataset, **kwargs)
    if not isinstance(result, WindowDataset):
        raise DataError(f"dataset {dataset!r}: its factory returned {type(result).__name__}, "
                        "expected a kernelops.data.WindowDataset")
    return result


def _parameters(factory: Any) -> set[str] | None:
    """Names the factory accepts, or None when it takes ``**kwargs`` (accepts anything)."""
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values()):
        return None
    return set(sig.parameters)


def list_datasets(build: bool = True, names: Sequence[str] | None = None,
                  include_optional: bool = False) -> list[dict[str, Any]]:
    """Every registered dataset (or those in ``names``), for ``kernelops datasets``.

    Each dict has ``name``, ``aliases``, ``description``, ``provider`` (the plugin), and, when
    ``build`` is true, ``status`` (``"ok"``, ``"missing"`` or ``"error"``), ``shape``
    ([windows, seq_len, features] or None), ``source`` and ``reason``. A dataset that cannot be
    built (file missing, plugin import failing) is reported, never raised; an unknown name in
    ``names`` raises the plugin error listing the known ones (or saying what to install).
    With ``include_optional`` (and no ``names``), the datasets of kernelops' optional
    distributions that are not registered (kernelops-datasets not installed or not loaded)
    follow as ``status="missing"`` rows whose ``reason`` says what to install.
    """
    from kernelops.plugins.api import dataset as build_dataset
    from kernelops.plugins.manager import get_host

    host = get_host()
    host.ensure_loaded()
    registry = host.registries["datasets"]
    entries = list(registry) if names is None else [registry.get(n) for n in names]
    out = []
    for entry in entries:
        info: dict[str, Any] = {
            "name": entry.name,
            "aliases": list(entry.aliases),
            "description": entry.description,
            "provider": entry.source.plugin if not entry.source.dist
            else f"{entry.source.dist} {entry.source.version or ''}".strip(),
        }
        if build:
            info.update(status="ok", shape=None, source="", reason="")
            try:
                ds = build_dataset(entry.name)
                desc = ds.describe() if isinstance(ds, WindowDataset) else None
                if desc is None:
                    raise DataError(f"factory returned {type(ds).__name__}, not a WindowDataset")
                info.update(shape=desc["shape"], source=desc["source"])
            except (DataError, FileNotFoundError) as exc:
                info.update(status="missing", reason=_one_line(exc))
            except Exception as exc:  # a broken third-party dataset must not break the listing
                info.update(status="error", reason=f"{type(exc).__name__}: {_one_line(exc)}")
        out.append(info)
    if include_optional and names is None:
        out.extend(_unregistered_optional(registry, build))
    return out


def _unregistered_optional(registry: Any, build: bool) -> list[dict[str, Any]]:
    """Rows for datasets an optional distribution provides but nobody has registered."""
    from kernelops.plugins.optional import PACKAGES, missing_hint

    rows: list[dict[str, Any]] = []
    for package in PACKAGES:
        for name in package.provides.get("datasets", ()):
            if name in registry:
                continue
            row: dict[str, Any] = {"name": name, "aliases": [], "provider": f"{package.dist} (not loaded)",
                                   "description": f"provided by {package.dist}"}
            if build:
                row.update(status="missing", shape=None, source="", reason=missing_hint("dataset", "datasets", name))
            rows.append(row)
    return rows


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())
