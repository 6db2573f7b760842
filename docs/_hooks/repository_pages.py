"""mkdocs hook: put the repository's own Markdown pages beside docs/ in the site.

The README (the home page), ``benchmarks/`` (README, results and their figures) and the plugin
packages' READMEs are written to be read on the repository too, so they stay where they are and
link by repository paths. This hook adds them to the site at those paths (``README.md`` becomes
``index.md``, ``docs/X`` is ``X``) and rewrites every relative link that leaves its page's folder
to the site path of the same file, so links work in both places and ``--strict`` still checks them.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[2]
#: repository files (globs) added to the site, at their repository path
EXTRA = ("README.md", "benchmarks/README.md", "benchmarks/results/*.md", "benchmarks/results/*.png",
         "benchmarks/results/*/*.md",
         "plugins/*/README.md", "plugins/kernelops-datasets/kernelops_datasets/files/README.md")
_LINK = re.compile(r"(\]\()([^)#\s]+)([^)]*\))")


def _site_path(repo_path: str) -> str:
    """Where a repository file sits in the site's source tree."""
    if repo_path == "README.md":
        return "index.md"
    if repo_path.startswith("docs/"):
        return repo_path[len("docs/"):]
    return repo_path


def _repo_path(site_path: str) -> str:
    if site_path == "index.md":
        return "README.md"
    extra = {_site_path(p) for p in _extra_files()}
    return site_path if site_path in extra else f"docs/{site_path}"


def _extra_files() -> list[str]:
    return sorted({p.relative_to(ROOT).as_posix() for pattern in EXTRA for p in ROOT.glob(pattern)})


def on_files(files: Files, config: Any) -> Files:
    for repo_path in _extra_files():
        files.append(File.generated(config, _site_path(repo_path), abs_src_path=str(ROOT / repo_path)))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    here_repo = _repo_path(page.file.src_uri)
    here_site = page.file.src_uri

    def rewrite(match: re.Match[str]) -> str:
        target = match.group(2)
        if "://" in target or target.startswith(("/", "mailto:")):
            return match.group(0)
        repo_target = posixpath.normpath(posixpath.join(posixpath.dirname(here_repo), target))
        site_target = _site_path(repo_target)
        new = posixpath.relpath(site_target, posixpath.dirname(here_site) or ".")
        return f"{match.group(1)}{new}{match.group(3)}"

    return _LINK.sub(rewrite, markdown)
