"""The catalogue's cases of shared run folders, changed data on resume, and the newer commands' edges.

Each case ends in one ``kernelops <cmd>:`` line naming the file, option or value and what was
expected (checked with :func:`assert_clean_failure`), or in the right result. Two-process cases
(the run-folder lock, SIGTERM) use real subprocesses; the rest run in-process.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from robust_helpers import (
    TINY,
    assert_clean_failure,
    assert_no_traceback,
    kernelops_command,
    run_cli,
    subprocess_env,
)

FIT = ["fit", "--window", "8", *TINY]


def _fit(capsys: pytest.CaptureFixture[str], data: Path, out: Path | str, *extra: str, steps: int = 3):
    return run_cli(capsys, *FIT, "--data", data, "--steps", steps, "--out", out, *extra)


# -- --resume on changed data ------------------------------------------------------------------------
@pytest.mark.parametrize("change, words", [
    (lambda x: x * 10 + 5, ["their range changed", "min [0.", "now min [5"]),
    (lambda x: x[::-1].copy(), ["their values changed"]),
    (lambda x: x[:-3], ["their shape changed from (40, 2) to (37, 2)"]),
])
def test_resume_on_changed_data_is_refused_in_one_line(change, words, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "series.npy"
    series = np.random.default_rng(0).random((40, 2))
    np.save(data, series)
    assert _fit(capsys, data, "run").rc == 0
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    # the scale samples come back in is stated, and is the data's own
    assert config["scaler"]["min"] == pytest.approx(series.min(0).tolist())
    assert config["data_fingerprint"]["values"].startswith("sha256:")
    np.save(data, change(series))
    line = assert_clean_failure(run_cli(capsys, "fit", "--resume", "run", "--steps", "5", "--no-progress"), 2,
                                ["--resume", "run", str(data), "differ from those it was trained on", *words,
                                 "kernelops fit --out NEW"], command="fit")
    assert "lower --lr" not in line
    np.save(data, series)  # restored: the run resumes
    assert run_cli(capsys, "fit", "--resume", "run", "--steps", "5", "--no-progress").rc == 0


def test_resume_refuses_window_options_and_a_lower_step_target(tiny_run, capsys):
    assert_clean_failure(run_cli(capsys, "fit", "--resume", tiny_run, "--window", "4"), 2,
                         ["--window", "cannot change", "--out"], command="fit")
    assert_clean_failure(run_cli(capsys, "fit", "--resume", tiny_run, "--steps", "2", "--no-progress"), 2,
                         ["--steps 2", "already at step 3"], command="fit")
    assert json.loads((tiny_run / "config.json").read_text())["train"]["steps"] == 3  # the target is kept


def test_python_fit_with_a_lowered_target_raises_and_zero_steps_only_prepares():
    from kernelops.flows import SpectralMeanFlow

    windows = np.random.default_rng(0).random((16, 6, 2)).astype(np.float32)
    model = SpectralMeanFlow(seed=0, depth=1, width=8).fit(windows, steps=0, progress=False)
    assert model.step == 0 and model.prepared  # prepared (skip and σ_d fitted), not trained
    model.fit(windows, steps=3, batch_size=4, progress=False)
    with pytest.raises(ValueError, match="at least 3 .*model is at step 3.* got 2"):
        model.fit(windows, steps=2, progress=False)
    assert model.train_config.steps == 3


# -- the run-folder lock -----------------------------------------------------------------------------
def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if path.exists():
            return
        time.sleep(0.02)
    proc.kill()
    raise AssertionError(f"{path} never appeared: {proc.communicate()[1][-2000:]}")


def test_a_second_fit_into_a_folder_in_use_is_refused_and_a_stale_lock_is_cleared(series_file, tmp_path, capsys):
    argv = [*FIT, "--data", series_file, "--steps", "100000", "--checkpoint-every", "5", "--out", "run"]
    first = subprocess.Popen(kernelops_command(*argv), cwd=tmp_path, env=subprocess_env(), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    run = tmp_path / "run"
    try:
        _wait_for(run / "checkpoint.pt", first)
        owner = json.loads((run / ".lock").read_text())
        assert owner["pid"] == first.pid and owner["host"] == socket.gethostname()
        # a second process into the same folder: refused, naming the owner; the first is undisturbed
        second = subprocess.run(kernelops_command(*FIT, "--data", series_file, "--steps", "3", "--out", "run",
                                                  "--seed", "1"),
                                cwd=tmp_path, env=subprocess_env(), capture_output=True, text=True, timeout=120)
        assert second.returncode == 2, second.stderr
        assert "Traceback" not in second.stderr
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("kernelops fit: error: run is in use by ")
        assert f"pid {first.pid} on host {socket.gethostname()}" in lines[0]
        assert_clean_failure(run_cli(capsys, "fit", "--resume", run, "--no-progress"), 2,
                             ["in use by", f"pid {first.pid}"], command="fit")
        assert first.poll() is None
    finally:
        first.send_signal(signal.SIGKILL)  # leaves its lock behind: stale
        first.communicate(timeout=60)
    assert json.loads((run / ".lock").read_text())["pid"] == first.pid
    # the checkpoint's step, not config.json's: config.json is rewritten just after each checkpoint,
    # so a SIGKILL between the two writes leaves it one checkpoint behind
    from kernelops.flows import SpectralMeanFlow

    step = SpectralMeanFlow.load(run / "checkpoint.pt").step
    result = run_cli(capsys, "fit", "--resume", run, "--steps", step + 2, "--no-progress")
    assert result.rc == 0, result.err
    assert f"cleared a stale lock in {run} (pid {first.pid}" in result.err
    assert not (run / ".lock").exists()  # released at the end


def test_a_lock_from_another_host_is_respected_and_says_how_to_remove_it(tiny_run, capsys):
    (tiny_run / ".lock").write_text(json.dumps({"pid": 1, "host": "elsewhere", "since": "then"}))
    assert_clean_failure(run_cli(capsys, "fit", "--resume", tiny_run, "--no-progress"), 2,
                         ["pid 1 on host elsewhere", "if that process is gone, delete", ".lock"], command="fit")


def test_the_lock_is_taken_atomically_once():
    from kernelops.utils.runlock import RunLocked, acquire, release

    folder = Path(os.environ.get("TMPDIR", "/tmp")) / f"kernelops-lock-{os.getpid()}"
    folder.mkdir(exist_ok=True)
    try:
        path, cleared = acquire(folder)
        assert cleared is None
        with pytest.raises(RunLocked, match=f"pid {os.getpid()}"):
            acquire(folder)  # this very process is alive: not stale
        release(path)
        assert not path.exists()
        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
        path.write_text(json.dumps({"pid": int(dead.stdout), "host": socket.gethostname()}))
        _, cleared = acquire(folder)
        assert cleared is not None and cleared["pid"] == int(dead.stdout)
        release(path)
    finally:
        for p in folder.iterdir():
            p.unlink()
        folder.rmdir()


# -- progress output in a log ------------------------------------------------------------------------
def test_progress_to_a_file_is_plain_lines_not_carriage_returns(series_file, tmp_path, capsys):
    args = [a for a in FIT if a != "--no-progress"]
    result = run_cli(capsys, *args, "--data", series_file, "--steps", "40", "--out", tmp_path / "run")
    assert result.rc == 0
    assert "\r" not in result.err
    progress = [line for line in result.err.splitlines() if line.startswith("fit: step ")]
    assert len(progress) == 20 and progress[-1].startswith("fit: step 40/40")  # one line every 40/20 steps


# -- SIGTERM, outputs ----------------------------------------------------------------------------------
def _catches_sigterm(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    caught = next(int(line.split()[1], 16) for line in status.splitlines() if line.startswith("SigCgt:"))
    return bool(caught & (1 << (signal.SIGTERM - 1)))


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc to see when the handler is in place")
def test_sigterm_during_sample_exits_130_with_one_line(tiny_run, tmp_path):
    proc = subprocess.Popen(kernelops_command("sample", tiny_run, "-n", "2000000", "--out", tmp_path / "x.npy",
                                              "--device", "cpu"),
                            cwd=tmp_path, env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None and not _catches_sigterm(proc.pid):
        time.sleep(0.01)
    # into the computation, past the lazy imports of the path and solver plugins: a SIGTERM inside such an
    # import is reported as that plugin's import error (docs/failure_modes.md)
    time.sleep(2.0)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and err.strip().splitlines() == ["kernelops sample: error: stopped by SIGTERM"]
    assert not (tmp_path / "x.npy").exists()


def test_a_read_only_output_folder_is_refused_before_computing(tiny_run, tmp_path, monkeypatch, capsys):
    import kernelops.cli.outputs as outputs
    from kernelops.flows import SpectralMeanFlow

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    def never(*args, **kwargs):
        raise AssertionError("the model was loaded before the output folder was checked")

    monkeypatch.setattr(outputs.tempfile, "mkstemp", read_only)
    monkeypatch.setattr(SpectralMeanFlow, "load", never)
    windows = tmp_path / "w.npy"
    np.save(windows, np.full((1, 8, 2), np.nan))
    folder = f"{tmp_path}/ro/"  # a trailing / names a folder (a Path would drop it)
    for argv in (["sample", tiny_run, "--out", folder], ["impute", tiny_run, "--input", windows, "--out",
                 f"{folder}x.npy"], ["forecast", tiny_run, "--input", windows, "--horizon", "2", "--out", folder]):
        line = assert_clean_failure(run_cli(capsys, *argv), 2, ["--out: cannot write in", str(tmp_path / "ro"),
                                                                "read-only file system", "choose another --out"])
        assert ".tmp" not in line


def test_impute_and_forecast_write_inside_a_folder_like_sample(tiny_run, tmp_path, capsys):
    windows = np.random.default_rng(0).random((2, 8, 2))
    windows[:, ::2] = np.nan
    np.save(tmp_path / "w.npy", windows)
    np.save(tmp_path / "h.npy", windows[:, :4])
    out = tmp_path / "out"
    assert run_cli(capsys, "impute", tiny_run, "--input", tmp_path / "w.npy", "--samples", "2", "--out", f"{out}/").rc == 0
    assert run_cli(capsys, "forecast", tiny_run, "--input", tmp_path / "h.npy", "--horizon", "2", "--samples", "2",
                   "--out", out).rc == 0
    assert sorted(p.name for p in out.iterdir()) == ["forecast.npy", "forecast_median.npy", "imputed.npy",
                                                     "imputed_median.npy"]
    assert not (tmp_path / "out.npy").exists()


def test_out_naming_a_symlink_writes_its_target_and_keeps_the_link(tiny_run, tmp_path, capsys):
    target = tmp_path / "real.npy"
    np.save(target, np.zeros(1))
    link = tmp_path / "link.npy"
    link.symlink_to(target)
    assert run_cli(capsys, "sample", tiny_run, "-n", "3", "--out", link).rc == 0
    assert link.is_symlink() and np.load(target).shape == (3, 8, 2)


def test_impute_under_torchrun_computes_on_rank_0_alone(tiny_run, tmp_path, monkeypatch, capsys):
    np.save(tmp_path / "w.npy", np.full((1, 8, 2), np.nan))
    monkeypatch.setenv("RANK", "1")
    result = run_cli(capsys, "impute", tiny_run, "--input", tmp_path / "w.npy", "--out", tmp_path / "x.npy")
    assert result.rc == 0 and result.text == "" and not (tmp_path / "x.npy").exists()


def test_sample_with_a_huge_seq_len_advises_a_smaller_seq_len(tiny_run, monkeypatch, capsys):
    monkeypatch.setenv("KERNELOPS_MEMORY_LIMIT", "64M")
    line = assert_clean_failure(run_cli(capsys, "sample", tiny_run, "--seq-len", "100000000"), 2,
                                ["--seq-len", "one window of 100000000 steps alone is too large"], command="sample")
    assert "--num" not in line.split("use a smaller")[-1]


# -- guidance, inputs far from the training scale, empty histories, horizons ---------------------------
@pytest.mark.parametrize("scale", ["inf", "nan", "-1"])
def test_guidance_scales_that_are_not_finite_and_non_negative_are_refused(scale, tiny_run, tmp_path, capsys):
    np.save(tmp_path / "w.npy", np.full((1, 8, 2), np.nan))
    assert_clean_failure(run_cli(capsys, "impute", tiny_run, "--input", tmp_path / "w.npy", "--method", "guidance",
                                 "--guidance-scale", scale), 2, ["--guidance-scale", "finite number ≥ 0"],
                         command="impute")


def test_a_large_guidance_scale_gives_finite_draws(tiny_run, tmp_path, capsys):
    windows = np.random.default_rng(0).random((3, 8, 2))
    windows[:, 1::2] = np.nan
    np.save(tmp_path / "w.npy", windows)
    for scale in ("10", "100", "1e6"):
        result = run_cli(capsys, "impute", tiny_run, "--input", tmp_path / "w.npy", "--method", "guidance",
                         "--guidance-scale", scale, "--samples", "2", "--out", tmp_path / "g.npy")
        assert result.rc == 0, result.err
        assert np.isfinite(np.load(tmp_path / "g.npy")).all()


def test_inputs_far_outside_the_training_scale_are_refused_and_near_ones_warned(tiny_run, tmp_path, capsys):
    windows = np.random.default_rng(0).random((2, 8, 2))
    windows[:, ::2] = np.nan
    np.save(tmp_path / "far.npy", windows * 1e30)
    assert_clean_failure(run_cli(capsys, "impute", tiny_run, "--input", tmp_path / "far.npy"), 2,
                         ["--input", "far.npy", "times the run's training range", "config.json: scaler"],
                         command="impute")
    np.save(tmp_path / "near.npy", windows * 3)
    result = run_cli(capsys, "impute", tiny_run, "--input", tmp_path / "near.npy", "--samples", "2")
    assert result.rc == 0
    warned = [line for line in result.err.splitlines() if "warning" in line]
    assert len(warned) == 1 and warned[0].startswith("kernelops impute: warning: --input:") and "extrapolate" in warned[0]


def test_an_all_missing_history_is_forecast_with_a_warning(tiny_run, tmp_path, capsys):
    history = np.random.default_rng(0).random((3, 4, 2))
    history[1] = np.nan
    np.save(tmp_path / "h.npy", history)
    result = run_cli(capsys, "forecast", tiny_run, "--input", tmp_path / "h.npy", "--horizon", "2", "--samples", "2")
    assert result.rc == 0
    assert_no_traceback(result)
    warned = [line for line in result.err.splitlines() if "warning" in line]
    assert len(warned) == 1 and "1 of 3 window(s)" in warned[0] and "unconditional" in warned[0]


def test_a_horizon_past_the_window_names_the_largest_one(tiny_run, tmp_path, capsys):
    np.save(tmp_path / "h.npy", np.zeros((1, 4, 2)))
    line = assert_clean_failure(run_cli(capsys, "forecast", tiny_run, "--input", tmp_path / "h.npy", "--horizon", "32"),
                                2, ["--horizon 32", "at most 7", "8 steps"], command="forecast")
    assert "-" not in line.split("--horizon 32")[-1].split("(")[0]  # no negative step count


# -- data messages --------------------------------------------------------------------------------------
def _series(tmp_path: Path, name: str, column: np.ndarray) -> Path:
    values = np.column_stack([np.random.default_rng(0).random(40), column])
    path = tmp_path / name
    np.save(path, values)
    return path


@pytest.mark.parametrize("name, column, words", [
    ("all_nan.npy", np.full(40, np.nan), ["all_nan.npy", "column 'x1' has no values", "--columns"]),
    ("one_value.npy", np.r_[7.0, np.full(39, np.nan)], ["one_value.npy", "column 'x1' has 1 observed value (7)"]),
    ("constant.npy", np.full(40, 3.0), ["constant.npy", "column 'x1' is constant (3", "nothing to learn"]),
    ("tiny.npy", np.linspace(0, 1e-30, 40), ["tiny.npy", "column 'x1' spans only 1e-30", "multiply it"]),
])
def test_columns_that_cannot_be_learned_are_named_with_the_file(name, column, words, tmp_path, capsys):
    for skip in ("window", "channel"):
        line = assert_clean_failure(_fit(capsys, _series(tmp_path, name, column), tmp_path / "run", "--skip", skip), 2,
                                    words, command="fit")
        assert "lower --lr" not in line and "feature 1" not in line


def test_a_trailing_header_comma_adds_no_column(tmp_path, capsys):
    rng = np.random.default_rng(0).random((40, 2))
    (tmp_path / "t.csv").write_text("a,b,\n" + "".join(f"{x:.4f},{y:.4f},\n" for x, y in rng))
    assert _fit(capsys, tmp_path / "t.csv", tmp_path / "run").rc == 0
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["dataset"]["feature_names"] == ["a", "b"]


def test_a_symlink_loop_is_a_one_line_error(tmp_path, capsys):
    loop = tmp_path / "loop.npy"
    loop.symlink_to(tmp_path / "loop.npy")
    line = assert_clean_failure(_fit(capsys, loop, tmp_path / "run"), 2, ["loop.npy", "symbolic link", "loops back"],
                                command="fit")
    assert "internal error" not in line


def test_evaluate_on_a_gappy_run_asks_for_complete_real_windows_before_sampling(tmp_path, capsys):
    series = np.random.default_rng(0).random((40, 2))
    series[::5, 1] = np.nan
    np.save(tmp_path / "gappy.npy", series)
    assert _fit(capsys, tmp_path / "gappy.npy", tmp_path / "run").rc == 0
    result = run_cli(capsys, "evaluate", tmp_path / "run", "--fast")
    assert_clean_failure(result, 2, ["missing (NaN) entries", "--real REAL.npy", "--real-dataset"], command="evaluate")
    assert "sampling" not in result.err and not (tmp_path / "run" / "fake_scaled.npy").exists()


def test_evaluate_warnings_carry_the_command_prefix(tmp_path, capsys):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "real.npy", rng.random((20, 8, 2)))
    np.save(tmp_path / "fake.npy", rng.random((20, 8, 2)) * 100)
    result = run_cli(capsys, "evaluate", "--real", tmp_path / "real.npy", "--fake", tmp_path / "fake.npy", "--fast",
                     "--runs", "1", "--metrics", "correlational", "--out", tmp_path / "ev")
    warned = [line for line in result.err.splitlines() if "warning" in line]
    assert warned and all(line.startswith("kernelops evaluate: warning: ") for line in warned), result.err


def test_a_dead_torchrun_peer_is_reported_with_the_resume_command(series_file, tmp_path, monkeypatch, capsys):
    from kernelops.flows import SpectralMeanFlow
    from kernelops.utils import distributed as dist

    assert dist.peer_failure(RuntimeError("[../gloo/transport/tcp/pair.cc:534] Connection closed by peer"))
    assert not dist.peer_failure(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))
    real_fit = SpectralMeanFlow.fit

    def fit_then_lose_a_peer(self, *args, **kwargs):
        real_fit(self, *args, **kwargs)  # trains and writes its checkpoint alone
        monkeypatch.setattr(dist, "is_parallel", lambda: True)  # then, as in a group, a collective fails
        raise RuntimeError("[../gloo/transport/tcp/pair.cc:534] Connection closed by peer [10.0.0.2]:4711")

    monkeypatch.setattr(SpectralMeanFlow, "fit", fit_then_lose_a_peer)
    line = assert_clean_failure(_fit(capsys, series_file, tmp_path / "run"), 2,
                                ["another process of this torchrun job stopped", "Connection closed by peer",
                                 "checkpoint.pt holds step 3", f"kernelops fit --resume {tmp_path / 'run'}"],
                                command="fit")
    assert "internal error" not in line
