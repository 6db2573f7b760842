"""The README's Python examples run as written (with fewer steps and windows)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", README, flags=re.S)
SHORTER = {"range(1000)": "range(2)", "make_sines(10000)": "make_sines(300)", "steps=4000": "steps=2",
           "sample(1000,": "sample(4,"}


def _shortened(code: str) -> str:
    for long, short in SHORTER.items():
        code = code.replace(long, short)
    return code


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_python_block_runs(index, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(_shortened(BLOCKS[index]), f"README.md block {index}", "exec"), namespace)
    fake = namespace.get("fake")
    assert isinstance(fake, torch.Tensor) and torch.isfinite(fake).all()
    assert fake.shape[1:] == (24, 5)


def test_the_custom_loop_block_is_there():
    assert any("FlowMatchingObjective" in block and "SpectralVelocityField" in block for block in BLOCKS)
