"""Mean embeddings of distributions, the maximum mean discrepancy and its witness function.

``mmd2``/``mmd`` and ``witness`` take exact kernels ("rbf", "laplace"), explicit feature maps or
Gram-matrix callables; ``MeanEmbedding`` holds μ = mean φ(x) for one feature map.
"""

from kernelops.embeddings.mean_embedding import MeanEmbedding
from kernelops.embeddings.mmd import mmd, mmd2
from kernelops.embeddings.witness import witness

__all__ = ["MeanEmbedding", "mmd", "mmd2", "witness"]
