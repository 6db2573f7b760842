"""Progress output that suits where it goes: a tqdm bar on a terminal, plain lines in a log.

tqdm redraws its bar with carriage returns; written to a file or a pipe (``kernelops fit ... 2>
fit.log``, a batch scheduler's log) every redraw stays, about 30 bytes per step. When stderr is
not a terminal, :func:`progress_bar` returns :class:`PlainProgress` instead, which prints one
ordinary line every ``every`` steps (and at the end), with the latest figures set on it.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

#: plain lines per run when the caller does not say: one every total/PLAIN_LINES steps
PLAIN_LINES = 20


class PlainProgress:
    """The part of tqdm's interface the trainers use (update, set_postfix, close), as plain lines.

    Args:
        total: the step the run ends at.
        initial: the step it starts from (a resumed run).
        desc: the line's prefix.
        every: steps between lines (default total/PLAIN_LINES, at least 1).
        file: where to write (default sys.stderr at each write).
    """

    def __init__(self, total: int, initial: int = 0, desc: str = "", every: int | None = None,
                 file: TextIO | None = None):
        self.total, self.n, self.desc = int(total), int(initial), desc
        self.every = max(1, int(every) if every is not None else self.total // PLAIN_LINES)
        self.file = file
        self.postfix: dict[str, Any] = {}
        self._started, self._last_printed = time.time(), self.n

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.n // self.every > self._last_printed // self.every or self.n >= self.total:
            self._print()

    def set_postfix(self, refresh: bool = False, **values: Any) -> None:
        self.postfix.update(values)

    def _print(self) -> None:
        if self._last_printed == self.n:
            return
        self._last_printed = self.n
        elapsed = time.time() - self._started
        extra = "".join(f", {key} {value}" for key, value in self.postfix.items())
        print(f"{self.desc}: step {self.n}/{self.total}{extra} ({elapsed:.0f} s)", file=self.file or sys.stderr,
              flush=True)

    def close(self) -> None:
        if self.n != self._last_printed and self.n > 0:
            self._print()


def progress_bar(total: int, initial: int = 0, desc: str = "", **tqdm_kwargs: Any) -> Any:
    """A tqdm bar when stderr is a terminal, else a :class:`PlainProgress` (module docstring)."""
    isatty = getattr(sys.stderr, "isatty", None)
    if callable(isatty) and isatty():
        from tqdm.auto import tqdm

        return tqdm(total=total, initial=initial, desc=desc, **tqdm_kwargs)
    return PlainProgress(total, initial, desc)


__all__ = ["PLAIN_LINES", "PlainProgress", "progress_bar"]
