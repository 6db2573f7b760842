"""Flows: the neural spectral mean flow and its parts, and the classical MMD flow.

Modules, each importing only those listed before it:

- ``config``: every default (:class:`FieldConfig`, :class:`TrainConfig`, :class:`SampleConfig`).
- ``heads``, ``potentials``: the chain's spectral heads; the learned potentials f_t.
- ``gaussian``: the skip Gaussians (:class:`WindowGaussian`, :class:`ChannelGaussian`) and their
  conditioning on observed entries.
- ``field``: :class:`SpectralVelocityField`, the unconditional field ``field(t, x)``;
  ``masked_field``: :class:`MaskedVelocityField`, the mask-conditioned one.
- ``masks``, ``stability``, ``loss``: training masks, the eigenvalue regulariser and
  :class:`FlowMatchingObjective`.
- ``train``: :class:`Trainer` (``train.loop``), EMA and schedule (``train.state``), DDP (``train.ddp``).
- ``sample``: :func:`sample_field` (``sample.ode``), ``sample.shard``, :func:`sample_conditional`
  (``sample.conditional``).
- ``checkpoint``, ``model``: the checkpoint format; :class:`SpectralMeanFlow`, the facade.
- ``mmd_flow``: :class:`MMDFlow`, the classical fixed-kernel MMD gradient flow (apart from the rest).

Names are imported on first use, so ``kernelops.flows.config`` (the defaults) loads without torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "MMDFlow": "mmd_flow", "TransportResult": "mmd_flow",
    "SpectralHeads": "heads",
    "ChainPotential": "potentials", "WindowPotential": "potentials",
    "SpectralVelocityField": "field", "MaskedVelocityField": "masked_field",
    "ChannelGaussian": "gaussian", "WindowGaussian": "gaussian",
    "FlowMatchingObjective": "loss",
    "Trainer": "train.loop", "TrainingInterrupted": "train.loop",
    "FieldConfig": "config", "TrainConfig": "config", "SampleConfig": "config",
    "sample_field": "sample.ode",
    "sample_conditional": "sample.conditional",
    "SpectralMeanFlow": "model",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"kernelops.flows.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'kernelops.flows' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
