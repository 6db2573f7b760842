"""`kernelops loglik` with a tiny trained run: the values the facade gives, in the original scale."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from kernelops.cli.main import main
from kernelops.data import make_sines
from kernelops.data.scaling import MinMaxScaler
from kernelops.flows import SpectralMeanFlow

SEQ, DIM = 6, 2


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    torch.set_num_threads(1)
    raw = make_sines(64, seq_len=SEQ, features=DIM, seed=0) * 40.0 + 1.0  # the original scale: ranges of a few tens
    scaler = MinMaxScaler().fit(raw)
    model = SpectralMeanFlow(depth=1, width=8, seed=0, potential="window")
    model.fit(scaler.transform(raw), steps=3, batch_size=8, warmup=0, progress=False)
    model.scaler_state = scaler.state_dict()
    folder = tmp_path_factory.mktemp("loglik") / "run"
    folder.mkdir()
    model.save(folder / "checkpoint.pt")
    return folder


def test_loglik_writes_the_facades_values_in_the_original_scale(run_dir, tmp_path, capsys):
    x = make_sines(4, seq_len=SEQ, features=DIM, seed=1) * 40.0 + 1.0
    np.save(tmp_path / "x.npy", x)
    status = main(["loglik", str(run_dir), "--input", str(tmp_path / "x.npy"), "--out", str(tmp_path / "l.npy"),
                   "--steps", "4", "--device", "cpu"])
    out = capsys.readouterr().out
    assert status == 0
    assert "exact divergence" in out and "NFE 16" in out and "bits per value" in out
    values, errors = np.load(tmp_path / "l.npy"), np.load(tmp_path / "l_stderr.npy")
    model = SpectralMeanFlow.load(run_dir / "checkpoint.pt")
    scaler = MinMaxScaler.from_state_dict(model.scaler_state)
    unit = model.log_prob(scaler.transform(x), steps=4).log_prob.double().numpy()
    # the [0, 1] density times the scaler's Jacobian, 1/scale_c for each of the SEQ values of feature c
    np.testing.assert_allclose(values, unit - SEQ * np.log(scaler.scale_).sum(), rtol=1e-5)
    assert float(np.log(scaler.scale_).sum()) > 1.0  # a scale far from 1, so the term matters
    assert values.shape == (4,) and np.all(errors == 0)


def test_loglik_hutchinson_reports_standard_errors(run_dir, tmp_path, capsys):
    np.save(tmp_path / "x.npy", make_sines(3, seq_len=SEQ, features=DIM, seed=1) * 40.0 + 1.0)
    status = main(["loglik", str(run_dir), "--input", str(tmp_path / "x.npy"), "--out", str(tmp_path / "l.npy"),
                   "--steps", "4", "--hutchinson", "--probes", "8", "--device", "cpu"])
    assert status == 0 and "Hutchinson, 8 probes" in capsys.readouterr().out
    assert np.all(np.load(tmp_path / "l_stderr.npy") > 0)


@pytest.mark.parametrize("args, message", [
    (["--probes", "1", "--hutchinson"], "--probes"),
    (["--solver", "nope"], "nope"),
    (["--steps", "0"], "--steps"),
])
def test_loglik_bad_settings_are_one_line_errors(run_dir, tmp_path, capsys, args, message):
    np.save(tmp_path / "x.npy", np.ones((2, SEQ, DIM)))
    status = main(["loglik", str(run_dir), "--input", str(tmp_path / "x.npy"), "--device", "cpu", *args])
    err = capsys.readouterr().err
    assert status == 2 and message in err and err.count("\n") == 1


def test_loglik_refuses_missing_values_and_wrong_shapes(run_dir, tmp_path, capsys):
    x = np.ones((2, SEQ, DIM))
    x[0, 0, 0] = np.nan
    np.save(tmp_path / "nan.npy", x)
    assert main(["loglik", str(run_dir), "--input", str(tmp_path / "nan.npy"), "--device", "cpu"]) == 2
    assert "NaN" in capsys.readouterr().err
    np.save(tmp_path / "wide.npy", np.ones((2, SEQ, DIM + 1)))
    assert main(["loglik", str(run_dir), "--input", str(tmp_path / "wide.npy"), "--device", "cpu"]) == 2
    assert "features" in capsys.readouterr().err
