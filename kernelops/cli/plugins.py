"""``kernelops plugins``: which plugins loaded, from which distribution, and what they provide.

A plugin that failed to import or register is listed with the reason instead of breaking the
command, so this is the first thing to run when a name is "unknown".
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

HELP = "list installed plugins, their status and the names they provide"

_KIND_LABEL = {"feature_maps": "feature maps", "paths": "paths", "solvers": "solvers", "datasets": "datasets"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--all", action="store_true",
                        help="also list every registered name with its description and provider")


def collect(include_entries: bool = True) -> dict[str, Any]:
    """The report as plain data: ``{"plugins": [...], "entries": {kind: [...]}}``."""
    import kernelops as ko
    from kernelops.plugins.manager import get_host

    plugins = [
        {"name": p.name, "builtin": p.builtin, "dist": p.dist, "version": p.version,
         "status": p.status, "reason": p.reason, "provides": {k: list(v) for k, v in p.provides.items()}}
        for p in ko.plugin_report()
    ]
    out: dict[str, Any] = {"plugins": plugins}
    if include_entries:
        host = get_host()
        out["entries"] = {
            kind: [{"name": e.name, "aliases": list(e.aliases), "description": e.description,
                    "plugin": e.source.plugin} for e in registry]
            for kind, registry in host.registries.items()
        }
    return out


def _origin(p: dict[str, Any]) -> str:
    if p["builtin"]:
        return "built-in"
    if p["dist"]:
        return f"{p['dist']} {p['version'] or ''}".strip()
    return "runtime"


def _provides(p: dict[str, Any]) -> str:
    parts = [f"{_KIND_LABEL.get(k, k)}: {', '.join(v)}" for k, v in p["provides"].items() if v]
    return "; ".join(parts) or "-"


def format_table(report: dict[str, Any], show_entries: bool = False) -> str:
    """Human-readable table of :func:`collect` output."""
    rows = [(p["name"], _origin(p), p["status"], _provides(p)) for p in report["plugins"]]
    header = ("PLUGIN", "FROM", "STATUS", "PROVIDES")
    widths = [max(len(header[i]), *(len(r[i]) for r in rows)) if rows else len(header[i]) for i in range(3)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header[:3], widths)) + "  " + header[3]]
    for p, row in zip(report["plugins"], rows):
        lines.append("  ".join(c.ljust(w) for c, w in zip(row[:3], widths)) + "  " + row[3])
        if p["reason"]:
            lines.append(" " * (widths[0] + 2) + f"reason: {p['reason']}")
    failed = sum(p["status"] == "failed" for p in report["plugins"])
    lines.append("")
    lines.append(f"{len(rows)} plugin(s), {failed} failed")
    if show_entries and "entries" in report:
        for kind, entries in report["entries"].items():
            lines.append("")
            lines.append(f"{_KIND_LABEL.get(kind, kind)}:")
            width = max((len(e["name"]) for e in entries), default=0)
            for e in entries:
                alias = f" (alias {', '.join(e['aliases'])})" if e["aliases"] else ""
                lines.append(f"  {e['name'].ljust(width)}  {e['description']}{alias}  [{e['plugin']}]")
            if not entries:
                lines.append("  (none)")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    report = collect(include_entries=True)
    if args.json:
        if not args.all:
            report["entries"] = {k: [e["name"] for e in v] for k, v in report["entries"].items()}
        json.dump(report, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(format_table(report, show_entries=args.all))
    return 0
