"""Empirical mean embeddings μ = Σ_i w_i φ(x_i) of samples under an explicit feature map."""

from __future__ import annotations

from collections.abc import Callable

import torch

from kernelops.embeddings._common import _AtTime, as_samples, check_block_size, feature_sums
from kernelops.embeddings.witness import feature_witness
from kernelops.errors import ShapeError
from kernelops.features.base import FeatureMap
from kernelops.utils.validation import check_tensor


class MeanEmbedding:
    """The mean embedding of a (weighted) sample in the feature space of ``feature_map``.

    Inner products follow ⟨a, b⟩ = Σ conj(a) b (conjugate on the left, i.e. on ``self``).

    Args:
        feature_map: the explicit feature map φ.
        block_size: rows of x passed to φ at once (bounds memory for large samples).

    Attributes:
        mean_: μ after :meth:`fit`, shape (out_dim,), real or complex like the features.
        n_samples_: the number of rows ``fit`` saw.

    Example:
        >>> phi = RandomFourierFeatures(2, 512, seed=0)
        >>> mu_p, mu_q = MeanEmbedding(phi).fit(x), MeanEmbedding(phi).fit(y)
        >>> mu_p.mmd(mu_q), mu_p.witness(z, mu_q)
    """

    def __init__(self, feature_map: FeatureMap, *, block_size: int = 2048) -> None:
        if not isinstance(feature_map, FeatureMap):
            raise ValueError(f"feature_map: expected a kernelops FeatureMap, got {type(feature_map).__name__}")
        self.feature_map = feature_map
        self.block_size = check_block_size(block_size)
        self.mean_: torch.Tensor | None = None
        self.n_samples_: int | None = None
        self._t: torch.Tensor | float | None = None

    def _phi(self) -> Callable[[torch.Tensor], torch.Tensor]:
        return self.feature_map if self._t is None else _AtTime(self.feature_map, self._t)

    def fit(
        self,
        x: torch.Tensor,
        weights: torch.Tensor | None = None,
        *,
        normalize: bool = True,
        t: torch.Tensor | float | None = None,
    ) -> MeanEmbedding:
        """Estimate μ from a sample.

        Args:
            x: the sample; trailing dimensions are flattened and must total ``in_dim``.
            weights: optional per-sample weights.
            normalize: divide the weights by their sum (they must then be non-negative with a
                positive sum). With ``normalize=False`` they are used as given and may be
                signed, e.g. the weights of a conditional mean embedding.
            t: flow time for a time-dependent feature map; kept for :meth:`witness`.

        Shape:
            x: (n, d) (or (n, *trailing) with prod(trailing) = d), weights: (n,).

        Returns:
            self, with ``mean_`` of shape (out_dim,).
        """
        xf = as_samples(x, "x")
        n = xf.shape[0]
        if xf.shape[1] != self.feature_map.in_dim:
            raise ShapeError(
                f"x: expected {self.feature_map.in_dim} values per sample (the feature map's in_dim), "
                f"got shape {tuple(x.shape)}"
            )
        w = None
        if weights is not None:
            check_tensor(weights, "weights", shape=(n,), allow_complex=False)
            w = weights.to(xf.dtype if xf.is_floating_point() else torch.get_default_dtype())
            if normalize:
                if bool((w < 0).any()):
                    raise ValueError("weights: expected non-negative weights with normalize=True "
                                     f"(got minimum {float(w.min())}); pass normalize=False for signed weights")
                total = w.sum()
                if not total > 0:
                    raise ValueError("weights: expected a positive sum with normalize=True, got 0")
                w = w / total
        self._t = t
        total_features, _ = feature_sums(self._phi(), xf, self.block_size, weights=w)
        self.mean_ = total_features / n if w is None else total_features
        self.n_samples_ = n
        return self

    def _require_fit(self) -> torch.Tensor:
        if self.mean_ is None:
            raise RuntimeError("MeanEmbedding is not fitted yet; call .fit(x) first")
        return self.mean_

    def _vector(self, other: MeanEmbedding | torch.Tensor) -> torch.Tensor:
        mean = self._require_fit()
        if isinstance(other, MeanEmbedding):
            v = other._require_fit()
        elif isinstance(other, torch.Tensor):
            v = check_tensor(other, "other", shape=(mean.shape[0],))
        else:
            raise ValueError(f"other: expected a MeanEmbedding or a (D,) tensor, got {type(other).__name__}")
        if v.shape != mean.shape:
            raise ShapeError(f"other: expected an embedding of shape {tuple(mean.shape)}, got {tuple(v.shape)}")
        if v.device != mean.device:
            raise ShapeError(f"other: expected an embedding on {mean.device}, got one on {v.device}")
        return v

    def inner(self, other: MeanEmbedding | torch.Tensor) -> torch.Tensor:
        """⟨μ_self, other⟩ = Σ conj(μ_self) · other.

        Shape:
            other: a MeanEmbedding or (out_dim,). returns: (), complex if either side is.
        """
        mean, v = self._require_fit(), self._vector(other)
        dtype = torch.promote_types(mean.dtype, v.dtype)
        return (mean.to(dtype).conj() * v.to(dtype)).sum()

    def witness(self, x: torch.Tensor, other: MeanEmbedding | torch.Tensor) -> torch.Tensor:
        """f(x) = Re⟨φ(x), μ_self − μ_other⟩, positive where self has more mass than other.

        Shape:
            x: (m, d) (trailing dims flattened as in :meth:`fit`). returns: (m,), real.
        """
        direction = self._require_fit() - self._vector(other)
        xf = as_samples(x, "x")
        if xf.shape[1] != self.feature_map.in_dim:
            raise ShapeError(
                f"x: expected {self.feature_map.in_dim} values per sample (the feature map's in_dim), "
                f"got shape {tuple(x.shape)}"
            )
        return feature_witness(self._phi(), xf, direction, self.block_size)

    def mmd(self, other: MeanEmbedding | torch.Tensor) -> torch.Tensor:
        """‖μ_self − μ_other‖, the (biased, V-statistic) MMD between the two samples.

        Shape:
            returns: (), real.
        """
        diff = self._require_fit() - self._vector(other)
        sq = (diff.abs() ** 2).sum() if diff.is_complex() else (diff * diff).sum()
        return sq.sqrt()

    def __repr__(self) -> str:
        state = "unfitted" if self.mean_ is None else f"n_samples={self.n_samples_}"
        return f"MeanEmbedding({self.feature_map!r}, {state})"
