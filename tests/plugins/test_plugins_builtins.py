"""The conformance kit passes on every registered built-in, and lists runtime-registered plugins too."""

from __future__ import annotations

import pytest
import torch

import kernelops as ko
from kernelops.paths import OTPath
from kernelops.plugins.testing import PluginCheck, all_checks, check_path, check_plugin, check_solver

BUILTINS = all_checks()


def test_every_builtin_kind_is_listed():
    listed = {(c.kind, c.name) for c in BUILTINS}
    for kind, names in ko.list_plugins().items():
        assert {(kind, n) for n in names} <= listed
    assert {("paths", "ot"), ("paths", "vp"), ("paths", "ve"), ("solvers", "rk4"), ("solvers", "dopri5")} <= listed


@pytest.mark.parametrize("check", BUILTINS, ids=str)
def test_builtin_conforms(check):
    check()


def test_check_ids_kwargs_and_options():
    checks = {str(c): c for c in all_checks(("paths",), kwargs={"ot": {"sigma_min": 0.2}})}
    assert set(checks) == {"paths:ot", "paths:ve", "paths:vp"}
    assert checks["paths:ot"].kwargs == {"sigma_min": 0.2}
    # σ_min = 0.2 leaves |x_1 − x1| = 0.2 |ε|, beyond the default endpoint tolerance 0.05...
    with pytest.raises(AssertionError, match=r"interpolate\(x0, x1, 1\) must be x1"):
        checks["paths:ot"]()
    # ...which a plugin author may widen through the check's options
    loose = all_checks(("paths",), kwargs={"ot": {"sigma_min": 0.2}}, options={"ot": {"endpoint_atol": 1.0}})
    next(c for c in loose if c.name == "ot")()
    with pytest.raises(ValueError, match="kinds"):
        all_checks(("widgets",))
    with pytest.raises(ValueError, match="kind"):
        check_plugin("widgets", "x")


def test_a_runtime_registered_third_party_plugin_is_checked_too():
    class Ralston(ko.solvers.FixedStepSolver):
        name, order = "ralston", 2
        tableau = ko.solvers.ButcherTableau(c=(0.0, 2 / 3), a=((), (2 / 3,)), b=(0.25, 0.75))

    class Plugin:
        @ko.hookimpl
        def register_solvers(self, register):
            register("ralston", Ralston)

    ko.register(Plugin(), name="ralston_plugin")
    checks = {str(c): c for c in all_checks(("solvers",))}
    assert isinstance(checks["solvers:ralston"], PluginCheck)
    checks["solvers:ralston"]()
    check_solver(ko.solver("ralston"), steps=20, rtol=1e-3)


def test_the_kit_does_not_touch_the_global_rng():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    check_path(OTPath())
    check_solver(ko.solver("heun"))
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize(
    "kind,name,kwargs",
    [
        ("feature_maps", "rff", {"in_dim": 2, "out_dim": 64, "complex": True, "seed": 1}),
        ("feature_maps", "rff", {"in_dim": 4, "kernel": "laplace", "seed": 2}),
        ("feature_maps", "linear", {"in_dim": 3, "constant": 1.0}),
        ("paths", "vp", {"beta_min": 1.0, "beta_max": 4.0}),
        ("paths", "ve", {"sigma_min": 0.02, "sigma_max": 2.0}),
        ("solvers", "dopri5", {"rtol": 1e-3, "atol": 1e-3}),
    ],
)
def test_builtin_variants_conform(kind, name, kwargs):
    check_plugin(kind, name, **kwargs)
