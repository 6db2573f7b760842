"""kernelops: operator-theoretic probabilistic sequence modelling on PyTorch.

Distributions are mean embeddings in Hilbert spaces, conditionals are linear (CME) operators,
sequence embeddings are spectral chains (tensor trains), and generation is a time-dependent MMD
gradient flow trained by flow matching. Feature maps, probability paths, ODE solvers and
datasets are plugins::

    import kernelops as ko
    ko.list_plugins()          # {"feature_maps": [...], "paths": [...], "solvers": [...]}
    phi = ko.feature_map("rff", in_dim=3, out_dim=512, bandwidth=1.0)
    vp = ko.path("vp")
    rk4 = ko.solver("rk4")

Importing kernelops loads no plugin; they load on first use.
"""

from __future__ import annotations

from typing import Any

from kernelops._version import __version__  # noqa: E402
from kernelops.plugins.api import (  # noqa: E402
    dataset,
    feature_map,
    list_plugins,
    path,
    plugin_report,
    register,
    solver,
    unregister,
)
from kernelops.plugins.hookspecs import hookimpl  # noqa: E402

__all__ = [
    "__version__", "dataset", "feature_map", "hookimpl", "list_plugins", "path",
    "plugin_report", "register", "solver", "unregister",
]

_SUBPACKAGES = frozenset(
    {"chains", "data", "embeddings", "features", "flows", "metrics", "operators", "paths",
     "plugins", "solvers", "viz"}
)


def __getattr__(name: str) -> Any:
    """Import subpackages on first attribute access, so ``ko.flows.SpectralMeanFlow`` works
    after a bare ``import kernelops`` without importing everything up front."""
    if name in _SUBPACKAGES:
        import importlib

        return importlib.import_module(f"kernelops.{name}")
    raise AttributeError(f"module 'kernelops' has no attribute {name!r}")
