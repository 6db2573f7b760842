"""Plugin host: loads built-ins and third-party entry points, isolating every failure.

Loading policy (see docs/plugins.md):

* Plugins load on first use (``ko.list_plugins()``, ``ko.feature_map(...)``...), never at
  ``import kernelops``.
* Built-ins register through the same hooks as third-party plugins.
* Third-party plugins are the entry points of group ``kernelops``. Each one is imported,
  registered and has its hooks called inside its own ``try``: one that fails is recorded
  (name, distribution, version, reason), warned about once, and skipped; whatever it had
  registered is removed. ``KERNELOPS_STRICT_PLUGINS=1`` re-raises instead.
* ``KERNELOPS_LOAD_PLUGINS=a,b`` loads only the listed entry points (empty: none);
  ``KERNELOPS_DISABLE_PLUGINS=a,b`` skips the listed ones. A listed name that no installed
  plugin has is warned about (an error in strict mode), never silently ignored.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import os
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pluggy

from kernelops.errors import KernelopsError, KernelopsWarning, PluginLoadError, UnknownOptionError
from kernelops.plugins import hookspecs
from kernelops.plugins.registry import KIND_NOUN, KINDS, Entry, Registry, Source

ENTRY_POINT_GROUP = "kernelops"
ENV_LOAD = "KERNELOPS_LOAD_PLUGINS"
ENV_DISABLE = "KERNELOPS_DISABLE_PLUGINS"
ENV_STRICT = "KERNELOPS_STRICT_PLUGINS"

BUILTIN_PLUGINS = (
    "kernelops.plugins.builtin.features",
    "kernelops.plugins.builtin.paths",
    "kernelops.plugins.builtin.solvers",
    "kernelops.plugins.builtin.datasets",
)
_HOOK_FOR_KIND = {kind: f"register_{kind}" for kind in KINDS}


@dataclass
class PluginInfo:
    """What ``kernelops plugins`` reports about one plugin."""

    name: str
    dist: str | None
    version: str | None
    status: str  # "ok", "failed" or "disabled"
    reason: str = ""
    builtin: bool = False
    provides: dict[str, list[str]] = field(default_factory=dict)


def _env_list(var: str) -> list[str] | None:
    raw = os.environ.get(var)
    if raw is None:
        return None
    return [part.strip() for part in raw.split(",") if part.strip()]


def _strict() -> bool:
    return os.environ.get(ENV_STRICT, "").strip().lower() in {"1", "true", "yes", "on"}


class PluginHost:
    """Owns the pluggy manager, one :class:`Registry` per kind, and the load report."""

    def __init__(self, *, builtins: Sequence[str] = BUILTIN_PLUGINS, entry_points: bool = True):
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.registries = {kind: Registry(kind) for kind in KINDS}
        self.plugins: dict[str, PluginInfo] = {}
        self._builtins = tuple(builtins)
        self._entry_points = entry_points
        self._loaded = False
        self._lock = threading.RLock()

    # -- loading -------------------------------------------------------------------------
    def ensure_loaded(self) -> None:
        with self._lock:
            if self._loaded:
                return
            self._loaded = True
            for module_name in self._builtins:
                module = importlib.import_module(module_name)
                # built-ins are part of kernelops: a failure there is a bug, so it raises
                self.register(module, name=module_name, builtin=True, strict=True)
            if self._entry_points:
                self._load_entry_points()

    def _load_entry_points(self) -> None:
        allow = _env_list(ENV_LOAD)
        deny = set(_env_list(ENV_DISABLE) or ())
        eps = list(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))
        installed = sorted({ep.name for ep in eps})
        for var, listed in ((ENV_LOAD, allow or ()), (ENV_DISABLE, sorted(deny))):
            unknown = [n for n in listed if n not in installed]
            if unknown:  # a typo would otherwise disable (or fail to disable) plugins without a word
                message = (f"{var} names {', '.join(repr(n) for n in unknown)}, which no installed plugin is called; "
                           f"installed plugins: {', '.join(installed) if installed else '(none)'}")
                if _strict():
                    raise PluginLoadError(message)
                warnings.warn(f"kernelops: {message}", KernelopsWarning, stacklevel=4)
        for ep in eps:
            dist = ep.dist.metadata["Name"] if ep.dist is not None else None
            version = ep.dist.version if ep.dist is not None else None
            if (allow is not None and ep.name not in allow) or ep.name in deny:
                self.plugins[ep.name] = PluginInfo(ep.name, dist, version, "disabled",
                                                   reason=f"disabled by {ENV_LOAD}/{ENV_DISABLE}")
                continue
            try:
                obj = ep.load()
            except Exception as exc:
                self._fail(ep.name, dist, version, f"import failed: {type(exc).__name__}: {exc}", exc)
                continue
            self.register(obj, name=ep.name, dist=dist, version=version)

    def register(
        self,
        plugin: object,
        *,
        name: str | None = None,
        dist: str | None = None,
        version: str | None = None,
        builtin: bool = False,
        strict: bool | None = None,
    ) -> PluginInfo:
        """Register a plugin object (usually a module with ``@hookimpl`` functions) now.

        Research code can call this at runtime (``kernelops.plugins.register(my_module)``) to
        add feature maps, paths or solvers without packaging them. Its ``register_*`` hooks
        run immediately. Returns the plugin's :class:`PluginInfo`; a failing plugin is
        reported and skipped (or raises when ``strict`` / ``KERNELOPS_STRICT_PLUGINS``).
        """
        with self._lock:
            if not builtin:
                self.ensure_loaded()
            name = name or getattr(plugin, "__name__", None) or repr(plugin)
            source = Source(name, dist, version)
            if name in self.plugins and self.plugins[name].status == "ok":
                raise PluginLoadError(f"a plugin named {name!r} is already registered")
            try:
                self.pm.register(plugin, name=name)
            except Exception as exc:
                return self._fail(name, dist, version, f"invalid hooks: {exc}", exc, strict)
            try:
                # a hook name that kernelops does not define is almost always a typo
                unknown = [
                    hc.name
                    for hc in self.pm.get_hookcallers(plugin) or []
                    if not hc.has_spec()
                ]
                if unknown:
                    raise PluginLoadError(f"unknown hook(s) {unknown}; known hooks: {sorted(_HOOK_FOR_KIND.values())}")
                provides = self._call_hooks(plugin, source)
            except Exception as exc:
                for registry in self.registries.values():
                    registry.remove_source(name)
                self.pm.unregister(plugin)
                return self._fail(name, dist, version, f"{type(exc).__name__}: {exc}", exc, strict)
            info = PluginInfo(name, dist, version, "ok", builtin=builtin, provides=provides)
            self.plugins[name] = info
            return info

    def _call_hooks(self, plugin: object, source: Source) -> dict[str, list[str]]:
        provides: dict[str, list[str]] = {}
        for kind, hook_name in _HOOK_FOR_KIND.items():
            caller = getattr(self.pm.hook, hook_name)
            for impl in caller.get_hookimpls():
                if impl.plugin is not plugin:
                    continue
                names: list[str] = []

                def register(entry_name: str, factory: Callable[..., Any] | str, *,
                             aliases: Sequence[str] = (), description: str = "",
                             _kind: str = kind, _names: list[str] = names) -> None:
                    self.registries[_kind].add(entry_name, factory, source,
                                               aliases=aliases, description=description)
                    _names.append(entry_name)

                impl.function(register=register)
                if names:
                    provides[kind] = names
        return provides

    def _fail(self, name: str, dist: str | None, version: str | None, reason: str,
              exc: BaseException, strict: bool | None = None) -> PluginInfo:
        info = PluginInfo(name, dist, version, "failed", reason=reason)
        self.plugins[name] = info
        if strict if strict is not None else _strict():
            if isinstance(exc, KernelopsError):  # already says what is wrong (e.g. a duplicate name)
                raise exc
            raise PluginLoadError(f"plugin {name!r} ({dist or 'no distribution'} {version or ''}) failed: {reason}") from exc
        where = f" from {dist} {version}" if dist else ""
        warnings.warn(f"kernelops: skipped plugin {name!r}{where}: {reason}", KernelopsWarning, stacklevel=3)
        return info

    def unregister(self, name: str) -> None:
        """Remove a runtime-registered plugin and everything it provided."""
        with self._lock:
            plugin = self.pm.get_plugin(name)
            if plugin is not None:
                self.pm.unregister(plugin)
            for registry in self.registries.values():
                registry.remove_source(name)
            self.plugins.pop(name, None)

    # -- lookup --------------------------------------------------------------------------
    def entry(self, kind: str, name: str) -> Entry:
        self.ensure_loaded()
        return self.registries[kind].get(name)

    def create(self, kind: str, name: str, /, **kwargs: Any) -> Any:
        """Build the object registered as ``name`` of ``kind`` with keyword arguments.

        Raises:
            UnknownPluginError: no such name (the message lists the known ones).
            UnknownOptionError: a keyword the factory does not take (the message lists those it does).
        """
        entry = self.entry(kind, name)
        factory = entry.resolve()
        _check_options(factory, kwargs, f"{KIND_NOUN[kind]} {entry.name!r}")
        obj = factory(**kwargs)
        # remember how it was made, so that checkpoints can name the plugin
        try:
            obj._kernelops_plugin = (kind, name)
        except (AttributeError, TypeError):
            pass
        return obj

    def names(self, kind: str) -> list[str]:
        self.ensure_loaded()
        return self.registries[kind].names()

    def report(self) -> list[PluginInfo]:
        self.ensure_loaded()
        return sorted(self.plugins.values(), key=lambda p: (not p.builtin, p.name))

    def versions(self) -> dict[str, str | None]:
        """``{plugin name: version}`` of every loaded plugin (stored in checkpoints)."""
        self.ensure_loaded()
        from kernelops._version import __version__

        return {p.name: (p.version if not p.builtin else __version__)
                for p in self.plugins.values() if p.status == "ok"}


def _check_options(factory: Callable[..., Any], kwargs: dict[str, Any], what: str) -> None:
    """Name the keywords ``factory`` does not take, and those it does, before calling it."""
    try:
        params = list(inspect.signature(factory).parameters.values())
    except (TypeError, ValueError):  # no signature (a builtin): let the call decide
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return
    accepted = [p.name for p in params if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                                     inspect.Parameter.KEYWORD_ONLY)]
    unknown = [k for k in kwargs if k not in accepted]
    if unknown:
        listed = ", ".join(accepted) if accepted else "none"
        raise UnknownOptionError(f"{what} takes no option {', '.join(repr(k) for k in unknown)}; "
                                 f"its options: {listed}")


_HOST: PluginHost | None = None
_HOST_LOCK = threading.Lock()


def get_host() -> PluginHost:
    """The process-wide plugin host (created, not yet loaded, on first call)."""
    global _HOST
    with _HOST_LOCK:
        if _HOST is None:
            _HOST = PluginHost()
        return _HOST


def reset_host(host: PluginHost | None = None) -> PluginHost:
    """Replace the process-wide host (tests use this for isolation); returns the new one."""
    global _HOST
    with _HOST_LOCK:
        _HOST = host if host is not None else PluginHost()
        return _HOST
