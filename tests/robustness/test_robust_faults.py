"""Faults during a run: full disk, too little memory, divergence, signals, kill -9, a closed pipe,
broken plugins, and the command line's policy for errors nobody expected.

The full disk is real and needs no privileges: the atomic writer's temporary file is swapped for
/dev/full, whose every write fails with ENOSPC from the kernel, so numpy's, torch's and plain
writes all meet the error where a full disk would raise it.
"""

from __future__ import annotations

import csv
import errno
import json
import os
import re
import signal
import subprocess
import time
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from robust_helpers import (
    TINY,
    assert_clean_failure,
    assert_no_traceback,
    kernelops_command,
    run_cli,
    subprocess_env,
)

DEV_FULL = Path("/dev/full")
needs_dev_full = pytest.mark.skipif(not DEV_FULL.exists(), reason="no /dev/full to simulate a full disk on")


def _fill_disk_for(monkeypatch: pytest.MonkeyPatch, target_name: str, after: int = 0) -> None:
    """From the (after+1)-th atomic write of ``target_name`` on, its bytes go to /dev/full (ENOSPC)."""
    import kernelops.utils.atomic as atomic

    real_fdopen = os.fdopen
    seen = {"n": 0}

    def fdopen(fd: int, mode: str = "r", *args, **kwargs):
        if f".{target_name}." in os.readlink(f"/proc/self/fd/{fd}"):
            seen["n"] += 1
            if seen["n"] > after:
                os.close(fd)
                return real_fdopen(os.open(DEV_FULL, os.O_WRONLY), mode, *args, **kwargs)
        return real_fdopen(fd, mode, *args, **kwargs)

    monkeypatch.setattr(atomic.os, "fdopen", fdopen)


def _loss_steps(path: Path) -> list[int]:
    return [int(row[0]) for row in list(csv.reader(path.open()))[1:]]


def _checkpoint_step(path: Path) -> int:
    from kernelops.flows import SpectralMeanFlow

    return SpectralMeanFlow.load(path).step


# -- disk full --------------------------------------------------------------------------------
@needs_dev_full
def test_disk_full_during_a_checkpoint_keeps_the_previous_one_and_a_consistent_config(series_file, tmp_path,
                                                                                     monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _fill_disk_for(monkeypatch, "checkpoint.pt", after=1)  # the checkpoint at step 3 is written, step 6 is not
    result = run_cli(capsys, "fit", "--data", series_file, "--window", "8", "--steps", "9", "--checkpoint-every", "3",
                     "--out", "run", *TINY)
    assert_clean_failure(result, 2, ["no space left on device writing run/checkpoint.pt"], command="fit")
    run = tmp_path / "run"
    assert sorted(p.name for p in run.iterdir()) == ["checkpoint.pt", "config.json", "loss.csv"]  # no temp file left
    assert _checkpoint_step(run / "checkpoint.pt") == 3
    assert json.loads((run / "config.json").read_text())["step"] == 3  # describes the checkpoint on disk
    # once there is space again the run continues from step 3 and the loss log has every step once
    monkeypatch.undo()
    monkeypatch.chdir(tmp_path)
    result = run_cli(capsys, "fit", "--resume", "run", "--no-progress")
    assert result.rc == 0, result.err
    assert _loss_steps(run / "loss.csv") == list(range(1, 10))


@needs_dev_full
def test_disk_full_while_writing_samples_names_the_file(tiny_run, tmp_path, monkeypatch, capsys):
    _fill_disk_for(monkeypatch, "X_scaled.npy")
    result = run_cli(capsys, "sample", tiny_run, "--num", "4", "--out", tmp_path / "X.npy")
    assert_clean_failure(result, 2, ["no space left on device writing", "X_scaled.npy"], command="sample")
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith((".X", "X"))) == ["X.npy"]


@pytest.mark.parametrize("exc, words", [
    (OSError(errno.ENOSPC, "No space left on device"), "no space left on device"),
    (OSError(errno.EFBIG, "File too large"), "file size limit exceeded"),
    (OSError("4096 requested and 1024 written"), "no space left on device"),  # numpy's tofile
    (None, "no space left on device"),  # torch: RuntimeError whose context is the OSError
    (OSError(errno.EACCES, "Permission denied"), None),
    (RuntimeError("unrelated"), None),
])
def test_out_of_space_recognises_every_layer(exc, words):
    from kernelops.utils.atomic import out_of_space

    if exc is None:
        try:
            try:
                raise OSError(errno.ENOSPC, "No space left on device")
            except OSError:
                raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598")  # noqa: B904
        except RuntimeError as wrapped:
            exc = wrapped
    assert out_of_space(exc) == words


# -- memory -----------------------------------------------------------------------------------
def test_a_windows_array_too_large_is_refused_before_allocating(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KERNELOPS_MEMORY_LIMIT", "64M")  # the same check as on a real machine, at a testable size
    monkeypatch.chdir(tmp_path)
    np.save(tmp_path / "long.npy", np.arange(20000.0)[:, None])
    result = run_cli(capsys, "fit", "--data", "long.npy", "--window", "5000", "--out", "run", *TINY)
    line = assert_clean_failure(result, 2, ["15001 windows x 5000 steps x 1 features", "286 MiB", "64 MiB",
                                            "--stride (at least"], command="fit")
    assert not (tmp_path / "run").exists()
    # the suggested stride is the smallest that fits
    from kernelops.data.windows import sliding_windows
    from kernelops.errors import AllocationError

    stride = int(re.search(r"--stride \(at least (\d+)\)", line).group(1))
    series = np.zeros((20000, 1), dtype=np.float32)
    assert sliding_windows(series, 5000, stride).shape[1:] == (5000, 1)
    with pytest.raises(AllocationError):
        sliding_windows(series, 5000, stride - 1)


@pytest.mark.parametrize("argv, words", [
    (["fit", "--dataset", "sines", "--window", "100000"], ["sines: 10000 sequences x 100000 steps", "--window"]),
    (["sample", "{run}", "--num", "10000000"], ["--num 10000000 windows", "smaller --num (at most"]),
])
def test_other_allocations_too_large_are_refused(argv, words, tiny_run, monkeypatch, capsys):
    monkeypatch.setenv("KERNELOPS_MEMORY_LIMIT", "64M")
    result = run_cli(capsys, *[a.format(run=tiny_run) for a in argv])
    assert_clean_failure(result, 2, ["would take", *words], command=argv[0])


# -- divergence ---------------------------------------------------------------------------------
def test_divergence_stops_with_one_line_and_keeps_the_last_good_checkpoint(series_file, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    result = run_cli(capsys, "fit", "--data", series_file, "--window", "8", "--steps", "30", "--lr", "1000",
                     "--potential", "chain",  # the chain's product of steps overflows within a few steps
                     "--checkpoint-every", "1", "--out", "run", *TINY)
    line = assert_clean_failure(result, 2, ["lower --lr", "the last checkpoint is kept", "run/checkpoint.pt holds step"],
                                command="fit")
    # with lr 1000 the loss stays finite a step longer than its gradient: both are checked
    failed_at = int(re.search(r"the (?:loss|gradient norm) became (?:nan|inf|-inf) at step (\d+)", line).group(1))
    state = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert state["trainer"]["step"] == failed_at - 1
    assert json.loads((tmp_path / "run" / "config.json").read_text())["step"] == failed_at - 1
    assert all(torch.isfinite(t).all() for t in state["field"].values() if t.is_floating_point())


# -- signals and kill -9 ----------------------------------------------------------------------------
def _start_fit(tmp_path: Path, series_file: Path, out: str) -> subprocess.Popen:
    argv = ["fit", "--data", series_file, "--window", "8", "--steps", "100000", "--checkpoint-every", "5",
            "--out", out, *TINY]
    return subprocess.Popen(kernelops_command(*argv), cwd=tmp_path, env=subprocess_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _wait_for_checkpoint(proc: subprocess.Popen, run: Path, at_least: int) -> None:
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        try:
            if json.loads((run / "config.json").read_text())["step"] >= at_least:
                return
        except (FileNotFoundError, json.JSONDecodeError, KeyError):
            pass
        time.sleep(0.02)
    proc.kill()
    raise AssertionError(f"no checkpoint at step >= {at_least}: {proc.communicate()[1][-2000:]}")


def test_kill_9_loses_only_the_steps_since_the_checkpoint(series_file, tmp_path, capsys):
    proc = _start_fit(tmp_path, series_file, "run")
    run = tmp_path / "run"
    _wait_for_checkpoint(proc, run, 10)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    recorded = json.loads((run / "config.json").read_text())["step"]
    saved = _checkpoint_step(run / "checkpoint.pt")
    # config.json follows the checkpoint; a kill between the two writes leaves it one checkpoint behind
    assert recorded >= 10 and recorded % 5 == 0 and saved in (recorded, recorded + 5), (recorded, saved)
    before = list(csv.reader((run / "loss.csv").open()))[1:]
    result = run_cli(capsys, "fit", "--resume", run, "--steps", saved + 3, "--no-progress")
    assert result.rc == 0, result.err
    after = list(csv.reader((run / "loss.csv").open()))[1:]
    assert [int(r[0]) for r in after] == list(range(1, saved + 4))  # rows past the checkpoint were dropped
    assert after[:saved] == before[:saved]  # nothing before the checkpoint was lost


@pytest.mark.skipif(not hasattr(signal, "SIGUSR1"), reason="no SIGUSR1 on this platform")
def test_sigusr1_checkpoints_and_prints_the_resume_command(series_file, tmp_path):
    proc = _start_fit(tmp_path, series_file, "run")
    run = tmp_path / "run"
    _wait_for_checkpoint(proc, run, 5)
    proc.send_signal(signal.SIGUSR1)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("kernelops fit:")]
    assert len(lines) == 1 and "stopped by SIGUSR1" in lines[0] and "kernelops fit --resume run" in lines[0], err
    stopped = int(re.search(r"at step (\d+)", lines[0]).group(1))
    assert json.loads((run / "config.json").read_text())["step"] == stopped == _checkpoint_step(run / "checkpoint.pt")


# -- output pipe ---------------------------------------------------------------------------------
def test_a_closed_output_pipe_exits_quietly(tmp_path):
    proc = subprocess.Popen(kernelops_command("plugins", "--json", "--all"), cwd=tmp_path, env=subprocess_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # like `| head -c 0`: the reader is gone before the first write
    err = proc.stderr.read().decode()
    proc.wait(timeout=120)
    assert proc.returncode == 141, err
    assert err == ""


# -- warnings -----------------------------------------------------------------------------------
# -- plugins --------------------------------------------------------------------------------------
def test_unknown_name_in_kernelops_load_plugins_is_named(monkeypatch, capsys):
    monkeypatch.setenv("KERNELOPS_LOAD_PLUGINS", "typo")
    result = run_cli(capsys, "plugins")
    assert result.rc == 0
    assert_no_traceback(result)
    warned = [line for line in result.err.splitlines() if "warning" in line]
    assert len(warned) == 1 and warned[0].startswith("kernelops plugins: warning: KERNELOPS_LOAD_PLUGINS names 'typo', "
                                                     "which no installed plugin is called; installed plugins:")
    monkeypatch.setenv("KERNELOPS_STRICT_PLUGINS", "1")
    from kernelops.plugins.manager import reset_host

    reset_host()
    assert_clean_failure(run_cli(capsys, "plugins"), 2, ["'typo'", "installed plugins"], command="plugins")


def test_broken_plugins_are_reported_and_their_names_fail_cleanly(tmp_path, monkeypatch, capsys):
    import kernelops as ko
    from kernelops.errors import KernelopsWarning

    class RaisesInHook:
        @ko.hookimpl
        def register_paths(self, register):
            raise RuntimeError("boom in register_paths")

    class LazyTargetMissing:
        @ko.hookimpl
        def register_paths(self, register):
            register("lazy_broken", "no_such_module_xyz:Path", description="import fails on first use")

    with pytest.warns(KernelopsWarning, match="boom"):
        ko.register(RaisesInHook(), name="raises_in_hook")
    ko.register(LazyTargetMissing(), name="lazy_target")
    result = run_cli(capsys, "plugins")
    assert result.rc == 0 and "reason: RuntimeError: boom in register_paths" in result.out
    monkeypatch.chdir(tmp_path)
    result = run_cli(capsys, "fit", "--path", "lazy_broken", "--steps", "1", *TINY)
    assert_clean_failure(result, 2, ["path 'lazy_broken'", "cannot import 'no_such_module_xyz:Path'"], command="fit")


# -- the policy for unexpected errors ------------------------------------------------------------------
def _command_raising(monkeypatch: pytest.MonkeyPatch, exc: BaseException) -> None:
    from kernelops.cli import main as cli

    def run(args):
        raise exc

    module = types.ModuleType("kernelops.cli.fake")
    module.HELP, module.add_arguments, module.run = "fake", (lambda parser: None), run
    monkeypatch.setattr(cli, "load_command", lambda name: module)
    monkeypatch.delenv("KERNELOPS_DEBUG", raising=False)


@pytest.mark.parametrize("exc, rc, words", [
    (ZeroDivisionError("division by zero"), 1, ["internal error: ZeroDivisionError: division by zero", "--debug"]),
    (KeyError("missing"), 1, ["internal error: KeyError: 'missing'", "--debug"]),
    (MemoryError(), 2, ["out of memory", "--batch-size"]),
    (torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"), 2, ["out of memory", "--batch-size"]),
])
def test_unexpected_errors_are_one_line_with_a_debug_hint(exc, rc, words, monkeypatch, capsys):
    _command_raising(monkeypatch, exc)
    assert_clean_failure(run_cli(capsys, "plugins"), rc, words, command="plugins")


def test_debug_flag_anywhere_shows_the_traceback(monkeypatch, capsys):
    _command_raising(monkeypatch, ZeroDivisionError("division by zero"))
    for argv in (["--debug", "plugins"], ["plugins", "--debug"]):
        result = run_cli(capsys, *argv)
        assert result.rc == 1 and "Traceback (most recent call last)" in result.err
        assert result.err.strip().endswith("internal error: ZeroDivisionError: division by zero")


def test_ctrl_c_outside_training_exits_130_in_one_line(monkeypatch, capsys):
    _command_raising(monkeypatch, KeyboardInterrupt())
    assert_clean_failure(run_cli(capsys, "plugins"), 130, ["interrupted"], command="plugins")


def test_debug_flag_is_accepted_by_a_real_command(capsys):
    result = run_cli(capsys, "plugins", "--json", "--debug")
    assert result.rc == 0 and json.loads(result.out)["plugins"]
    assert "--debug" in run_cli(capsys, "--help").out


def test_memory_limit_setting_is_parsed_or_refused(series_file, monkeypatch, capsys):
    from kernelops.utils.memory import available_bytes, format_bytes

    monkeypatch.setenv("KERNELOPS_MEMORY_LIMIT", "1.5G")
    assert available_bytes() == int(1.5 * 2**30)
    monkeypatch.setenv("KERNELOPS_MEMORY_LIMIT", "512MiB")
    assert available_bytes() == 512 * 2**20
    assert (format_bytes(1536), format_bytes(3.2e11), format_bytes(12)) == ("1.5 KiB", "298 GiB", "12 B")
    monkeypatch.setenv("KERNELOPS_MEMORY_LIMIT", "lots")
    result = run_cli(capsys, "fit", "--data", series_file, "--window", "8", "--steps", "1", *TINY)
    assert_clean_failure(result, 2, ["KERNELOPS_MEMORY_LIMIT", "8G", "'lots'"], command="fit")
