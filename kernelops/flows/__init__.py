"""Flows: the neural spectral mean flow and its parts, and the classical MMD flow.

- :class:`SpectralMeanFlow`: the facade (``fit`` / ``sample`` / ``save`` / ``load``).
- :class:`SpectralVelocityField`: the velocity field, an ``nn.Module`` ``field(t, x)``.
- :class:`FlowMatchingObjective`: the loss, with its target as a strategy.
- :class:`Trainer`, :class:`TrainConfig`, :class:`FieldConfig`: the loop and the defaults.
- :func:`sample_field`: integrate any field with any registered solver.
- :func:`sample_conditional`: complete windows given observed entries (imputation, forecasting).
- :class:`MMDFlow`: the classical fixed-kernel MMD gradient flow.

Names are imported on first use, so ``kernelops.flows.config`` (the defaults) loads without torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "MMDFlow": "mmd_flow", "TransportResult": "mmd_flow",
    "SpectralHeads": "spectral",
    "ChainPotential": "potentials", "WindowPotential": "potentials", "SpectralVelocityField": "field",
    "ChannelGaussian": "skip", "WindowGaussian": "skip",
    "FlowMatchingObjective": "objective",
    "Trainer": "trainer", "TrainingInterrupted": "trainer",
    "FieldConfig": "config", "TrainConfig": "config",
    "sample_field": "sampler",
    "sample_conditional": "conditional",
    "SpectralMeanFlow": "spectral_mean_flow",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"kernelops.flows.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'kernelops.flows' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
