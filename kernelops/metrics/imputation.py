"""Scores of imputations and forecasts: errors on the entries that were hidden, and CRPS from draws.

The entries to score are given by ``mask`` (1 = hidden from the model, scored; 0 = observed,
ignored), so the same functions serve imputation (scattered entries) and forecasting (the last
steps of every window).

* :func:`masked_mse`, :func:`masked_mae`: mean squared / absolute error of a point prediction
  (e.g. the median of the draws) over the scored entries.
* :func:`crps`: the continuous ranked probability score of the draws, approximated as CSDI does:
  the quantile (pinball) loss of the draws' empirical quantiles at q = 0.05, 0.10, …, 0.95,
  averaged over q, each normalised by Σ|y| over the scored entries:

      CRPS ≈ (1/19) Σ_q  2 Σ_i |(ŷ_q,i − y_i)(1{y_i ≤ ŷ_q,i} − q)|  /  Σ_i |y_i|,

  with ŷ_q,i the q-quantile of the draws at entry i (linear interpolation between order
  statistics). For a point mass (all draws equal) it is the normalised absolute error
  Σ|ŷ − y| / Σ|y|, since the weights (1 − q) and q average to one half over the 19 levels.

Lower is better for all three. Scores depend on the scale: compute them in the data's original
scale to compare with published tables.
"""

from __future__ import annotations

import numpy as np
import torch

from kernelops.errors import ShapeError
from kernelops.utils.validation import check_tensor

#: CSDI's quantile levels 0.05, 0.10, ..., 0.95
CRPS_QUANTILES = tuple(round(0.05 * k, 2) for k in range(1, 20))


def _tensor(x: object, name: str) -> torch.Tensor:
    if isinstance(x, np.ndarray):
        if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
            raise ShapeError(f"{name}: expected a numeric array, got dtype {x.dtype}")
        x = torch.from_numpy(np.ascontiguousarray(x))
    if not isinstance(x, torch.Tensor):
        raise ShapeError(f"{name}: expected a numpy array or torch.Tensor, got {type(x).__name__}")
    check_tensor(x, name, allow_complex=False)
    return x.double()


def _target_and_mask(target: object, mask: object) -> tuple[torch.Tensor, torch.Tensor]:
    y, m = _tensor(target, "target"), _tensor(mask, "mask")
    if y.shape != m.shape:
        raise ShapeError(f"mask: expected the target's shape {tuple(y.shape)}, got {tuple(m.shape)}")
    if not bool(((m == 0) | (m == 1)).all()):
        raise ShapeError("mask: expected 0/1 (or boolean) entries, 1 marking the entries to score")
    if not bool(m.any()):
        raise ShapeError("mask: no entry is marked for scoring (all zeros)")
    return y, m


def _point(prediction: object, target: object, mask: object) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    y, m = _target_and_mask(target, mask)
    p = _tensor(prediction, "prediction")
    if p.shape != y.shape:
        raise ShapeError(f"prediction: expected the target's shape {tuple(y.shape)}, got {tuple(p.shape)}")
    return p, y, m


def masked_mse(prediction: object, target: object, mask: object) -> float:
    """Mean squared error over the entries where ``mask`` is 1.

    Shape:
        prediction, target, mask: the same shape, e.g. (n, T, d).
    """
    p, y, m = _point(prediction, target, mask)
    return float(((p - y).square() * m).sum() / m.sum())


def masked_mae(prediction: object, target: object, mask: object) -> float:
    """Mean absolute error over the entries where ``mask`` is 1.

    Shape:
        prediction, target, mask: the same shape, e.g. (n, T, d).
    """
    p, y, m = _point(prediction, target, mask)
    return float(((p - y).abs() * m).sum() / m.sum())


def quantile_loss(quantile: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, q: float) -> torch.Tensor:
    """2 Σ_i |(ŷ_i − y_i)(1{y_i ≤ ŷ_i} − q)| m_i, the pinball loss of one quantile prediction (doubled).

    Shape:
        quantile, target, mask: the same shape. returns: ().
    """
    diff = quantile - target
    return 2.0 * ((diff * ((target <= quantile).to(diff.dtype) - q)).abs() * mask).sum()


def crps(draws: object, target: object, mask: object, *, sample_dim: int = 1) -> float:
    """CSDI's normalised quantile-loss approximation of CRPS (module docstring).

    Args:
        draws: K draws per window, stacked along ``sample_dim``.
        target: the true values.
        mask: 1 where an entry is scored.
        sample_dim: the axis of ``draws`` that holds the K draws (default 1: (n, K, T, d)).

    Raises:
        ShapeError: shapes that do not match, a mask that is not 0/1 or selects nothing, or
            scored targets that are all zero (the normaliser Σ|y| would be 0).

    Shape:
        draws: (n, K, T, d) (any shape with the draws on ``sample_dim``). target, mask: draws'
        shape without ``sample_dim``. returns: float.
    """
    y, m = _target_and_mask(target, mask)
    f = _tensor(draws, "draws")
    if not -f.dim() <= sample_dim < f.dim():
        raise ShapeError(f"sample_dim: expected an axis of draws (shape {tuple(f.shape)}), got {sample_dim}")
    f = f.movedim(sample_dim, 0)
    if f.shape[1:] != y.shape:
        raise ShapeError(f"draws: expected the target's shape {tuple(y.shape)} with the draws on axis "
                         f"{sample_dim}, got {tuple(f.movedim(0, sample_dim).shape)}")
    denominator = (y.abs() * m).sum()
    if float(denominator) == 0.0:
        raise ShapeError("target: the scored entries are all zero, so the normalised CRPS is undefined")
    levels = torch.tensor(CRPS_QUANTILES, dtype=f.dtype)
    quantiles = torch.quantile(f, levels, dim=0)  # (19, *target.shape), linear interpolation
    total = sum(quantile_loss(quantiles[i], y, m, q) for i, q in enumerate(CRPS_QUANTILES))
    return float(total / denominator / len(CRPS_QUANTILES))


__all__ = ["CRPS_QUANTILES", "crps", "masked_mae", "masked_mse", "quantile_loss"]
