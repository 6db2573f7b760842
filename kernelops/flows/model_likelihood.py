"""A trained model's likelihood in the data's own scale: coordinates, scaler and their Jacobian.

:mod:`kernelops.flows.likelihood` gives log p of windows in the field's coordinates x. A
:class:`~kernelops.flows.SpectralMeanFlow` sees data u in [0, 1] as x = 2u − 1, and a run of
``kernelops fit`` scales each feature c of the original data y as u = (y − min_c)/scale_c. Both
maps are affine and act entry by entry, so the densities differ by a constant per window:

    log p_u(u) = log p_x(x) + N·d·log 2,
    log p_y(y) = log p_u(u) + N·Σ_c log(1/scale_c).

``scale="unit"`` takes and scores windows in [0, 1] (what ``fit`` and ``sample`` use);
``scale="original"`` takes windows in the original units and needs the model's stored scaler
(``scaler_state``, set by ``kernelops fit``).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np
import torch
from torch import nn

from kernelops.errors import ShapeError
from kernelops.flows.config import (
    LIKELIHOOD_EXACT_MAX_DIM,
    LIKELIHOOD_PROBES,
    LIKELIHOOD_SOLVER,
    LIKELIHOOD_STEPS,
    LIKELIHOOD_TIME_POWER,
)
from kernelops.flows.likelihood import LogProb, encode, log_prob
from kernelops.flows.sample.ode import resolve_solver

SCALES = ("unit", "original")


def _solver(solver: str | None, solver_kwargs: dict[str, Any] | None, steps: int | None) -> tuple[Any, int | None]:
    """The likelihood's solver and steps: the sampler's resolution with the likelihood's defaults."""
    return resolve_solver(solver or LIKELIHOOD_SOLVER, dict(solver_kwargs or {}), steps, LIKELIHOOD_STEPS)


def to_field_coordinates(model: Any, x: torch.Tensor | np.ndarray, scale: str) -> tuple[torch.Tensor, float]:
    """Windows in the field's coordinates and log |dx/dy| per window (the Jacobian's log-determinant).

    Shape:
        x: (n, N, d) in [0, 1] (``scale="unit"``) or the original units. returns: (n, N, d), a number.
    """
    if scale not in SCALES:
        raise ValueError(f"scale: expected one of {', '.join(SCALES)}, got {scale!r}")
    data = torch.from_numpy(np.asarray(x)) if isinstance(x, np.ndarray) else x
    if not isinstance(data, torch.Tensor) or data.dim() != 3 or not data.is_floating_point():
        got = tuple(data.shape) if isinstance(data, torch.Tensor) else type(x).__name__
        raise ShapeError(f"x: expected float windows of shape (n, N, d), got {got}")
    if model.in_dim is not None and data.shape[2] != model.in_dim:
        raise ShapeError(f"x: expected {model.in_dim} features (the model's d), got shape {tuple(data.shape)}")
    if model.seq_len is not None and data.shape[1] != model.seq_len and (
            model.field_config.potential == "window" or model.field_config.skip == "window"):
        raise ShapeError(f"x: this model scores windows of {model.seq_len} steps (its window potential or skip), "
                         f"got shape {tuple(data.shape)}")
    data = data.to(device=model.device, dtype=model.dtype)
    length, features = data.shape[1], data.shape[2]
    log_det = length * features * math.log(2.0)
    if scale == "original":
        if not model.scaler_state:
            raise ValueError("scale='original': this model carries no scaler (trained by SpectralMeanFlow.fit on "
                             "[0, 1] data, not by `kernelops fit`); pass windows in [0, 1] with scale='unit'")
        from kernelops.data.scaling import MinMaxScaler

        scaler = MinMaxScaler.from_state_dict(model.scaler_state)
        data = scaler.transform(data)
        assert scaler.scale_ is not None
        log_det += length * float(-np.log(scaler.scale_).sum())
    return model.to_model(data), log_det


def window_log_prob(model: Any, field: nn.Module, x: torch.Tensor | np.ndarray, *, steps: int | None = None,
                    exact: bool | None = None, solver: str | None = None, solver_kwargs: dict[str, Any] | None = None,
                    scale: str = "unit", probes: int = LIKELIHOOD_PROBES, exact_max_dim: int = LIKELIHOOD_EXACT_MAX_DIM,
                    seed: int = 0, time_power: float = LIKELIHOOD_TIME_POWER, batch_size: int = 256) -> LogProb:
    """log p of windows under ``model`` (its ``field``), in nats per window of the given scale.

    Args:
        model: a built :class:`~kernelops.flows.SpectralMeanFlow`.
        field: the field to integrate (the model's EMA or raw one).
        x: windows, in [0, 1] or the original units (``scale``); a tensor with ``requires_grad``
            gives a result differentiable in it.
        steps, solver, solver_kwargs: the ODE solver (default ``LIKELIHOOD_SOLVER`` with ``LIKELIHOOD_STEPS``).
        exact, probes, exact_max_dim, seed, time_power, batch_size: as :func:`kernelops.flows.likelihood.log_prob`.
        scale: "unit" or "original" (module docstring).

    Returns:
        :class:`~kernelops.flows.likelihood.LogProb`; its ``noise`` in the field's coordinates.

    Shape:
        x: (n, N, d).
    """
    coords, log_det = to_field_coordinates(model, x, scale)
    ode, steps = _solver(solver, solver_kwargs, steps)
    result = log_prob(field, coords, model.path, ode, steps, exact=exact, probes=probes, exact_max_dim=exact_max_dim,
                      seed=seed, time_power=time_power, batch_size=batch_size)
    return replace(result, log_prob=result.log_prob + log_det)


def window_encode(model: Any, field: nn.Module, x: torch.Tensor | np.ndarray, *, steps: int | None = None,
                  solver: str | None = None, solver_kwargs: dict[str, Any] | None = None, scale: str = "unit",
                  time_power: float = LIKELIHOOD_TIME_POWER, batch_size: int = 1000) -> torch.Tensor:
    """The source states x₀ that the model's flow carries to windows ``x`` (the reverse ODE).

    Shape:
        x: (n, N, d) in [0, 1] or the original units (``scale``). returns: (n, N, d), the source's coordinates.
    """
    coords, _ = to_field_coordinates(model, x, scale)
    ode, steps = _solver(solver, solver_kwargs, steps)
    return encode(field, coords, ode, steps, time_power=time_power, batch_size=batch_size)[0]


__all__ = ["SCALES", "to_field_coordinates", "window_encode", "window_log_prob"]
