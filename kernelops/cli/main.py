"""The ``kernelops`` command: dispatch to ``kernelops/cli/<command>.py``.

Each command module defines ``HELP: str`` (a one-line summary), ``add_arguments(parser)`` and
``run(args) -> int``. Only the module of the command being run is imported, so
``kernelops --help`` and ``kernelops plugins`` never pay for importing torch-heavy code; the
one-line summaries for the listing live in :data:`COMMANDS` here for the same reason.

Failure policy (docs/failure_modes.md lists every case):

* errors that are the user's to fix (:class:`~kernelops.errors.KernelopsError`, ``ValueError``,
  ``OSError`` such as a missing file or a full disk, ``MemoryError``) print one line,
  ``kernelops <cmd>: error: <message>``, and exit with status 2;
* anything else is a bug: one line ``kernelops <cmd>: internal error: <Type>: <message>`` with
  a hint to rerun with ``--debug``, exit status 1;
* Ctrl-C exits with 130 and one line (``kernelops fit`` says where its checkpoint stands);
* a closed output pipe (``kernelops plugins --json | head``) exits quietly with 141, like a
  program killed by SIGPIPE;
* warnings print as one line, ``kernelops <cmd>: warning: <message>``.

``--debug`` (anywhere on the command line) or ``KERNELOPS_DEBUG=1`` also prints the traceback
of an error and shows warnings with their source location.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import signal
import sys
import threading
import traceback
import warnings
from collections.abc import Callable, Iterator, Sequence
from types import ModuleType
from typing import TextIO

from kernelops import __version__
from kernelops.errors import KernelopsError

PROG = "kernelops"
ENV_DEBUG = "KERNELOPS_DEBUG"
DEBUG_FLAG = "--debug"
#: exit statuses
EXIT_USER_ERROR, EXIT_INTERNAL_ERROR, EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 2, 1, 130, 141
_DEBUG_HELP = f"print the traceback of an error (also {ENV_DEBUG}=1)"

#: command -> one-line help, in the order ``--help`` lists them (kept in sync with each module's HELP)
COMMANDS: dict[str, str] = {
    "fit": "train a spectral mean flow on a dataset or a file and write a run folder",
    "sample": "generate windows from a trained run (.npy in original and [0, 1] scale)",
    "impute": "fill in missing (NaN) entries of windows with K draws from a trained run (and their median)",
    "forecast": "draw K continuations of given histories (HISTORY + horizon within the run's window length)",
    "loglik": "log-likelihood of windows under a trained run (nats per window, original scale; and bits per value)",
    "evaluate": "score generated windows against real ones (FID, correlational, ...) and plot them",
    "plugins": "list installed plugins, their status and the names they provide",
    "datasets": "list registered datasets with their shape and source",
}


class CommandUnavailable(KernelopsError):
    """The module implementing a command is not installed (or not written yet)."""


def _debug(argv: Sequence[str] = ()) -> bool:
    """``--debug`` before any ``--`` in ``argv``, or ``KERNELOPS_DEBUG`` set to a true value."""
    options = list(argv)[: list(argv).index("--")] if "--" in argv else list(argv)
    return DEBUG_FLAG in options or os.environ.get(ENV_DEBUG, "").strip().lower() in {"1", "true", "yes", "on"}


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
               f"What happens on each failure and how to recover: docs/failure_modes.md.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.add_argument(DEBUG_FLAG, action="store_true", help=_DEBUG_HELP)
    sub = parser.add_subparsers(dest="command", metavar="<command>", title="commands")
    for name, summary in COMMANDS.items():
        if name == command and module is not None:
            doc = getattr(module, "HELP", summary)
            cmd_parser = sub.add_parser(name, help=summary, description=doc, prog=f"{PROG} {name}")
            module.add_arguments(cmd_parser)
            # accepted after the command too; SUPPRESS keeps the sub-parser from resetting the global one
            cmd_parser.add_argument(DEBUG_FLAG, action="store_true", default=argparse.SUPPRESS, help=_DEBUG_HELP)
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


def _fail(command: str | None, message: str, kind: str = "error") -> None:
    where = f"{PROG} {command}" if command else PROG
    print(f"{where}: {kind}: {message}", file=sys.stderr)


def _show_warning_one_line(command: str | None) -> Callable[..., None]:
    """A ``warnings.showwarning`` that prints ``kernelops <cmd>: warning: <message>`` (no source line)."""
    def show(message: Warning | str, category: type[Warning], filename: str, lineno: int,
             file: TextIO | None = None, line: str | None = None) -> None:
        text = " ".join(str(message).split())
        _fail(command, text.removeprefix(f"{PROG}: "), kind="warning")

    return show


def _silence_stdout() -> None:
    """After EPIPE: point stdout at /dev/null so the interpreter's final flush cannot fail again
    (the recipe of the Python documentation, "Note on SIGPIPE")."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, ValueError, OSError):  # replaced by a non-file (tests), nothing to flush
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


def _memory_message(exc: BaseException) -> str:
    text = _one_line(exc) if str(exc) else ""
    return (f"out of memory{f' ({text})' if text else ''}; use a smaller --batch-size, --window or --num, "
            "or a larger --stride")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``kernelops`` command line; returns the exit status.

    Args:
        argv: arguments without the program name (default: ``sys.argv[1:]``).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    command = _find_command(argv)
    debug = _debug(argv)
    with warnings.catch_warnings():
        if not debug:
            warnings.showwarning = _show_warning_one_line(command)
        try:
            with _sigterm_interrupts():
                return _dispatch(argv, command)
        except BrokenPipeError:  # the reader went away (`| head`): nobody is left to tell
            _silence_stdout()
            return EXIT_BROKEN_PIPE
        except KeyboardInterrupt as exc:
            if debug:
                traceback.print_exc()
            if not getattr(exc, "kernelops_reported", False):  # `fit` already said where its checkpoint is
                how = getattr(exc, "signal_name", None)
                _fail(command, f"stopped by {how}" if how else "interrupted")
            return EXIT_INTERRUPTED
        except (KernelopsError, ValueError, OSError, FloatingPointError) as exc:
            if debug:
                traceback.print_exc()
            _fail(command, _one_line(exc))
            return EXIT_USER_ERROR
        except MemoryError as exc:
            if debug:
                traceback.print_exc()
            _fail(command, _memory_message(exc))
            return EXIT_USER_ERROR
        except Exception as exc:
            if debug:
                traceback.print_exc()
            if type(exc).__name__ == "OutOfMemoryError":  # torch.cuda.OutOfMemoryError (a RuntimeError)
                _fail(command, _memory_message(exc))
                return EXIT_USER_ERROR
            _fail(command, f"{type(exc).__name__}: {_one_line(exc)}"
                  + ("" if debug else f" (a bug in kernelops or a plugin; rerun with {DEBUG_FLAG} for the traceback)"),
                  kind="internal error")
            return EXIT_INTERNAL_ERROR


class _Terminated(KeyboardInterrupt):
    """SIGTERM turned into an interrupt, so every command stops as on Ctrl-C (exit 130, one line)."""

    signal_name = "SIGTERM"


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """While a command runs, SIGTERM raises :class:`_Terminated` (``kernelops fit`` installs its own
    handler while it trains, which writes a checkpoint first)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGTERM"):
        yield
        return

    def handler(signum: int, frame: object) -> None:
        raise _Terminated()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _dispatch(argv: list[str], command: str | None) -> int:
    """Parse ``argv`` and run the command; exceptions are :func:`main`'s to report."""
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


if __name__ == "__main__":
    sys.exit(main())
