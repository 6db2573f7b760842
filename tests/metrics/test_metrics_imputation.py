"""Imputation metrics: masked errors by hand, CRPS against closed forms and a brute-force loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kernelops.errors import ShapeError
from kernelops.metrics.imputation import CRPS_QUANTILES, crps, masked_mae, masked_mse


def test_masked_errors_use_only_the_scored_entries():
    target = np.array([[[1.0], [2.0], [3.0]]])
    prediction = np.array([[[1.0], [5.0], [100.0]]])
    mask = np.array([[[1], [1], [0]]])  # the 100 is observed, so not scored
    assert masked_mse(prediction, target, mask) == pytest.approx(9.0 / 2)
    assert masked_mae(prediction, target, mask) == pytest.approx(3.0 / 2)
    assert masked_mse(torch.tensor(prediction), torch.tensor(target), torch.tensor(mask).bool()) == pytest.approx(4.5)


def test_crps_of_a_point_mass_is_the_normalised_absolute_error():
    rng = np.random.default_rng(0)
    target = rng.normal(size=(4, 6, 3))
    point = target + rng.normal(size=target.shape)
    mask = rng.random(target.shape) < 0.6
    draws = np.repeat(point[:, None], 7, axis=1)  # 7 identical draws
    expected = np.abs(point - target)[mask].sum() / np.abs(target)[mask].sum()
    assert crps(draws, target, mask) == pytest.approx(expected, rel=1e-10)


def _brute_force(draws: np.ndarray, target: np.ndarray, mask: np.ndarray) -> float:
    total = 0.0
    for q in np.arange(0.05, 1.0, 0.05):
        loss = 0.0
        for idx in zip(*np.nonzero(mask)):
            n, rest = idx[0], idx[1:]
            samples = draws[(n, slice(None), *rest)]
            quantile = np.quantile(samples, q)  # numpy's default: linear interpolation
            y = target[idx]
            loss += 2 * abs((quantile - y) * ((y <= quantile) - q))
        total += loss / np.abs(target[mask.astype(bool)]).sum()
    return total / 19


def test_crps_matches_a_brute_force_loop_over_entries_and_quantiles():
    rng = np.random.default_rng(1)
    draws = rng.normal(size=(3, 11, 5, 2))
    target = rng.normal(size=(3, 5, 2))
    mask = (rng.random(target.shape) < 0.5).astype(float)
    assert crps(draws, target, mask) == pytest.approx(_brute_force(draws, target, mask), rel=1e-10)
    # draws on another axis give the same score
    assert crps(np.moveaxis(draws, 1, -1), target, mask, sample_dim=-1) == pytest.approx(crps(draws, target, mask))


def test_crps_quantile_levels_are_csdis():
    assert len(CRPS_QUANTILES) == 19 and CRPS_QUANTILES[0] == 0.05 and CRPS_QUANTILES[-1] == 0.95


def test_crps_rewards_calibrated_spread():
    # for y ~ N(0, 1), draws from N(0, 1) score better than the same draws shrunk towards 0 or widened
    rng = np.random.default_rng(2)
    target = rng.normal(size=(400, 1, 1)) + 3.0
    draws = rng.normal(size=(400, 64, 1, 1))
    mask = np.ones_like(target)
    good = crps(draws + 3.0, target, mask)
    assert good < crps(0.2 * draws + 3.0, target, mask)
    assert good < crps(3.0 * draws + 3.0, target, mask)


@pytest.mark.parametrize("call, word", [
    (lambda: masked_mse(np.zeros((2, 3)), np.zeros((2, 4)), np.ones((2, 4))), "prediction"),
    (lambda: masked_mse(np.zeros((2, 3)), np.zeros((2, 3)), np.zeros((2, 3))), "no entry"),
    (lambda: masked_mae(np.zeros((2, 3)), np.zeros((2, 3)), np.full((2, 3), 0.5)), "0/1"),
    (lambda: crps(np.zeros((2, 4, 3)), np.zeros((2, 3)), np.ones((2, 3))), "all zero"),
    (lambda: crps(np.zeros((2, 4, 5)), np.ones((2, 3)), np.ones((2, 3))), "draws"),
    (lambda: masked_mse(np.full((2, 3), np.nan), np.zeros((2, 3)), np.ones((2, 3))), "prediction"),
])
def test_bad_inputs_name_the_argument(call, word):
    with pytest.raises(ShapeError, match=word):
        call()
