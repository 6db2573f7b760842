"""The repository stays lean and its CI runs what the README says."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA_FILES = "plugins/kernelops-datasets/kernelops_datasets/files/"
#: small checkpoints written by an earlier kernelops, kept to test that they still load
CHECKPOINT_FIXTURES = "tests/flows/fixtures/"


def _tracked() -> list[str]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    return [p for p in out.decode().split("\0") if p]


def test_ci_runs_the_readme_test_commands_verbatim():
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"## Tests\n\n```bash\n(.*?)```", readme, flags=re.S)
    assert block, "README.md has no '## Tests' bash block"
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    commands = [line for line in block.group(1).splitlines() if line.strip()]
    assert commands and all(line in ci_lines for line in commands), commands
    # in that order, one after the other
    start = ci_lines.index(commands[0])
    assert ci_lines[start:start + len(commands)] == commands


def test_no_large_file_outside_the_dataset_package():
    big = [p for p in _tracked() if not p.startswith(DATA_FILES)
           and (ROOT / p).is_file() and (ROOT / p).stat().st_size > 1024 * 1024]
    assert big == [], f"tracked files over 1 MiB outside {DATA_FILES}: {big}"
    arrays = [p for p in _tracked() if p.endswith((".npy", ".npz", ".pt")) and not p.startswith(DATA_FILES)
              and not (p.startswith(CHECKPOINT_FIXTURES) and p.endswith(".pt"))]
    assert arrays == [], f"generated arrays or models are tracked: {arrays}"
    fixtures = [p for p in _tracked() if p.startswith(CHECKPOINT_FIXTURES) and (ROOT / p).stat().st_size > 64 * 1024]
    assert fixtures == [], f"checkpoint fixtures over 64 KiB: {fixtures}"


def test_the_core_package_ships_no_data_files():
    assert not (ROOT / "kernelops" / "data" / "files").exists()
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert "data/files" not in pyproject


#: test folders that are not about one subpackage: the benchmark scripts and the fault catalogue
CROSS_CUTTING_TEST_DIRS = {"benchmarks", "robustness"}


def test_tests_mirror_the_package():
    """tests/<subpackage>/ for every test folder, named after a kernelops subpackage."""
    subpackages = {p.name for p in (ROOT / "kernelops").iterdir() if (p / "__init__.py").exists()}
    folders = {p.name for p in (ROOT / "tests").iterdir() if p.is_dir() and p.name != "__pycache__"}
    strays = folders - subpackages - CROSS_CUTTING_TEST_DIRS
    assert strays == set(), f"test folders that mirror no kernelops subpackage: {sorted(strays)}"
    # and every test module inside a mirrored folder is named after it (unique basenames for pytest)
    for folder in folders - CROSS_CUTTING_TEST_DIRS:
        for test in (ROOT / "tests" / folder).glob("test_*.py"):
            prefix = {"flows": "flow"}.get(folder, folder)
            assert test.name.startswith(f"test_{prefix}"), f"tests/{folder}/{test.name}: expected test_{prefix}_*.py"


def test_every_flows_module_has_its_api_page_entry():
    """docs/api/flows.md lists kernelops.flows module by module: a new module must be added there."""
    import re

    listed = set(re.findall(r"^::: ([\w.]+)$", (ROOT / "docs/api/flows.md").read_text(), re.M))
    modules = {".".join(p.relative_to(ROOT).with_suffix("").parts) for p in (ROOT / "kernelops/flows").rglob("*.py")
               if not p.name.startswith("_")}
    assert modules - listed == set(), f"modules missing from docs/api/flows.md: {sorted(modules - listed)}"
