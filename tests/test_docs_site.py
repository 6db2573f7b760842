"""The documentation site's hook: repository pages keep working links in the site."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytest.importorskip("mkdocs", reason="the docs tools are not installed (pip install -e '.[dev]')")


def _hook():
    spec = importlib.util.spec_from_file_location("repository_pages", ROOT / "docs/_hooks/repository_pages.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rewrite(hook, src_uri: str, markdown: str) -> str:
    page = SimpleNamespace(file=SimpleNamespace(src_uri=src_uri))
    return hook.on_page_markdown(markdown, page=page, config=None, files=None)


def test_repository_paths_map_to_site_paths():
    hook = _hook()
    assert hook._site_path("README.md") == "index.md"
    assert hook._site_path("docs/theory.md") == "theory.md"
    assert hook._site_path("benchmarks/results/table1.md") == "benchmarks/results/table1.md"
    extra = hook._extra_files()
    assert {"README.md", "benchmarks/README.md", "plugins/kernelops-datasets/README.md"} <= set(extra)


def test_links_are_rewritten_to_the_same_file_in_the_site():
    hook = _hook()
    # README (site index.md) -> docs page
    assert _rewrite(hook, "index.md", "[m](docs/metrics.md#api)") == "[m](metrics.md#api)"
    # docs page -> a repository page outside docs/
    assert (_rewrite(hook, "datasets.md", "[p](../plugins/kernelops-datasets/README.md)")
            == "[p](plugins/kernelops-datasets/README.md)")
    # repository page -> docs page and -> the README
    assert _rewrite(hook, "benchmarks/README.md", "[m](../docs/metrics.md)") == "[m](../metrics.md)"
    assert (_rewrite(hook, "plugins/kernelops-matern/README.md", "[k](../../README.md)")
            == "[k](../../index.md)")
    # links inside one folder, anchors only and absolute URLs stay as written
    for text in ("[t](results/table1.md)", "[a](#top)", "[u](https://example.org/x.md)"):
        assert _rewrite(hook, "benchmarks/README.md", text) == text
