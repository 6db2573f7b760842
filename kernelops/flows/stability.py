"""The eigenvalue (stability) regulariser of the chain potential.

The chain potential's hidden-chain operators are held by their spectra
(:class:`~kernelops.flows.heads.SpectralHeads`), so a prior on the dynamics is a penalty on
eigenvalues: R(λ) = mean_i (|λ_i| − ρ)², which pulls every mode onto the circle of radius ρ. At
ρ = 1 it asks for undamped modes, as a conservative system (a pendulum without friction, whose
Koopman operator is unitary) has. The loss adds w·R (``TrainConfig.stability_weight``);
docs/spectral_mean_flow.md, "The stability regulariser", says what it targets.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from kernelops.flows.potentials import ChainPotential


def eigenvalue_penalty(eigvals: torch.Tensor, radius: float = 1.0) -> torch.Tensor:
    """R(λ) = mean_i (|λ_i| − ρ)² over all eigenvalues (module docstring).

    Args:
        eigvals: eigenvalues, complex or real, any shape (at least one).
        radius: ρ > 0.

    Shape:
        eigvals: (...). returns: () real, differentiable in ``eigvals``.
    """
    if not (isinstance(radius, (int, float)) and math.isfinite(radius) and radius > 0):
        raise ValueError(f"radius: expected a positive finite number, got {radius!r}")
    if not isinstance(eigvals, torch.Tensor) or eigvals.numel() == 0:
        raise ValueError("eigvals: expected a non-empty tensor of eigenvalues")
    return (eigvals.abs() - radius).square().mean()


def chain_eigenvalues(field: nn.Module) -> torch.Tensor:
    """Every eigenvalue of a field's chain potential: the current-law heads', then the data heads'.

    Accepts a :class:`~kernelops.flows.SpectralVelocityField` or a :class:`ChainPotential`.

    Raises:
        ValueError: the field's potential is not a spectral chain (the window potential has no
            eigenvalues to regularise).

    Shape:
        returns: (2 r,) complex.
    """
    potential = getattr(field, "potential_net", field)
    if not isinstance(potential, ChainPotential):
        raise ValueError(f"stability_weight > 0: expected a field with potential='chain' (its spectral heads hold "
                         f"the eigenvalues), got {type(potential).__name__}; set stability_weight=0")
    return torch.cat([potential.heads_s.eigvals().flatten(), potential.heads_o.eigvals().flatten()])


__all__ = ["chain_eigenvalues", "eigenvalue_penalty"]
