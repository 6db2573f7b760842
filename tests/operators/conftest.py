"""Known-answer systems shared by the operator tests."""

from __future__ import annotations

import math

import pytest
import torch

RHO, THETA = 0.9, 0.3


def rotation(rho: float, theta: float, dtype=torch.float64) -> torch.Tensor:
    c, s = math.cos(theta), math.sin(theta)
    return rho * torch.tensor([[c, -s], [s, c]], dtype=dtype)


@pytest.fixture
def rotation_trajectories() -> torch.Tensor:
    """z^{n+1} = ρ R(θ) z^n + 0.01·noise, ρ = 0.9, θ = 0.3: 20 trajectories × 60 steps, float64."""
    g = torch.Generator().manual_seed(1)
    a = rotation(RHO, THETA)
    num, steps = 20, 60
    z = torch.empty(num, steps, 2, dtype=torch.float64)
    z[:, 0] = 3 * torch.randn(num, 2, generator=g, dtype=torch.float64)
    for n in range(1, steps):
        z[:, n] = z[:, n - 1] @ a.T + 0.01 * torch.randn(num, 2, generator=g, dtype=torch.float64)
    return z
