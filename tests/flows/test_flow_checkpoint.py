"""Checkpoints: exact resume, identical samples after load, safe loading and clear errors."""

from __future__ import annotations

import json
import pickle
import signal
from pathlib import Path

import pytest
import torch

import kernelops as ko
from kernelops.errors import CheckpointError
from kernelops.flows import SpectralMeanFlow
from kernelops.io.checkpoint import load_checkpoint, save_checkpoint


def _data(n=40):
    return 0.5 + 0.3 * torch.rand(n, 4, 2, generator=torch.Generator().manual_seed(0))


def _model(**kw):
    args = dict(path="vp", depth=1, width=4, time_features=2, seed=3)
    args.update(kw)
    return SpectralMeanFlow(**args)


F64 = torch.float64
FIT = dict(batch_size=8, lr=1e-2, warmup=2, progress=False)


def test_resume_after_ctrl_c_reproduces_the_uninterrupted_loss_sequence(tmp_path):
    data = _data()
    full = _model().fit(data, steps=6, **FIT)
    reference = [loss for _, loss, _ in full.history]

    ckpt = tmp_path / "run.pt"

    def ctrl_c_after_three(step, loss, lr):
        if step == 3:
            signal.raise_signal(signal.SIGINT)  # handled between steps: checkpoint, then KeyboardInterrupt

    interrupted = _model()
    with pytest.raises(KeyboardInterrupt):
        interrupted.fit(data, steps=6, checkpoint=ckpt, checkpoint_every=100, callback=ctrl_c_after_three, **FIT)
    assert interrupted.step == 3
    torch.manual_seed(12345)  # the global RNG is part of the checkpoint too
    resumed = SpectralMeanFlow.load(ckpt)
    assert resumed.step == 3
    resumed.fit(data, steps=6, progress=False)  # settings come from the checkpoint
    losses = [loss for _, loss, _ in interrupted.history] + [loss for _, loss, _ in resumed.history]
    assert losses == reference  # bit-for-bit on CPU
    for a, b in zip(full.field.parameters(), resumed.field.parameters()):
        assert torch.equal(a, b)
    for a, b in zip(full.ema.module.parameters(), resumed.ema.module.parameters()):
        assert torch.equal(a, b)


def test_save_load_gives_identical_samples(tmp_path):
    model = _model(path="ot").fit(_data(), steps=3, **FIT)
    model.save(tmp_path / "m.pt")
    loaded = SpectralMeanFlow.load(tmp_path / "m.pt", map_location="cpu")
    assert torch.equal(model.sample(6, steps=3, seed=7), loaded.sample(6, steps=3, seed=7))
    assert loaded.config() == model.config()
    assert not loaded.training


def test_checkpoint_contents_are_safe_primitives(tmp_path):
    model = _model().fit(_data(), steps=2, **FIT)
    model.scaler_state = {"min": [0.0, 0.0], "scale": [1.0, 1.0]}
    model.save(tmp_path / "m.pt")
    state = torch.load(tmp_path / "m.pt", weights_only=True)
    assert state["format"] == "kernelops.spectral_mean_flow" and state["format_version"] == 3
    assert state["trainer"]["step"] == 2
    json.dumps(state["config"])  # config is plain JSON
    json.dumps(state["train_config"])
    assert set(state["trainer"]["rng"]) == {"batch", "time", "noise"} and set(state["rng"]) == {"torch_cpu"}
    assert all(v.dtype == torch.uint8 for v in (*state["rng"].values(), *state["trainer"]["rng"].values()))
    assert state["config"]["plugins_needed"][0]["name"] == "vp"
    assert state["plugins"]["kernelops.plugins.builtin.paths"] == ko.__version__
    assert state["scaler"] == {"min": [0.0, 0.0], "scale": [1.0, 1.0]}
    assert state["trainer"]["optimizer"]["state"]  # AdamW moments are saved


def test_missing_corrupt_and_foreign_checkpoints(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        SpectralMeanFlow.load(tmp_path / "missing.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match=r"bad\.pt: not a kernelops checkpoint \(.*torch zip archive"):
        SpectralMeanFlow.load(bad)
    # truncated file
    good = tmp_path / "good.pt"
    _model().fit(_data(), steps=1, **FIT).save(good)
    (tmp_path / "cut.pt").write_bytes(good.read_bytes()[:200])
    with pytest.raises(CheckpointError, match=r"cut\.pt: not a kernelops checkpoint, or a truncated or damaged one"):
        SpectralMeanFlow.load(tmp_path / "cut.pt")
    # arbitrary pickled objects are refused (weights_only)
    torch.save({"format": "kernelops.spectral_mean_flow", "obj": _Evil()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match=r"evil\.pt: not a kernelops checkpoint \(it holds Python objects") as info:
        load_checkpoint(tmp_path / "evil.pt")
    assert "weights_only" not in str(info.value)  # never torch's advice to load it unsafely
    save_checkpoint(tmp_path / "other.pt", {"format": "something.else"})
    with pytest.raises(CheckpointError, match="not a kernelops.spectral_mean_flow checkpoint"):
        SpectralMeanFlow.load(tmp_path / "other.pt")
    save_checkpoint(tmp_path / "nokeys.pt", {"format": "kernelops.spectral_mean_flow", "format_version": 2, "config": {}})
    with pytest.raises(CheckpointError, match="no 'train_config' entry"):
        SpectralMeanFlow.load(tmp_path / "nokeys.pt")
    # a checkpoint of the first format (kernelops 0.1) is refused with its version named
    save_checkpoint(tmp_path / "v1.pt", {"format": "kernelops.spectral_mean_flow", "format_version": 1, "config": {}})
    with pytest.raises(CheckpointError, match="format version 1.*retrain"):
        SpectralMeanFlow.load(tmp_path / "v1.pt")


class _Evil:
    pass


def test_atomic_save_keeps_the_previous_file_on_failure(tmp_path):
    target = tmp_path / "ck.pt"
    save_checkpoint(target, {"format": "x", "value": torch.arange(3)})
    with pytest.raises((pickle.PicklingError, AttributeError)):  # AttributeError before Python 3.12
        save_checkpoint(target, {"format": "x", "bad": lambda: None})  # cannot be pickled
    assert torch.equal(load_checkpoint(target)["value"], torch.arange(3))
    assert [p.name for p in tmp_path.iterdir()] == ["ck.pt"]  # no temporary left behind


def test_checkpoint_naming_an_uninstalled_plugin(tmp_path):
    from kernelops.paths.affine import OTPath
    from kernelops.plugins.manager import reset_host

    class MyPath(OTPath):
        name = "mypath"

    class Plugin:
        @ko.hookimpl
        def register_paths(self, register):
            register("mypath", MyPath)

    ko.register(Plugin(), name="kernelops_mypath")
    model = _model(path="mypath").fit(_data(), steps=1, **FIT)
    model.save(tmp_path / "m.pt")
    assert SpectralMeanFlow.load(tmp_path / "m.pt").path_name == "mypath"
    reset_host()  # a fresh process without the plugin
    with pytest.raises(CheckpointError, match=r"path 'mypath' from plugin 'kernelops_mypath'"):
        SpectralMeanFlow.load(tmp_path / "m.pt")


def test_a_checkpoint_written_before_the_potential_setting_loads_as_the_chain(tmp_path):
    """Checkpoints of the same format from before ``potential`` existed hold chain models."""
    from kernelops.io.checkpoint import load_checkpoint, save_checkpoint

    model = SpectralMeanFlow(potential="chain", depth=1, width=4, time_features=2, dtype=F64, in_dim=2, seq_len=3)
    state = model.checkpoint_state()
    del state["config"]["field"]["potential"]
    save_checkpoint(tmp_path / "old.pt", state)
    assert "potential" not in load_checkpoint(tmp_path / "old.pt")["config"]["field"]
    loaded = SpectralMeanFlow.load(tmp_path / "old.pt")
    assert loaded.field_config.potential == "chain"
    torch.testing.assert_close(loaded.sample(2, seed=0), model.eval().sample(2, seed=0))


FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.mark.parametrize("name", ["window"])
def test_a_checkpoint_saved_by_the_earlier_layout_loads_samples_the_same_and_trains_on(name):
    """Window-potential files of format version 2 keep working (fixtures/README.md)."""
    model = SpectralMeanFlow.load(FIXTURES / f"checkpoint_v2_{name}.pt")
    expected = torch.tensor(json.loads((FIXTURES / "checkpoint_v2_samples.json").read_text())[name])
    assert model.step == 3 and model.field_config.potential == name and model.prepared  # stored "calibration"
    assert model.field_config.local_context == 0  # written before the local term: built without one
    torch.testing.assert_close(model.sample(3, seed=5, steps=2).flatten(), expected, rtol=0, atol=1e-6)
    model.fit(torch.rand(16, 4, 2, generator=torch.Generator().manual_seed(0)), steps=4, progress=False)
    assert model.step == 4 and all(torch.isfinite(p).all() for p in model.field.parameters())


def test_a_version_2_chain_checkpoint_is_refused_naming_the_version_and_why():
    """The version-2 chain (a normalised product of transfers) no longer exists: the message says so."""
    with pytest.raises(CheckpointError, match=r"version 2 with potential='chain'.*identity-plus chain.*Retrain"):
        SpectralMeanFlow.load(FIXTURES / "checkpoint_v2_chain.pt")


@pytest.mark.parametrize("where, key, value", [("field", "mode", "svd"), ("train_config", "stability", "outside")])
def test_a_retired_setting_loads_with_its_only_value_and_is_refused_by_name_otherwise(tmp_path, where, key, value):
    state = load_checkpoint(FIXTURES / "checkpoint_v2_chain.pt")
    settings = state["config"]["field"] if where == "field" else state["train_config"]
    assert key in settings  # the earlier layout stored it
    settings[key] = value
    save_checkpoint(tmp_path / "retired.pt", state)
    with pytest.raises(CheckpointError, match=f"{key}={value!r} is no longer supported"):
        SpectralMeanFlow.load(tmp_path / "retired.pt")


@pytest.mark.parametrize("calibration", [1.0, None])
def test_a_file_that_stores_calibration_and_initial_rms_loads_with_the_prepared_state_they_imply(tmp_path, calibration):
    """Files written before the prepared flag hold "calibration" (a number once prepared, else None)
    and the field setting initial_rms, which no model reads any more: both load."""
    model = SpectralMeanFlow(seed=0, depth=1, width=8)
    if calibration is not None:
        model.fit(torch.rand(16, 4, 2, generator=torch.Generator().manual_seed(0)), steps=0, progress=False)
    model.save(tmp_path / "new.pt")
    state = load_checkpoint(tmp_path / "new.pt")
    assert state["config"].pop("prepared") is (calibration is not None)
    state["config"]["calibration"] = calibration
    state["config"]["field"]["initial_rms"] = 0.7
    save_checkpoint(tmp_path / "old.pt", state)
    loaded = SpectralMeanFlow.load(tmp_path / "old.pt")
    assert loaded.prepared is (calibration is not None)
    assert "initial_rms" not in loaded.field_config.to_dict()
