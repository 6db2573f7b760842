"""Feature maps φ: R^d → R^D or C^D (random Fourier, linear, spectral MLP) and exact kernels."""

from kernelops.features.base import FeatureMap
from kernelops.features.kernels import (
    l1_distances,
    laplace_kernel,
    median_bandwidth,
    rbf_kernel,
    squared_distances,
)
from kernelops.features.linear import LinearFeatures
from kernelops.features.rff import RandomFourierFeatures

__all__ = [
    "FeatureMap",
    "LinearFeatures",
    "RandomFourierFeatures",
    "l1_distances",
    "laplace_kernel",
    "median_bandwidth",
    "rbf_kernel",
    "squared_distances",
]
