"""The plugin host: discovery, isolation of broken plugins, collisions, env controls."""

from __future__ import annotations

import sys
import textwrap
import types

import pytest

import kernelops as ko
from kernelops.errors import DuplicatePluginError, KernelopsWarning, PluginLoadError, UnknownPluginError
from kernelops.plugins.manager import PluginHost, reset_host


class _Doubler:
    """A stand-in 'feature map' factory: the registry does not care what it builds."""

    def __init__(self, scale: float = 2.0):
        self.scale = scale


def _module(name: str, **hooks) -> types.ModuleType:
    mod = types.ModuleType(name)
    for hook_name, fn in hooks.items():
        setattr(mod, hook_name, ko.hookimpl(fn))
    return mod


def test_builtins_are_listed_by_kind():
    listed = ko.list_plugins()
    assert set(listed) == {"feature_maps", "paths", "solvers"}
    assert {"rff", "linear"} <= set(listed["feature_maps"])
    assert {"ot", "vp", "ve"} <= set(listed["paths"])
    assert {"euler", "rk4", "dopri5"} <= set(listed["solvers"])
    assert "sines" in ko.list_plugins("datasets")["datasets"]


def test_runtime_plugin_is_usable_by_name_and_removable():
    def register_feature_maps(register):
        register("doubler", _Doubler, aliases=("twice",), description="test")

    info = ko.register(_module("my_plugin", register_feature_maps=register_feature_maps))
    assert info.status == "ok" and info.provides == {"feature_maps": ["doubler"]}
    fm = ko.feature_map("doubler", scale=3.0)
    assert isinstance(fm, _Doubler) and fm.scale == 3.0
    assert isinstance(ko.feature_map("twice"), _Doubler)  # alias
    ko.unregister("my_plugin")
    with pytest.raises(UnknownPluginError):
        ko.feature_map("doubler")


def test_unknown_name_lists_known_names():
    with pytest.raises(UnknownPluginError) as err:
        ko.path("cosine_typo")
    message = str(err.value)
    assert "cosine_typo" in message and "ot" in message and "vp" in message and "ve" in message
    assert isinstance(err.value, LookupError)


def test_duplicate_name_names_both_sources():
    def register_paths(register):
        register("vp", _Doubler)

    with pytest.raises(DuplicatePluginError) as err:
        reset_host().register(_module("clash", register_paths=register_paths), strict=True)
    assert "'vp'" in str(err.value)
    assert "kernelops.plugins.builtin.paths" in str(err.value) and "clash" in str(err.value)


def test_duplicate_from_a_plugin_is_skipped_not_fatal_by_default():
    def register_paths(register):
        register("vp", _Doubler)

    with pytest.warns(KernelopsWarning, match="'vp' is registered twice"):
        info = ko.register(_module("clash2", register_paths=register_paths))
    assert info.status == "failed"
    from kernelops.plugins import get_host

    assert get_host().entry("paths", "vp").source.plugin == "kernelops.plugins.builtin.paths"


def test_failing_plugin_is_skipped_with_warning_and_partial_state_removed():
    def register_solvers(register):
        register("half_registered", _Doubler)
        raise RuntimeError("boom")

    with pytest.warns(KernelopsWarning, match="broken_plugin.*boom"):
        info = ko.register(_module("broken_plugin", register_solvers=register_solvers))
    assert info.status == "failed" and "boom" in info.reason
    assert "half_registered" not in ko.list_plugins()["solvers"]
    assert "rk4" in ko.list_plugins()["solvers"]  # the rest keep working
    assert any(p.name == "broken_plugin" and p.status == "failed" for p in ko.plugin_report())


def test_strict_mode_reraises(monkeypatch):
    monkeypatch.setenv("KERNELOPS_STRICT_PLUGINS", "1")

    def register_paths(register):
        raise RuntimeError("bad path plugin")

    with pytest.raises(PluginLoadError, match="bad path plugin"):
        ko.register(_module("strict_victim", register_paths=register_paths))


def test_unknown_hook_name_is_reported():
    def register_feature_map(register):  # typo: singular
        pass

    with pytest.warns(KernelopsWarning, match="unknown hook"):
        info = ko.register(_module("typo_plugin", register_feature_map=register_feature_map))
    assert info.status == "failed"


def test_lazy_factory_import_failure_names_plugin_and_target():
    def register_feature_maps(register):
        register("ghost", "not_a_module_xyz.sub:Thing")

    ko.register(_module("lazy_plugin", register_feature_maps=register_feature_maps))
    assert "ghost" in ko.list_plugins()["feature_maps"]  # listing imports nothing
    with pytest.raises(PluginLoadError, match="ghost.*lazy_plugin.*not_a_module_xyz"):
        ko.feature_map("ghost")


def test_invalid_names_and_factories_are_rejected():
    def bad_name(register):
        register("Bad-Name", _Doubler)

    def bad_factory(register):
        register("okname", 42)

    with pytest.warns(KernelopsWarning, match="invalid"):
        ko.register(_module("bad_name_plugin", register_paths=bad_name))
    with pytest.warns(KernelopsWarning, match="factory must be callable"):
        ko.register(_module("bad_factory_plugin", register_paths=bad_factory))


def test_import_kernelops_loads_no_plugin():
    code = textwrap.dedent(
        """
        import sys, kernelops
        from kernelops.plugins.manager import get_host
        assert not get_host()._loaded
        assert "kernelops.features.rff" not in sys.modules
        kernelops.list_plugins()
        assert get_host()._loaded
        assert "kernelops.features.rff" not in sys.modules  # still lazy until used
        print("ok")
        """
    )
    import subprocess

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"


# -- entry points: a real distribution on sys.path ------------------------------------------

def _make_dist(tmp_path, dist_name: str, ep_name: str, module_name: str, module_source: str):
    (tmp_path / f"{module_name}.py").write_text(textwrap.dedent(module_source))
    info = tmp_path / f"{dist_name.replace('-', '_')}-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist_name}\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text(f"[kernelops]\n{ep_name} = {module_name}\n")


GOOD_PLUGIN = """
import kernelops

class Constant:
    def __init__(self, value=1.0):
        self.value = value

@kernelops.hookimpl
def register_solvers(register):
    register("constant_solver", Constant, description="test solver")
"""

BROKEN_PLUGIN = """
raise ImportError("missing optional dependency frobnicate")
"""


@pytest.fixture
def fake_site(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("KERNELOPS_LOAD_PLUGINS", raising=False)
    _make_dist(tmp_path, "kernelops-good", "good", "kernelops_good_test", GOOD_PLUGIN)
    _make_dist(tmp_path, "kernelops-broken", "broken", "kernelops_broken_test", BROKEN_PLUGIN)
    import importlib

    importlib.invalidate_caches()
    yield tmp_path
    for mod in ("kernelops_good_test", "kernelops_broken_test"):
        sys.modules.pop(mod, None)


def test_entry_point_plugins_load_and_broken_one_is_skipped(fake_site):
    host = reset_host(PluginHost())
    with pytest.warns(KernelopsWarning, match="'broken' from kernelops-broken 1.2.3.*frobnicate"):
        names = host.names("solvers")
    assert "constant_solver" in names and "rk4" in names
    good = host.plugins["good"]
    assert (good.status, good.dist, good.version) == ("ok", "kernelops-good", "1.2.3")
    assert host.plugins["broken"].status == "failed"
    assert ko.solver("constant_solver", value=5.0).value == 5.0
    assert host.versions()["good"] == "1.2.3"


def test_allow_and_deny_lists(fake_site, monkeypatch):
    monkeypatch.setenv("KERNELOPS_LOAD_PLUGINS", "good")
    host = reset_host(PluginHost())
    assert "constant_solver" in host.names("solvers")
    assert host.plugins["broken"].status == "disabled"

    monkeypatch.delenv("KERNELOPS_LOAD_PLUGINS")
    monkeypatch.setenv("KERNELOPS_DISABLE_PLUGINS", "good,broken")
    host = reset_host(PluginHost())
    assert "constant_solver" not in host.names("solvers")
    assert {host.plugins["good"].status, host.plugins["broken"].status} == {"disabled"}
