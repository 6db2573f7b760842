"""Built-in datasets: Sines and the non-Gaussian family (generated). The real datasets are the kernelops-datasets plugin."""

from __future__ import annotations

from kernelops.plugins.hookspecs import Register, hookimpl


@hookimpl
def register_datasets(register: Register) -> None:
    register("sines", "kernelops.data.sines:Sines",
             description="5-channel sines with random frequency and phase (TimeGAN protocol)")
    # windows far from Gaussian with known laws (kernelops.data.nongaussian, docs/datasets.md)
    for name, what in (("oscillations", "5 sinusoids of fixed amplitude, 3 to 6 periods per window"),
                       ("regimes", "5 channels switching between two levels (Markov chain) plus bounded noise"),
                       ("spikes", "5 slow sinusoids with sparse one-step jumps"),
                       ("counts", "5 channels of Poisson counts with a smooth rate, clipped, divided by the cap"),
                       ("mixture", "windows that are one of two ramps (weights 0.3 / 0.7), plus shift and noise")):
        register(name, f"kernelops.data.nongaussian:{name.capitalize()}", description=what)
