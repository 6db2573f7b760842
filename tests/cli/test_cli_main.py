"""The kernelops command line: dispatch, help, plugins/datasets output and one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types

import pytest

from kernelops.cli import main as cli
from kernelops.errors import DataError

COMMANDS = ["fit", "sample", "impute", "forecast", "loglik", "evaluate", "plugins", "datasets"]


def _run(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "KERNELOPS_LOAD_PLUGINS": "", "OMP_NUM_THREADS": "1", **(env or {})}
    full_env.pop("KERNELOPS_DEBUG", None) if "KERNELOPS_DEBUG" not in (env or {}) else None
    return subprocess.run([sys.executable, "-m", "kernelops.cli.main", *args], capture_output=True,
                          text=True, env=full_env, timeout=timeout)


def test_help_lists_every_command_with_its_summary():
    proc = _run("--help")
    assert proc.returncode == 0, proc.stderr
    for name in COMMANDS:
        assert f"    {name}" in proc.stdout and cli.COMMANDS[name].split()[0] in proc.stdout
    assert proc.stderr == ""


def test_help_imports_no_command_module_and_no_torch():
    code = ("import sys; from kernelops.cli.main import main; rc = main(['--help']); "
            "print('LOADED', sorted(m for m in sys.modules if m == 'torch' or m.startswith('kernelops.cli.')))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "KERNELOPS_LOAD_PLUGINS": ""})
    assert "LOADED ['kernelops.cli.main']" in proc.stdout, proc.stdout[-300:] + proc.stderr


def test_version():
    from kernelops import __version__

    proc = _run("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"kernelops {__version__}"


def test_plugins_json_lists_builtins_and_their_names():
    proc = _run("plugins", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    provided = {kind: set() for kind in ("feature_maps", "paths", "solvers", "datasets")}
    for plugin in report["plugins"]:
        # KERNELOPS_LOAD_PLUGINS="" disables installed third-party plugins; they are still listed
        assert plugin["status"] == ("ok" if plugin["builtin"] else "disabled"), plugin
        for kind, names in plugin["provides"].items():
            provided[kind] |= set(names)
    assert "rff" in provided["feature_maps"] and "vp" in provided["paths"] and "rk4" in provided["solvers"]
    assert "sines" in provided["datasets"]
    assert set(report["entries"]["solvers"]) == provided["solvers"]


def test_plugins_table_shows_a_failed_plugin_with_its_reason(capsys):
    import kernelops as ko

    class Broken:
        @ko.hookimpl
        def register_paths(self, register):
            raise RuntimeError("boom in register_paths")

    with pytest.warns(Warning, match="skipped plugin"):
        ko.register(Broken(), name="broken_demo")
    assert cli.main(["plugins", "--all"]) == 0
    out = capsys.readouterr().out
    line = next(l for l in out.splitlines() if l.startswith("broken_demo"))
    assert "failed" in line
    assert "reason: RuntimeError: boom in register_paths" in out
    assert "1 failed" in out
    # --all lists every name with its description
    assert "rk4" in out and "classical Runge-Kutta" in out


def test_datasets_lists_sines_with_its_shape():
    proc = _run("datasets")
    assert proc.returncode == 0, proc.stderr
    line = next(l for l in proc.stdout.splitlines() if l.startswith("sines"))
    assert "10000\u00d724\u00d75" in line


def test_datasets_json_and_missing_dataset_shown_not_raised(capsys):
    import kernelops as ko
    from kernelops.data import Sines
    from kernelops.plugins.manager import PluginHost, reset_host

    reset_host(PluginHost(builtins=(), entry_points=False))  # skip building the real datasets

    def needs_file(**kw):
        raise DataError("/nowhere/x.csv not found; get it with `kernelops-fetch x`")

    class Plugin:
        @ko.hookimpl
        def register_datasets(self, register):
            register("needs_file", needs_file, description="a dataset whose file is absent")
            register("tiny_sines", lambda: Sines(num=7, seq_len=5, features=2), description="small")

    ko.register(Plugin(), name="missing_demo")
    assert cli.main(["datasets"]) == 0
    out = capsys.readouterr().out
    assert "missing: /nowhere/x.csv not found; get it with `kernelops-fetch x`" in out
    assert cli.main(["datasets", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["needs_file"]["status"] == "missing" and rows["tiny_sines"]["shape"] == [7, 5, 2]
    assert cli.main(["datasets", "tiny_sines", "--json"]) == 0
    assert [r["name"] for r in json.loads(capsys.readouterr().out)] == ["tiny_sines"]
    assert cli.main(["datasets", "nope"]) == 2
    assert "unknown dataset 'nope'; known datasets: needs_file, tiny_sines" in capsys.readouterr().err


def test_unknown_command_exits_2():
    proc = _run("no_such_command")
    assert proc.returncode == 2
    assert "invalid choice: 'no_such_command'" in proc.stderr


def test_a_failing_command_prints_one_line_and_exits_2():
    # fit either is not installed yet or rejects the unknown dataset; both must be one line
    proc = _run("fit", "--dataset", "no_such_dataset")
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kernelops fit: error: "), proc.stderr


def _fake_command(monkeypatch, run):
    module = types.ModuleType("kernelops.cli.fake")
    module.HELP = "fake"
    module.add_arguments = lambda parser: parser.add_argument("--n", type=int, default=1)
    module.run = run
    monkeypatch.setattr(cli, "load_command", lambda name: module)
    monkeypatch.delenv("KERNELOPS_DEBUG", raising=False)


@pytest.mark.parametrize("exc", [DataError("bad file\nline two"), ValueError("steps: expected > 0"),
                                 FileNotFoundError(2, "No such file or directory", "run/checkpoint.pt")])
def test_user_errors_become_one_line(monkeypatch, capsys, exc):
    def run(args):
        raise exc

    _fake_command(monkeypatch, run)
    assert cli.main(["datasets", "--n", "3"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("kernelops datasets: error: ")
    if isinstance(exc, DataError):
        assert err[0].endswith("bad file line two")
    if isinstance(exc, FileNotFoundError):
        assert "run/checkpoint.pt" in err[0]


def test_ctrl_c_exits_130_and_debug_shows_traceback(monkeypatch, capsys):
    def interrupted(args):
        raise KeyboardInterrupt

    _fake_command(monkeypatch, interrupted)
    assert cli.main(["datasets"]) == 130
    assert capsys.readouterr().err.strip() == "kernelops datasets: error: interrupted"

    def failing(args):
        raise ValueError("deep problem")

    _fake_command(monkeypatch, failing)
    monkeypatch.setenv("KERNELOPS_DEBUG", "1")
    assert cli.main(["datasets"]) == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and err.strip().endswith("error: deep problem")


def test_run_return_value_is_the_exit_status(monkeypatch):
    _fake_command(monkeypatch, lambda args: args.n)
    assert cli.main(["datasets", "--n", "5"]) == 5
    _fake_command(monkeypatch, lambda args: None)
    assert cli.main(["datasets"]) == 0


def test_missing_command_module_is_a_clear_error():
    with pytest.raises(cli.CommandUnavailable, match="'nonexistent' command is not available"):
        cli.load_command("nonexistent")


def test_command_help_comes_from_its_module():
    proc = _run("plugins", "--help")
    assert proc.returncode == 0
    assert "--json" in proc.stdout and "--all" in proc.stdout and proc.stdout.startswith("usage: kernelops plugins")
