"""Run folders for the CLI tests, as `kernelops fit` leaves them."""

from __future__ import annotations

import json
from pathlib import Path

from kernelops.data import make_sines
from kernelops.flows import SpectralMeanFlow


def tiny_sines_run(tmp_path: Path) -> Path:
    """A run folder as `kernelops fit --dataset sines` leaves it, with a 2-step model."""
    run = tmp_path / "run"
    run.mkdir()
    model = SpectralMeanFlow(depth=1, width=8, seed=0, sample_steps=4)
    model.fit(make_sines(64, seed=0), steps=2, batch_size=16, progress=False)
    model.save(run / "checkpoint.pt")
    (run / "config.json").write_text(json.dumps({"source": {"dataset": "sines", "data": None, "window": None,
                                                            "stride": None, "columns": None}}))
    return run
