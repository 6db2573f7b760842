"""Plugin architecture: hookspecs, the registry and the loader.

Plugin authors need only :data:`hookimpl` (also ``kernelops.hookimpl``) and, for their tests,
:mod:`kernelops.plugins.testing`.
"""

from kernelops.plugins.api import (
    dataset,
    feature_map,
    list_plugins,
    path,
    plugin_report,
    register,
    solver,
    unregister,
)
from kernelops.plugins.hookspecs import Register, hookimpl, hookspec
from kernelops.plugins.manager import PluginHost, PluginInfo, get_host, reset_host

__all__ = [
    "PluginHost", "PluginInfo", "Register", "dataset", "feature_map", "get_host", "hookimpl",
    "hookspec", "list_plugins", "path", "plugin_report", "register", "reset_host", "solver",
    "unregister",
]
