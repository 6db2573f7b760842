"""The public plugin functions re-exported at the top level as ``ko.feature_map`` etc."""

from __future__ import annotations

from typing import Any

from kernelops.plugins.manager import PluginInfo, get_host

_DEFAULT_KINDS = ("feature_maps", "paths", "solvers")


def list_plugins(*kinds: str) -> dict[str, list[str]]:
    """Registered names by kind.

    With no argument returns ``{"feature_maps": [...], "paths": [...], "solvers": [...]}``;
    pass kinds (e.g. ``"datasets"``) to choose which.
    """
    host = get_host()
    return {kind: host.names(kind) for kind in (kinds or _DEFAULT_KINDS)}


def feature_map(name: str, /, **kwargs: Any) -> Any:
    """Build the feature map registered as ``name`` (e.g. ``"rff"``, ``"linear"``)."""
    return get_host().create("feature_maps", name, **kwargs)


def path(name: str, /, **kwargs: Any) -> Any:
    """Build the probability path registered as ``name`` (``"ot"``, ``"vp"``, ``"ve"``...)."""
    return get_host().create("paths", name, **kwargs)


def solver(name: str, /, **kwargs: Any) -> Any:
    """Build the ODE solver registered as ``name`` (``"euler"``, ``"rk4"``, ``"dopri5"``...)."""
    return get_host().create("solvers", name, **kwargs)


def dataset(name: str, /, **kwargs: Any) -> Any:
    """Build the dataset registered as ``name`` (``"sines"``, ``"stocks"``...)."""
    return get_host().create("datasets", name, **kwargs)


def register(plugin: object, *, name: str | None = None) -> PluginInfo:
    """Register a plugin object (a module or class with ``@kernelops.hookimpl`` hooks) at runtime."""
    return get_host().register(plugin, name=name)


def unregister(name: str) -> None:
    """Remove a plugin registered at runtime, with all names it provided."""
    get_host().unregister(name)


def plugin_report() -> list[PluginInfo]:
    """Every plugin seen: built-in or not, its distribution, version, status and reason."""
    return get_host().report()
