"""Flows: the neural spectral mean flow (SpectralMeanFlow) and the classical MMD flow (MMDFlow)."""

from kernelops.flows.mmd_flow import MMDFlow, TransportResult
from kernelops.flows.potential import SpectralPotential, block_chain_evaluate
from kernelops.flows.spectral import SpectralHeads
from kernelops.flows.spectral_mean_flow import SpectralMeanFlow

__all__ = ["MMDFlow", "SpectralHeads", "SpectralMeanFlow", "SpectralPotential", "TransportResult",
           "block_chain_evaluate"]
