"""Built-in datasets: Sines is generated; the real ones read files shipped in kernelops/data/files."""

from kernelops.plugins.hookspecs import hookimpl


@hookimpl
def register_datasets(register):
    register("sines", "kernelops.data.sines:Sines",
             description="5-channel sines with random frequency and phase (TimeGAN protocol)")
