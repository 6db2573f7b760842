"""MinMaxScaler and sliding_windows against values computed by hand."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from kernelops.data import MinMaxScaler, sliding_windows
from kernelops.errors import DataError, ShapeError


def test_fit_records_per_feature_min_and_max_over_all_leading_axes():
    x = np.array([[[1.0, -2.0], [3.0, 5.0]], [[-4.0, 0.5], [2.0, 7.0]]])  # (2, 2, 2)
    sc = MinMaxScaler(eps=0.0).fit(x)
    np.testing.assert_array_equal(sc.min_, [-4.0, -2.0])
    np.testing.assert_array_equal(sc.max_, [3.0, 7.0])
    y = sc.transform(x)
    # closed form (x - min) / (max - min) with eps = 0: extremes map to exactly 0 and 1
    np.testing.assert_allclose(y[0, 0], [(1 + 4) / 7, 0.0])
    assert y[..., 0].min() == 0.0 and y[..., 0].max() == 1.0
    assert y[..., 1].min() == 0.0 and y[..., 1].max() == 1.0


def test_eps_enters_the_denominator():
    x = np.array([[0.0], [2.0]])
    sc = MinMaxScaler(eps=0.5).fit(x)
    np.testing.assert_allclose(sc.transform(np.array([[2.0]])), [[2.0 / 2.5]])
    # a constant feature maps to 0 instead of dividing by zero
    const = MinMaxScaler().fit(np.full((5, 1), 3.0))
    np.testing.assert_array_equal(const.transform(np.full((5, 1), 3.0)), 0.0)


@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_round_trip_and_type_preserved(kind):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(50, 3)) * [1.0, 100.0, 1e-3] + [0.0, -7.0, 4.0]
    if kind == "torch":
        x = torch.tensor(x, dtype=torch.float64)
    sc = MinMaxScaler().fit(x)
    y = sc.transform(x)
    assert type(y) is type(x)
    back = sc.inverse_transform(y)
    if kind == "torch":
        assert back.dtype == torch.float64
        back, x = back.numpy(), x.numpy()
    np.testing.assert_allclose(back, x, rtol=0, atol=1e-12 * np.abs(x).max())
    assert np.asarray(y).min() >= 0.0 and np.asarray(y).max() <= 1.0


def test_float32_stays_float32():
    x = np.random.default_rng(0).random((10, 2)).astype(np.float32)
    sc = MinMaxScaler().fit(x)
    assert sc.transform(x).dtype == np.float32
    assert sc.transform(torch.from_numpy(x)).dtype == torch.float32


def test_state_dict_round_trip_is_plain_json_and_torch_safe(tmp_path):
    x = np.random.default_rng(2).normal(size=(30, 4))
    sc = MinMaxScaler(eps=1e-5).fit(x)
    state = json.loads(json.dumps(sc.state_dict()))  # plain lists and floats only
    torch.save({"scaler": sc.state_dict()}, tmp_path / "s.pt")
    loaded = torch.load(tmp_path / "s.pt", weights_only=True)["scaler"]
    for st in (state, loaded):
        sc2 = MinMaxScaler.from_state_dict(st)
        assert sc2.eps == 1e-5
        np.testing.assert_array_equal(sc2.transform(x), sc.transform(x))
        np.testing.assert_array_equal(sc2.inverse_transform(x), sc.inverse_transform(x))


def test_identity_scaler_changes_nothing():
    sc = MinMaxScaler.identity(3)
    x = np.random.default_rng(0).random((4, 5, 3))
    np.testing.assert_array_equal(sc.transform(x), x)
    np.testing.assert_array_equal(sc.inverse_transform(x), x)
    np.testing.assert_array_equal(MinMaxScaler.from_state_dict(sc.state_dict()).inverse_transform(x), x)


def test_unfitted_and_bad_input_errors():
    sc = MinMaxScaler()
    assert not sc.fitted
    with pytest.raises(DataError, match="not fitted"):
        sc.transform(np.zeros((2, 2)))
    sc.fit(np.zeros((3, 2)))
    with pytest.raises(ShapeError, match=r"expected shape \(\.\.\., 2\), got \(3, 5\)"):
        sc.transform(np.zeros((3, 5)))
    with pytest.raises(ShapeError, match="expected shape"):
        MinMaxScaler().fit(np.zeros(4))
    with pytest.raises(DataError, match="infinite"):
        MinMaxScaler().fit(np.array([[1.0], [np.inf]]))
    with pytest.raises(DataError, match="feature 1 has no values"):
        MinMaxScaler().fit(np.array([[1.0, np.nan], [2.0, np.nan]]))
    # NaN is a missing value: the range is the observed one, and NaN stays NaN
    sc = MinMaxScaler(eps=0.0).fit(np.array([[1.0], [np.nan], [3.0]]))
    np.testing.assert_array_equal(sc.transform(np.array([[2.0], [np.nan]])), [[0.5], [np.nan]])


def test_sliding_windows_count_and_values():
    series = np.arange(30, dtype=np.float64).reshape(10, 3)  # row t is [3t, 3t+1, 3t+2]
    w = sliding_windows(series, window=4, stride=1)
    assert w.shape == (7, 4, 3)  # (10 - 4) // 1 + 1
    for i in range(7):
        np.testing.assert_array_equal(w[i], series[i:i + 4])
    w3 = sliding_windows(series, window=4, stride=3)
    assert w3.shape == (3, 4, 3)  # (10 - 4) // 3 + 1
    np.testing.assert_array_equal(w3[:, 0, 0], [0.0, 9.0, 18.0])
    # the result owns its memory: writing one window leaves the overlapping one alone
    w[0, 1, 0] = -1.0
    assert w[1, 0, 0] == 3.0 and series[1, 0] == 3.0
    assert sliding_windows(series, window=10).shape == (1, 10, 3)


def test_sliding_windows_torch_matches_numpy():
    series = np.random.default_rng(0).normal(size=(12, 2))
    wt = sliding_windows(torch.tensor(series), window=5, stride=2)
    assert isinstance(wt, torch.Tensor) and wt.is_contiguous()
    np.testing.assert_array_equal(wt.numpy(), sliding_windows(series, window=5, stride=2))


def test_sliding_windows_errors():
    series = np.zeros((5, 2))
    with pytest.raises(DataError, match=r"window: 6 steps is longer than the series \(5 steps\)"):
        sliding_windows(series, window=6)
    with pytest.raises(DataError, match="at least 2"):
        sliding_windows(series, window=1)
    with pytest.raises(DataError, match="stride"):
        sliding_windows(series, window=2, stride=0)
    with pytest.raises(ShapeError, match=r"\(T, d\)"):
        sliding_windows(np.zeros(5), window=2)
