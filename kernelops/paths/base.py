"""What a probability path is: the :class:`ProbPath` protocol and the :class:`PathSample` record.

A probability path carries a source q₀ (t = 0, noise) to the data ρ (t = 1) through
conditional paths p_t(x | x₁). Flow matching trains a field v_t against the conditional target
u_t(x_t | x₁) at x_t ~ p_t(· | x₁). Built-ins are in :mod:`kernelops.paths.affine`; a
third-party path need not subclass anything, it only has to provide the methods below
(``kernelops.plugins.testing.check_path`` checks them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch


@dataclass(frozen=True)
class PathSample:
    """One draw for flow matching: the pair, the time, the point on the path and its target.

    Attributes:
        x0: the source draw. x1: the data. t: the times as given, as a tensor (a number becomes a
            0-d tensor; a per-sample (batch,) tensor stays (batch,), convenient to feed a network).
        x_t: the point on the conditional path. u_t: the conditional target velocity at x_t.

    Shape:
        x0, x1, x_t, u_t: (batch, ...). t: () or (batch,) or broadcastable to x_t.
    """

    x0: torch.Tensor
    x1: torch.Tensor
    t: torch.Tensor
    x_t: torch.Tensor
    u_t: torch.Tensor


@runtime_checkable
class ProbPath(Protocol):
    """The methods a (built-in or third-party) probability path provides.

    ``t`` arguments may be a float, a 0-d tensor, a (batch,) tensor (one time per sample,
    broadcast over the trailing dimensions of x) or any tensor broadcastable against x; times
    lie in [0, 1] with 0 = source, 1 = data. Recommended extras: ``name`` (the registry
    name), ``config()`` (constructor keyword arguments, stored in checkpoints), and
    ``marginal_velocity(x, t, mean, cov)``, the closed-form marginal field for Gaussian data,
    used by tests to check that the field is a gradient field.
    """

    def sample_source(
        self,
        shape: tuple[int, ...] | torch.Size,
        *,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> torch.Tensor:
        """Draw x0 from the source q₀. Shape: returns ``shape``."""
        ...

    def interpolate(self, x0: torch.Tensor, x1: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
        """x_t on the conditional path through source draw x0 and data x1. Shape: x0, x1, returns (batch, ...)."""
        ...

    def velocity(self, x0: torch.Tensor, x1: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
        """d/dt interpolate(x0, x1, t), the conditional target u_t(x_t | x1). Shape: as x0."""
        ...

    def sample(self, x0: torch.Tensor, x1: torch.Tensor, t: float | torch.Tensor) -> PathSample:
        """x_t and u_t together (cheaper than two calls)."""
        ...

    def sample_t(
        self,
        batch: int,
        *,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> torch.Tensor:
        """Training times, U[0, 1] or close to it. Shape: returns (batch,)."""
        ...
