"""Linear features φ(x) = x, optionally with a constant: φ(x) = [x, c].

With these features mean embeddings are means (plus c), MMD compares means only, and CME
operators are (ridge) linear regressions, which makes them the reference case for tests with
known answers (e.g. the eigenvalues of a linear dynamical system).
"""

from __future__ import annotations

import math

import torch

from kernelops.features.base import FeatureMap


class LinearFeatures(FeatureMap):
    """Identity features, with an optional constant feature.

    Args:
        in_dim: d, the input dimension.
        constant: c; when given a constant feature c is appended (out_dim = d + 1) and the
            kernel becomes x·y + c² (an affine model instead of a linear one).

    Raises:
        ValueError: naming the argument for a non-positive in_dim or a non-finite constant.
    """

    def __init__(self, in_dim: int, constant: float | None = None) -> None:
        super().__init__()
        if isinstance(in_dim, bool) or not isinstance(in_dim, int) or in_dim <= 0:
            raise ValueError(f"in_dim: expected a positive integer, got {in_dim!r}")
        if constant is not None and (isinstance(constant, bool) or not isinstance(constant, (int, float))
                                     or not math.isfinite(constant)):
            raise ValueError(f"constant: expected a finite number or None, got {constant!r}")
        self.in_dim = in_dim
        self.constant = None if constant is None else float(constant)
        self.out_dim = in_dim + (0 if constant is None else 1)
        self.is_complex = False

    def _float(self, x: torch.Tensor) -> torch.Tensor:
        return x if x.is_floating_point() else x.to(torch.get_default_dtype())

    def forward(self, x: torch.Tensor, t: torch.Tensor | float | None = None) -> torch.Tensor:
        """φ(x) = x or [x, c]; ``t`` is ignored.

        Shape:
            x: (..., in_dim). returns: (..., out_dim) in x's floating dtype.
        """
        self.check_input(x, "x")
        x = self._float(x)
        if self.constant is None:
            return x
        return torch.cat([x, x.new_full((*x.shape[:-1], 1), self.constant)], dim=-1)

    def kernel(self, x: torch.Tensor, y: torch.Tensor, t: torch.Tensor | float | None = None) -> torch.Tensor:
        """k(x, y) = x·y (+ c²).

        Shape:
            x: (n, in_dim), y: (m, in_dim). returns: (n, m).
        """
        self.check_input(x, "x")
        self.check_input(y, "y")
        x, y = self._float(x), self._float(y)
        dtype = torch.promote_types(x.dtype, y.dtype)
        gram = x.to(dtype) @ y.to(dtype).transpose(-1, -2)
        return gram if self.constant is None else gram + self.constant**2

    def extra_repr(self) -> str:
        const = "" if self.constant is None else f", constant={self.constant:g}"
        return super().extra_repr() + const
