"""Names of kernelops' optional distributions (the real datasets): asking for one without the
distribution gives one line saying what to install, and `kernelops datasets` still lists it."""

from __future__ import annotations

import json

import pytest

import kernelops as ko
from kernelops.cli import main as cli
from kernelops.data import resolve_dataset
from kernelops.errors import UnknownPluginError
from kernelops.plugins import optional
from kernelops.plugins.manager import PluginHost, reset_host

INSTALL = "pip install -e plugins/kernelops-datasets"
REAL = ["energy", "etth", "fmri", "fred_md", "mujoco", "nn5_daily", "stocks"]


@pytest.fixture
def without_datasets_package(monkeypatch):
    """The core alone: built-ins only, and kernelops-datasets reported as not installed."""
    monkeypatch.setattr(optional, "is_installed", lambda package: False)
    reset_host(PluginHost(entry_points=False))


@pytest.mark.parametrize("name", ["stocks", "etth1", "nn5_daily"])
def test_missing_package_names_what_to_install_in_one_line(without_datasets_package, name):
    with pytest.raises(UnknownPluginError) as info:
        ko.dataset(name)
    msg = str(info.value)
    assert f"dataset {name!r} is provided by the kernelops-datasets package, which is not installed" in msg
    assert INSTALL in msg and "\n" not in msg
    with pytest.raises(UnknownPluginError, match="kernelops-datasets"):
        resolve_dataset(name)


def test_other_unknown_names_still_list_the_known_ones(without_datasets_package):
    known = "counts, mixture, oscillations, regimes, sines, spikes"  # the built-in, generated ones
    with pytest.raises(UnknownPluginError, match=f"unknown dataset 'stonks'; known datasets: {known}$"):
        ko.dataset("stonks")
    assert optional.provider("paths", "stocks") is None  # the table is per kind


def test_installed_but_disabled_is_told_apart(monkeypatch):
    monkeypatch.setattr(optional, "is_installed", lambda package: True)
    reset_host(PluginHost(entry_points=False))
    with pytest.raises(UnknownPluginError, match="installed but not loaded.*kernelops plugins"):
        ko.dataset("fmri")


def test_fit_on_a_missing_dataset_exits_2_with_the_install_command(without_datasets_package, tmp_path, capsys):
    assert cli.main(["fit", "--dataset", "stocks", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("kernelops fit: error: ") and INSTALL in err
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_datasets_command_lists_all_eight_with_the_missing_ones_explained(without_datasets_package, capsys):
    from kernelops.data.nongaussian import MEMBERS

    assert cli.main(["datasets", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert sorted(rows) == sorted(["sines", *MEMBERS, *REAL])
    for name in ("sines", *MEMBERS):  # the generated ones are built in
        assert rows[name]["status"] == "ok" and rows[name]["shape"] == [10000, 24, 5]
    for name in REAL:
        assert rows[name]["status"] == "missing" and INSTALL in rows[name]["reason"], rows[name]
    assert cli.main(["datasets"]) == 0
    table = capsys.readouterr().out
    assert "missing: dataset 'stocks' is provided by the kernelops-datasets package" in table
