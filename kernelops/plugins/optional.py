"""Names that kernelops' own optional distributions provide, so that asking for one of them
without the distribution says what to install instead of only listing the known names.

The distributions are ordinary plugins (entry points of group ``kernelops``); this table is
only for the message. A name here that a loaded plugin registers is never looked up.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass


@dataclass(frozen=True)
class OptionalPackage:
    """A distribution of the kernelops project that is installed separately."""

    dist: str  # distribution name, e.g. "kernelops-datasets"
    module: str  # its top-level import name
    entry_point: str  # its entry-point name in group "kernelops"
    install: str  # the command that installs it, in words
    provides: dict[str, tuple[str, ...]]  # plugin kind -> names it registers
    aliases: tuple[str, ...] = ()  # other names it registers, recognised in messages only


DATASETS = OptionalPackage(
    dist="kernelops-datasets",
    module="kernelops_datasets",
    entry_point="datasets",
    install="pip install -e plugins/kernelops-datasets (from a clone of the kernelops repository)",
    provides={"datasets": ("stocks", "etth", "energy", "fmri", "mujoco", "fred_md", "nn5_daily")},
    aliases=("etth1",),
)
PACKAGES: tuple[OptionalPackage, ...] = (DATASETS,)


def provider(kind: str, name: str) -> OptionalPackage | None:
    """The optional distribution that registers ``name`` of ``kind``, or None."""
    return next((p for p in PACKAGES if name in p.provides.get(kind, ()) or (kind in p.provides and name in p.aliases)),
                None)


def is_installed(package: OptionalPackage) -> bool:
    """Whether the distribution's module can be imported (without importing it)."""
    return importlib.util.find_spec(package.module) is not None


def missing_hint(kind_noun: str, kind: str, name: str) -> str | None:
    """One line saying which distribution provides ``name`` and what to do, or None.

    Args:
        kind_noun: the singular noun for messages ("dataset").
        kind: the plugin kind ("datasets").
        name: the name that was asked for and is not registered.
    """
    package = provider(kind, name)
    if package is None:
        return None
    if not is_installed(package):
        return (f"{kind_noun} {name!r} is provided by the {package.dist} package, which is not installed; "
                f"install it with: {package.install}")
    return (f"{kind_noun} {name!r} is provided by the {package.dist} package, which is installed but not "
            f"loaded (plugin {package.entry_point!r}; see `kernelops plugins`, KERNELOPS_LOAD_PLUGINS and "
            "KERNELOPS_DISABLE_PLUGINS)")
