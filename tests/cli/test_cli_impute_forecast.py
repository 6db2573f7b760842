"""`kernelops impute` / `kernelops forecast` with a tiny trained run, and the facade's conditional sampling."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from kernelops.cli.main import main
from kernelops.data import make_sines
from kernelops.data.scaling import MinMaxScaler
from kernelops.flows import SpectralMeanFlow

SEQ, DIM = 24, 5


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    torch.set_num_threads(1)
    raw = make_sines(64, seq_len=SEQ, features=DIM, seed=0) * 4.0 + 1.0  # original scale [1, 5]
    scaler = MinMaxScaler().fit(raw)
    model = SpectralMeanFlow(depth=1, width=8, sample_steps=2, seed=0)
    model.fit(scaler.transform(raw), steps=3, batch_size=8, warmup=0, progress=False)
    model.scaler_state = scaler.state_dict()
    folder = tmp_path_factory.mktemp("impute") / "run"
    folder.mkdir()
    model.save(folder / "checkpoint.pt")
    return folder


def _blanked(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    full = make_sines(n, seq_len=SEQ, features=DIM, seed=seed + 1) * 4.0 + 1.0
    x = full.copy()
    x[rng.random(x.shape) < fraction] = np.nan
    return x, full


@pytest.mark.parametrize("method", ["gaussian", "replacement", "guidance"])
def test_impute_writes_draws_and_median_and_keeps_observed_entries(run_dir, tmp_path, method, capsys):
    x, _ = _blanked(3, 0.7, seed=0)
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "y.npy"
    status = main(["impute", str(run_dir), "--input", str(tmp_path / "x.npy"), "--samples", "4", "--out", str(out),
                   "--method", method, "--device", "cpu"])
    assert status == 0, capsys.readouterr().err
    draws, median = np.load(out), np.load(tmp_path / "y_median.npy")
    assert draws.shape == (3, 4, SEQ, DIM) and median.shape == (3, SEQ, DIM)
    assert np.isfinite(draws).all() and np.isfinite(median).all()
    observed = ~np.isnan(x)
    assert np.array_equal(draws[np.broadcast_to(observed[:, None], draws.shape)],
                          np.broadcast_to(x[:, None], draws.shape)[np.broadcast_to(observed[:, None], draws.shape)])
    assert np.array_equal(median[observed], x[observed])
    assert draws.dtype == x.dtype  # the input's dtype, so observed values are bit for bit


def test_impute_accepts_one_window(run_dir, tmp_path):
    x, _ = _blanked(1, 0.5, seed=3)
    np.save(tmp_path / "x.npy", x[0].astype(np.float64))
    assert main(["impute", str(run_dir), "--input", str(tmp_path / "x.npy"), "--samples", "2", "--device", "cpu"]) == 0
    draws = np.load(run_dir / "imputed.npy")
    assert draws.shape == (1, 2, SEQ, DIM) and draws.dtype == np.float64


def test_forecast_fills_the_horizon_only(run_dir, tmp_path, capsys):
    _, full = _blanked(2, 0.0, seed=4)
    np.save(tmp_path / "h.npy", full[:, :16])
    out = tmp_path / "f.npy"
    assert main(["forecast", str(run_dir), "--input", str(tmp_path / "h.npy"), "--horizon", "8", "--samples", "3",
                 "--out", str(out), "--device", "cpu"]) == 0, capsys.readouterr().err
    f, med = np.load(out), np.load(tmp_path / "f_median.npy")
    assert f.shape == (2, 3, 8, DIM) and med.shape == (2, 8, DIM) and np.isfinite(f).all()
    # a shorter history leaves the window's first steps free, and still forecasts
    np.save(tmp_path / "h.npy", full[:, :6])
    assert main(["forecast", str(run_dir), "--input", str(tmp_path / "h.npy"), "--horizon", "4", "--samples", "2",
                 "--out", str(out), "--device", "cpu"]) == 0
    assert np.load(out).shape == (2, 2, 4, DIM)


def test_forecast_refuses_a_history_plus_horizon_longer_than_the_window(run_dir, tmp_path, capsys):
    _, full = _blanked(1, 0.0, seed=5)
    np.save(tmp_path / "h.npy", full[:, :20])
    status = main(["forecast", str(run_dir), "--input", str(tmp_path / "h.npy"), "--horizon", "8", "--device", "cpu"])
    err = capsys.readouterr().err
    assert status == 2 and "20 steps" in err and "horizon (8)" in err and "window length 24" in err


@pytest.mark.parametrize("array, words", [
    (np.zeros((2, SEQ, 3)), "3 features"),
    (np.zeros((2, 10, DIM)), "10 steps"),
    (np.zeros((2, 2, SEQ, DIM)), "shape (n, T, d)"),
    (np.full((1, SEQ, DIM), np.inf), "infinite"),
])
def test_impute_bad_inputs_fail_with_one_line(run_dir, tmp_path, capsys, array, words):
    np.save(tmp_path / "x.npy", array)
    status = main(["impute", str(run_dir), "--input", str(tmp_path / "x.npy"), "--device", "cpu"])
    err = capsys.readouterr().err
    assert status == 2 and words in err and err.count("\n") == 1, err


def test_impute_bad_file_and_settings(run_dir, tmp_path, capsys):
    assert main(["impute", str(run_dir), "--input", str(tmp_path / "x.csv")]) == 2
    assert ".npy" in capsys.readouterr().err
    np.save(tmp_path / "x.npy", np.zeros((1, SEQ, DIM)))
    assert main(["impute", str(run_dir), "--input", str(tmp_path / "x.npy"), "--samples", "0"]) == 2
    assert "--samples" in capsys.readouterr().err
    assert main(["impute", str(tmp_path / "nowhere"), "--input", str(tmp_path / "x.npy")]) == 2
    assert "no run folder" in capsys.readouterr().err


def test_facade_conditional_sampling(run_dir):
    model = SpectralMeanFlow.load(run_dir / "checkpoint.pt")
    x, _ = _blanked(2, 0.6, seed=6)
    scaled = torch.from_numpy(MinMaxScaler.from_state_dict(model.scaler_state).transform(x)).float()
    draws = model.sample(5, observed=scaled, seed=1)
    assert draws.shape == (2, 5, SEQ, DIM)
    observed = ~torch.isnan(scaled)
    seen = observed[:, None].expand_as(draws)
    assert torch.equal(draws[seen], scaled[:, None].expand_as(draws)[seen])
    # same seed, same draws; the mask may be given explicitly
    again = model.sample(5, observed=torch.nan_to_num(scaled), mask=observed, seed=1)
    assert torch.equal(draws, again)
    with pytest.raises(ValueError, match="without observed"):
        model.sample(2, mask=observed)
    with pytest.raises(ValueError, match="method"):
        model.sample(2, observed=scaled, method="nope")


def test_gaussian_method_needs_the_window_skip():
    model = SpectralMeanFlow(depth=1, width=8, skip="channel", in_dim=DIM, seq_len=SEQ)
    y = torch.full((1, SEQ, DIM), float("nan"))
    y[0, :4] = 0.5
    with pytest.raises(ValueError, match="window skip"):
        model.sample(2, observed=y, method="gaussian", ema=False)
    draws = model.sample(2, observed=y, method="replacement", ema=False, seed=0)
    assert torch.equal(draws[0, :, :4], torch.full((2, 4, DIM), 0.5))
    # without a method, a model without the window skip uses guidance
    assert torch.equal(model.sample(2, observed=y, ema=False, seed=0),
                       model.sample(2, observed=y, method="guidance", ema=False, seed=0))


def test_a_conditional_run_imputes_and_forecasts_with_its_field_by_default(tmp_path, capsys):
    run = tmp_path / "cond"
    assert main(["fit", "--dataset", "sines", "--conditional", "--steps", "4", "--batch-size", "8", "--depth", "1",
                 "--width", "16", "--sample-steps", "2", "--out", str(run), "--no-progress", "--device", "cpu"]) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["model"]["field"]["conditional"] is True
    capsys.readouterr()
    x, _ = _blanked(2, 0.7, seed=5)
    np.save(tmp_path / "x.npy", x)
    assert main(["impute", str(run), "--input", str(tmp_path / "x.npy"), "--samples", "3", "--device", "cpu"]) == 0
    assert "method field" in capsys.readouterr().out
    draws = np.load(run / "imputed.npy")
    observed = ~np.isnan(x)
    assert draws.shape == (2, 3, SEQ, DIM) and np.isfinite(draws).all()
    assert np.array_equal(draws[:, 0][observed], x[observed])
    np.save(tmp_path / "h.npy", x[:, :12])
    assert main(["forecast", str(run), "--input", str(tmp_path / "h.npy"), "--horizon", "12", "--samples", "2",
                 "--device", "cpu"]) == 0
    assert "method field" in capsys.readouterr().out
    # a run trained without --conditional has no such field: the method is refused by name
    assert main(["impute", str(run_dir_plain(tmp_path)), "--input", str(tmp_path / "x.npy"), "--method", "field",
                 "--device", "cpu"]) == 2
    assert "method='field' needs a mask-conditioned field" in capsys.readouterr().err


def run_dir_plain(tmp_path: Path) -> Path:
    raw = make_sines(16, seq_len=SEQ, features=DIM, seed=0)
    model = SpectralMeanFlow(depth=1, width=8, sample_steps=2, seed=0)
    model.fit(raw, steps=1, batch_size=4, warmup=0, progress=False)
    (tmp_path / "plain").mkdir()
    model.save(tmp_path / "plain" / "checkpoint.pt")
    return tmp_path / "plain"
