"""Name registry: one table per plugin kind, with provenance for every entry."""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from kernelops.errors import DuplicatePluginError, PluginLoadError, UnknownPluginError
from kernelops.plugins.optional import missing_hint

KINDS = ("feature_maps", "paths", "solvers", "datasets")
#: singular nouns used in messages
KIND_NOUN = {"feature_maps": "feature map", "paths": "path", "solvers": "solver", "datasets": "dataset"}
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Source:
    """Who registered an entry: plugin name, distribution and its version."""

    plugin: str
    dist: str | None = None
    version: str | None = None

    def __str__(self) -> str:
        if self.dist:
            return f"plugin {self.plugin!r} ({self.dist} {self.version or '?'})"
        return f"plugin {self.plugin!r}"


@dataclass
class Entry:
    """One registered object: its name, kind, factory (callable or lazy string) and source."""

    name: str
    kind: str
    factory: Callable[..., Any] | str
    source: Source
    aliases: tuple[str, ...] = ()
    description: str = ""
    _resolved: Callable[..., Any] | None = field(default=None, repr=False)

    def resolve(self) -> Callable[..., Any]:
        """Import a lazy ``"module:attr"`` factory on first use and return the callable."""
        if self._resolved is None:
            if isinstance(self.factory, str):
                module_name, _, attr = self.factory.partition(":")
                try:
                    obj: Any = importlib.import_module(module_name)
                    for part in attr.split("."):
                        obj = getattr(obj, part)
                except Exception as exc:  # report which plugin's lazy target is broken
                    raise PluginLoadError(
                        f"{KIND_NOUN[self.kind]} {self.name!r} from {self.source}: "
                        f"cannot import {self.factory!r}: {exc}"
                    ) from exc
                self._resolved = obj
            else:
                self._resolved = self.factory
        return self._resolved


class Registry:
    """All registered names of one kind; aliases resolve to their entry."""

    def __init__(self, kind: str):
        if kind not in KINDS:
            raise ValueError(f"unknown plugin kind {kind!r}; expected one of {KINDS}")
        self.kind = kind
        self._entries: dict[str, Entry] = {}
        self._lookup: dict[str, str] = {}  # name or alias -> canonical name

    def add(
        self,
        name: str,
        factory: Callable[..., Any] | str,
        source: Source,
        *,
        aliases: Sequence[str] = (),
        description: str = "",
    ) -> Entry:
        """Add an entry; raise :class:`DuplicatePluginError` naming both sources on collision."""
        noun = KIND_NOUN[self.kind]
        if isinstance(aliases, str):
            aliases = (aliases,)
        for key in (name, *aliases):
            if not isinstance(key, str) or not _NAME_RE.match(key):
                raise ValueError(
                    f"{noun} name {key!r} from {source} is invalid: expected lowercase letters, "
                    "digits and underscores, starting with a letter"
                )
            if key in self._lookup:
                other = self._entries[self._lookup[key]]
                raise DuplicatePluginError(
                    f"{noun} name {key!r} is registered twice: by {other.source} and by {source}"
                )
        if not (callable(factory) or (isinstance(factory, str) and ":" in factory)):
            raise ValueError(
                f"{noun} {name!r} from {source}: factory must be callable or a "
                f"'package.module:Object' string, got {factory!r}"
            )
        entry = Entry(name, self.kind, factory, source, tuple(aliases), description)
        self._entries[name] = entry
        for key in (name, *aliases):
            self._lookup[key] = name
        return entry

    def remove_source(self, plugin: str) -> None:
        """Drop every entry registered by ``plugin`` (used when a plugin fails half-way)."""
        for name in [n for n, e in self._entries.items() if e.source.plugin == plugin]:
            entry = self._entries.pop(name)
            for key in (name, *entry.aliases):
                self._lookup.pop(key, None)

    def get(self, name: str) -> Entry:
        """Return the entry for ``name`` or an alias; raise listing the known names."""
        try:
            return self._entries[self._lookup[name]]
        except (KeyError, TypeError):
            noun = KIND_NOUN[self.kind]
            hint = missing_hint(noun, self.kind, name) if isinstance(name, str) else None
            raise UnknownPluginError(noun, str(name), self._entries, hint=hint) from None

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._lookup

    def __iter__(self) -> Iterator[Entry]:
        return iter(sorted(self._entries.values(), key=lambda e: e.name))

    def __len__(self) -> int:
        return len(self._entries)
