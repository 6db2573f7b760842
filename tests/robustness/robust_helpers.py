"""Helpers of the bad-input catalogue: run the CLI in-process, check a clean failure.

Every case asserts the exit status, that no traceback (or raw ``warnings.warn`` source line)
reaches the terminal, and the key words of the one-line message. The command line runs
in-process (``kernelops.cli.main.main``) so a case costs milliseconds, not a torch import;
only real signals, ``kill -9`` and a real closed pipe use a subprocess.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

#: the smallest model and training that still exercises every code path
TINY = ["--depth", "1", "--width", "8", "--batch-size", "4", "--sample-steps", "2", "--no-progress"]


@dataclass
class Result:
    """What one command printed and returned."""

    rc: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> Result:
    """``kernelops ARGV`` in this process (debug off), with its exit status and output."""
    from kernelops.cli.main import main

    capsys.readouterr()  # drop anything printed before
    rc = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return Result(rc, captured.out, captured.err)


def assert_no_traceback(result: Result) -> None:
    for marker in ("Traceback (most recent call last)", "warnings.warn(", 'File "'):
        assert marker not in result.text, result.text


def assert_clean_failure(result: Result, rc: int, words: list[str], command: str | None = None) -> str:
    """Exit status ``rc``, no traceback, exactly one ``error:`` line holding every word; returns it."""
    assert result.rc == rc, (result.rc, result.text)
    assert_no_traceback(result)
    errors = [line for line in result.err.splitlines() if ": error: " in line or ": internal error: " in line]
    assert len(errors) == 1, result.err
    line = errors[0]
    if command is not None:
        assert line.startswith(f"kernelops {command}: "), line
    for word in words:
        assert word in line, (word, line)
    return line


def subprocess_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "KERNELOPS_LOAD_PLUGINS": "", **extra}
    env.pop("KERNELOPS_DEBUG", None)
    return env


def kernelops_command(*argv: str) -> list[str]:
    return [sys.executable, "-m", "kernelops.cli.main", *[str(a) for a in argv]]


def run_subprocess(*argv: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(kernelops_command(*argv), cwd=cwd, env=subprocess_env(), capture_output=True,
                          text=True, timeout=timeout)
