"""Built-in dataset: Sines (generated, no file). The real datasets are the kernelops-datasets plugin."""

from __future__ import annotations

from kernelops.plugins.hookspecs import Register, hookimpl


@hookimpl
def register_datasets(register: Register) -> None:
    register("sines", "kernelops.data.sines:Sines",
             description="5-channel sines with random frequency and phase (TimeGAN protocol)")
