"""Feature maps φ: R^d → R^D or C^D (random Fourier, linear, spectral MLP) and exact kernels."""

from kernelops.features.base import FeatureMap

__all__ = ["FeatureMap"]
