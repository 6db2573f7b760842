"""What the result-writing benchmark scripts share: the run's metadata and its two files.

Scripts import it as ``from _results import ...`` (Python puts a script's own folder first on the
path).
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

from kernelops.utils.atomic import atomic_write


def run_meta(script: str, args: list[str], *, single_thread: bool = True, **fields: Any) -> dict[str, Any]:
    """The command that reproduces the run, the machine, its load average, the date, and ``fields``.

    ``single_thread``: the script is meant to run under ``OMP_NUM_THREADS=1`` (most are), so the
    command carries that prefix; a script that sets or keeps torch's own thread count passes False.
    The machine names the thread count torch actually uses.
    """
    import torch

    prefix = "OMP_NUM_THREADS=1 " if single_thread else ""
    return {"command": f"{prefix}python benchmarks/{script} " + " ".join(args),
            "machine": " ".join(filter(None, (platform.machine(), platform.processor(), f"{os.cpu_count()} cores,",
                                              f"torch threads {torch.get_num_threads()}"))),
            "load_average": [round(v, 2) for v in os.getloadavg()],
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), **fields}


def write_results(out_dir: str | Path, stem: str, meta: dict[str, Any], rows: list[dict[str, Any]],
                  lines: list[str]) -> None:
    """Write ``OUT/stem.json`` ({"meta", "rows"}) and ``OUT/stem.md`` (``lines``) atomically; print the table."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / f"{stem}.json", lambda fh: fh.write(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n"),
                 mode="w")
    atomic_write(out / f"{stem}.md", lambda fh: fh.write("\n".join(lines) + "\n"), mode="w")
    print("\n".join(lines))
