"""The ``kernelops`` command: dispatch to ``kernelops/cli/<command>.py``.

Each command module defines ``HELP: str`` (a one-line summary), ``add_arguments(parser)`` and
``run(args) -> int``. Only the module of the command being run is imported, so
``kernelops --help`` and ``kernelops plugins`` never pay for importing torch-heavy code; the
one-line summaries for the listing live in :data:`COMMANDS` here for the same reason.

Errors that are the user's to fix (:class:`~kernelops.errors.KernelopsError`, ``ValueError``,
``OSError`` such as a missing file) are printed as one line,
``kernelops <cmd>: error: <message>``, with exit status 2 (130 after Ctrl-C). Set
``KERNELOPS_DEBUG=1`` to see the traceback as well.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from collections.abc import Sequence
from types import ModuleType

from kernelops import __version__
from kernelops.errors import KernelopsError

PROG = "kernelops"
ENV_DEBUG = "KERNELOPS_DEBUG"

#: command -> one-line help, in the order ``--help`` lists them (kept in sync with each module's HELP)
COMMANDS: dict[str, str] = {
    "fit": "train a spectral mean flow on a dataset or a file and write a run folder",
    "sample": "generate windows from a trained run (.npy in original and [0, 1] scale)",
    "impute": "fill in missing (NaN) entries of windows with K draws from a trained run (and their median)",
    "forecast": "draw K continuations of given histories (HISTORY + horizon within the run's window length)",
    "evaluate": "score generated windows against real ones (FID, correlational, ...) and plot them",
    "plugins": "list installed plugins, their status and the names they provide",
    "datasets": "list registered datasets with their shape and source",
}


class CommandUnavailable(KernelopsError):
    """The module implementing a command is not installed (or not written yet)."""


def _debug() -> bool:
    return os.environ.get(ENV_DEBUG, "").strip().lower() in {"1", "true", "yes", "on"}


def load_command(name: str) -> ModuleType:
    """Import ``kernelops.cli.<name>``; a missing module becomes :class:`CommandUnavailable`."""
    module_name = f"kernelops.cli.{name}"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:  # the command exists but one of its imports is missing
            raise CommandUnavailable(f"the {name!r} command cannot start: {exc}") from exc
        raise CommandUnavailable(f"the {name!r} command is not available in this installation "
                                 f"(module {module_name} is missing)") from exc
    except ImportError as exc:
        raise CommandUnavailable(f"the {name!r} command cannot start: {exc}") from exc
    for attr in ("add_arguments", "run"):
        if not callable(getattr(module, attr, None)):
            raise CommandUnavailable(f"module {module_name} does not define {attr}()")
    return module


def build_parser(command: str | None = None, module: ModuleType | None = None) -> argparse.ArgumentParser:
    """The top-level parser; only ``command``'s sub-parser gets its full arguments from ``module``."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="kernelops: spectral mean flows and operator-theoretic tools for time series.",
        epilog=f"Run '{PROG} <command> --help' for a command's options. "
               f"{ENV_DEBUG}=1 shows tracebacks on errors.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="<command>", title="commands")
    for name, summary in COMMANDS.items():
        if name == command and module is not None:
            doc = getattr(module, "HELP", summary)
            cmd_parser = sub.add_parser(name, help=summary, description=doc, prog=f"{PROG} {name}")
            module.add_arguments(cmd_parser)
        else:
            sub.add_parser(name, help=summary)
    return parser


def _find_command(argv: Sequence[str]) -> str | None:
    """The first positional token, if it names a command (options before it are global ones)."""
    for token in argv:
        if token == "--":
            return None
        if not token.startswith("-"):
            return token if token in COMMANDS else None
    return None


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    if isinstance(exc, (FileNotFoundError, PermissionError, IsADirectoryError)) and exc.filename \
            and str(exc.filename) not in text:
        text = f"{text}: {exc.filename}"
    return text or type(exc).__name__


def _fail(command: str | None, message: str) -> None:
    where = f"{PROG} {command}" if command else PROG
    print(f"{where}: error: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``kernelops`` command line; returns the exit status.

    Args:
        argv: arguments without the program name (default: ``sys.argv[1:]``).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    command = _find_command(argv)
    try:
        module = load_command(command) if command else None
        parser = build_parser(command, module)
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # --help, --version, or a usage error argparse already printed
            return int(exc.code) if isinstance(exc.code, int) else (0 if exc.code is None else 2)
        if args.command is None:
            parser.print_help()
            return 2
        assert module is not None
        status = module.run(args)
        return 0 if status is None else int(status)
    except KeyboardInterrupt:
        if _debug():
            traceback.print_exc()
        _fail(command, "interrupted")
        return 130
    except (KernelopsError, ValueError, OSError, FloatingPointError) as exc:
        if _debug():
            traceback.print_exc()
        _fail(command, _one_line(exc))
        return 2


if __name__ == "__main__":
    sys.exit(main())
