"""Hook specifications: what a kernelops plugin may implement.

Every hook is callback style: kernelops passes a ``register`` callable and the plugin calls it
once per object it provides, so kernelops validates names, records who provided what and
detects collisions. A plugin module looks like::

    import kernelops

    @kernelops.hookimpl
    def register_feature_maps(register):
        register("matern", "kernelops_matern.features:MaternFeatures",
                 description="random features of the Matern-5/2 kernel")

The factory may be a callable or a lazy ``"package.module:Object"`` string, imported only
when the name is first used, so discovering plugins never imports heavy code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import pluggy

PROJECT = "kernelops"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class Register(Protocol):
    """The ``register`` callable handed to every ``register_*`` hook."""

    def __call__(
        self,
        name: str,
        factory: Callable[..., Any] | str,
        *,
        aliases: Sequence[str] = (),
        description: str = "",
    ) -> None: ...


@hookspec
def register_feature_maps(register: Register) -> None:
    """Register feature maps (subclasses of :class:`kernelops.features.FeatureMap`)."""


@hookspec
def register_paths(register: Register) -> None:
    """Register probability paths (objects following :class:`kernelops.paths.ProbPath`)."""


@hookspec
def register_solvers(register: Register) -> None:
    """Register ODE solvers (objects following :class:`kernelops.solvers.Solver`)."""


@hookspec
def register_datasets(register: Register) -> None:
    """Register datasets (factories returning :class:`kernelops.data.Dataset`)."""
