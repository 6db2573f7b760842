"""``kernelops datasets``: every registered dataset with its shape, source and description.

Each dataset is built to report its real shape; one whose file is missing (or whose plugin
is broken) is shown as ``missing: <how to get it>`` instead of failing the command. The real
datasets come from the kernelops-datasets plugin; without it they are listed as missing, with
the command that installs it.
"""

from __future__ import annotations

import argparse
import json
import sys

HELP = "list registered datasets with their shape and source"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="*", metavar="NAME", help="only these datasets (default: all)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _shape(row: dict) -> str:
    if row.get("status") != "ok":
        return f"{row['status']}: {row['reason']}"
    return "\u00d7".join(str(s) for s in row["shape"])


def format_table(rows: list[dict]) -> str:
    """One line per dataset: name, shape (windows × seq_len × features) or the problem, description."""
    header = ("DATASET", "SHAPE", "DESCRIPTION")
    ok = [r for r in rows if r.get("status") == "ok"]
    name_w = max([len(header[0])] + [len(r["name"]) for r in rows])
    shape_w = max([len(header[1])] + [len(_shape(r)) for r in ok])
    lines = [f"{header[0].ljust(name_w)}  {header[1].ljust(shape_w)}  {header[2]}"]
    for r in rows:
        alias = f" (alias {', '.join(r['aliases'])})" if r.get("aliases") else ""
        if r.get("status") == "ok":
            lines.append(f"{r['name'].ljust(name_w)}  {_shape(r).ljust(shape_w)}  {r['description']}{alias}")
            if r.get("source"):
                lines.append(f"{'':{name_w}}  {'':{shape_w}}  source: {r['source']}")
        else:  # the reason can be long: give it its own line
            lines.append(f"{r['name'].ljust(name_w)}  {r['status'].ljust(shape_w)}  {r['description']}{alias}")
            lines.append(f"{'':{name_w}}  {'':{shape_w}}  {r['status']}: {r['reason']}")
    lines.append("")
    lines.append("shape = windows \u00d7 seq_len \u00d7 features; use one with: kernelops fit --dataset NAME")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from kernelops.data.resolve import list_datasets

    rows = list_datasets(build=True, names=args.names or None, include_optional=True)
    if args.json:
        json.dump(rows, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(format_table(rows))
    return 0
