"""kernelops-matern: random Fourier features of the Matérn kernel, as a kernelops plugin.

This module is the plugin: kernelops finds it through the entry point declared in
pyproject.toml (``[project.entry-points.kernelops] matern = "kernelops_matern"``) and calls
its hooks. The factory is given as a lazy string so that discovering the plugin imports no
torch code; ``kernelops_matern.features`` is imported on first use of the name.
"""

from __future__ import annotations

import kernelops
from kernelops.plugins.hookspecs import Register

__version__ = "0.1.0"


@kernelops.hookimpl
def register_feature_maps(register: Register) -> None:
    register(
        "matern",
        "kernelops_matern.features:MaternFourierFeatures",
        description="random Fourier features of the Matern kernel (nu = 1/2, 3/2 or 5/2)",
    )
