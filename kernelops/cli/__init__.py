"""The ``kernelops`` command line (see :mod:`kernelops.cli.main`).

Commands live in ``kernelops/cli/<command>.py``, each with ``HELP``, ``add_arguments(parser)``
and ``run(args) -> int``. Nothing is imported here, so that ``python -m kernelops.cli.main``
does not import the module twice.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "main":
        from kernelops.cli.main import main

        return main
    raise AttributeError(f"module 'kernelops.cli' has no attribute {name!r}")
