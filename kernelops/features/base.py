"""The FeatureMap protocol that built-in and third-party feature maps implement.

A feature map is an explicit, finite-dimensional map φ: R^d → H = R^D or C^D, written as a
``torch.nn.Module``. The kernel it induces is k(x, y) = Re⟨φ(x), φ(y)⟩ with
⟨a, b⟩ = Σ conj(a) b. Time-dependent feature maps φ_t (used by spectral mean flows) take the
flow time as a second argument; time-independent ones ignore it.

Plugin authors subclass :class:`FeatureMap`, set ``in_dim``, ``out_dim`` and ``is_complex``,
implement :meth:`FeatureMap.forward`, and override :meth:`FeatureMap.kernel` when a closed
form exists. ``kernelops.plugins.testing.check_feature_map`` checks all of it.
"""

from __future__ import annotations

import torch
from torch import nn

from kernelops.errors import ShapeError
from kernelops.utils.validation import check_tensor


class FeatureMap(nn.Module):
    """Base class of explicit feature maps φ: R^d → R^D or C^D.

    Attributes:
        in_dim: d, the size of the last dimension of the input.
        out_dim: D, the size of the last dimension of the output.
        is_complex: whether the features are complex.
    """

    in_dim: int
    out_dim: int
    is_complex: bool = False

    def forward(self, x: torch.Tensor, t: torch.Tensor | float | None = None) -> torch.Tensor:
        """Features of ``x``.

        Shape:
            x: (..., d). t: None, a float, or a tensor broadcastable to x.shape[:-1].
            returns: (..., D), real or complex.
        """
        raise NotImplementedError

    def kernel(self, x: torch.Tensor, y: torch.Tensor, t: torch.Tensor | float | None = None) -> torch.Tensor:
        """Gram matrix k(x_i, y_j) = Re⟨φ(x_i), φ(y_j)⟩ from the explicit features.

        Subclasses with a closed-form kernel (e.g. the RBF kernel that random Fourier features
        approximate) override this with the exact expression.

        Shape:
            x: (n, d), y: (m, d). returns: (n, m), real.
        """
        self.check_input(x, "x")
        self.check_input(y, "y")
        fx, fy = self(x, t), self(y, t)
        return (fx.conj() @ fy.transpose(-1, -2)).real if fx.is_complex() else fx @ fy.transpose(-1, -2)

    def check_input(self, x: torch.Tensor, name: str = "x") -> torch.Tensor:
        """Raise a clear error unless ``x`` is a finite real tensor of shape (..., in_dim)."""
        check_tensor(x, name, min_ndim=1, allow_complex=False)
        if x.shape[-1] != self.in_dim:
            raise ShapeError(
                f"{name}: expected last dimension {self.in_dim} (the feature map's in_dim), "
                f"got shape {tuple(x.shape)}"
            ) from None
        return x

    def extra_repr(self) -> str:
        kind = "complex" if self.is_complex else "real"
        return f"in_dim={self.in_dim}, out_dim={self.out_dim}, {kind}"
