"""Shared fixtures: plugin isolation, seeding, and a device fixture (CPU, plus CUDA if present)."""

from __future__ import annotations

import os

import pytest
import torch

# Tests never see third-party plugins installed on the machine; plugin tests register their own.
os.environ["KERNELOPS_LOAD_PLUGINS"] = ""
os.environ.pop("KERNELOPS_STRICT_PLUGINS", None)

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(autouse=True)
def _seed_and_isolate_plugins():
    """Fresh global plugin host and a fixed seed for every test."""
    from kernelops.plugins.manager import reset_host

    torch.manual_seed(0)
    reset_host()
    yield
    reset_host()


@pytest.fixture
def real_datasets(monkeypatch):
    """Load the kernelops-datasets plugin (the real datasets) for one test; skip without it."""
    import importlib.metadata

    from kernelops.plugins.manager import PluginHost, reset_host

    if not any(ep.name == "datasets" for ep in importlib.metadata.entry_points(group="kernelops")):
        pytest.skip("needs the real datasets: pip install -e plugins/kernelops-datasets")
    monkeypatch.setenv("KERNELOPS_LOAD_PLUGINS", "datasets")
    reset_host(PluginHost())


@pytest.fixture(params=DEVICES)
def device(request) -> torch.device:
    """Run a test on the CPU and, when available, on CUDA."""
    return torch.device(request.param)


def pytest_collection_modifyitems(config, items):
    skip_cuda = pytest.mark.skip(reason="no CUDA device")
    for item in items:
        if "cuda" in item.keywords and not torch.cuda.is_available():
            item.add_marker(skip_cuda)
