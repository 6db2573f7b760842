"""The checkpoint format of :class:`~kernelops.flows.SpectralMeanFlow`: what is stored, its version, reading it.

A checkpoint is a ``torch.save`` dict of tensors and primitives only, so it loads with
``torch.load(weights_only=True)`` (:mod:`kernelops.io.checkpoint` writes it atomically):

* ``format``, ``format_version``: :data:`CHECKPOINT_FORMAT`, :data:`CHECKPOINT_VERSION`;
* ``config``: the JSON settings that rebuild the model (path, solver, :class:`FieldConfig`, seed,
  dtype, window shape, σ_d, whether the model was prepared for its data, the plugins it needs, and
  ``discrete`` with the ``lattices`` found in the training data, :mod:`kernelops.flows.lattice`);
* ``train_config``: the :class:`TrainConfig`; ``field``, ``trainer``: the state dicts of the
  field and of the trainer (EMA, AdamW, step, random streams); ``rng``: torch's CPU generator;
* ``plugins``, ``scaler``, ``data_fingerprint``, ``extra``: plugin versions, the data scaler of a
  run folder, a fingerprint of the training data (a hash of the windows,
  :func:`kernelops.flows.windows.training_fingerprint`, to warn when a resumed run gets other
  data; older checkpoints hold a list of sums, not compared), and free JSON values of the caller.

Version 2 is the preconditioned field with a Gaussian skip. Settings that were removed from the
configs since version 2 was introduced are accepted with the one value that every such
checkpoint holds (:data:`RETIRED_SETTINGS`), or whatever value they hold where no model this code
builds read them (:data:`IGNORED_SETTINGS`), so older files keep loading. Files written before
``prepared`` was stored hold ``calibration`` instead (a number once the model was prepared, else
None), which is read as ``prepared``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from kernelops.errors import CheckpointError
from kernelops.io.checkpoint import load_checkpoint, plugin_record, require_plugins, save_checkpoint

CHECKPOINT_FORMAT = "kernelops.spectral_mean_flow"
CHECKPOINT_VERSION = 3
#: older versions this code still reads: version 2 differs only in the chain potential, whose
#: version-2 form (a normalised product of transfers) was replaced by the identity-plus chain
READABLE_VERSIONS = (2, CHECKPOINT_VERSION)
#: settings once stored in version-2 checkpoints and since removed, with the only value they
#: could take in any model that this code can rebuild ("mode": chain eigenvalues were complex;
#: "stability": the regulariser's penalty pulled moduli to the circle)
RETIRED_SETTINGS = {"field": {"mode": "evd"}, "train": {"stability": "circle"}}
#: settings once stored and since removed that no model this code rebuilds depended on, dropped
#: whatever their value ("initial_rms": the size the field's learned part was scaled to before
#: training, for potentials whose end did not start at zero)
IGNORED_SETTINGS = {"field": ("initial_rms",), "train": ()}
#: the entries every checkpoint holds
REQUIRED_ENTRIES = ("config", "train_config", "field", "trainer", "rng")
DTYPES = {"float32": torch.float32, "float64": torch.float64}


def dtype_name(dtype: torch.dtype) -> str:
    """"float32" or "float64" for the dtype; anything else is an error naming it."""
    for name, value in DTYPES.items():
        if value == dtype:
            return name
    raise ValueError(f"dtype: expected torch.float32 or torch.float64, got {dtype}")


def jsonable(value: Any) -> Any:
    """Plain JSON-compatible copy (tuples → lists, numpy scalars → Python); rejects other objects."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, torch.dtype):
        return str(value)
    raise ValueError(f"cannot store {type(value).__name__} {value!r} in a checkpoint config (JSON values only)")


def plugin_entry(kind: str, name: str) -> dict[str, Any]:
    """Where a path or solver comes from; an unregistered custom object is recorded by name only."""
    try:
        return plugin_record(kind, name)
    except Exception:
        return {"kind": kind, "name": name, "plugin": None, "dist": None, "version": None}


def _drop_retired(settings: dict[str, Any], kind: str, where: str) -> dict[str, Any]:
    """``settings`` without the retired and ignored keys of ``kind``; a retired key with another value is an error."""
    out = {k: v for k, v in settings.items() if k not in IGNORED_SETTINGS[kind]}
    for key, only in RETIRED_SETTINGS[kind].items():
        if key in out:
            if out[key] != only:
                raise CheckpointError(f"{where}: {key}={out.pop(key)!r} is no longer supported (only {only!r}); "
                                      "retrain the model with this kernelops")
            del out[key]
    return out


def save(path: str | Path, state: dict[str, Any]) -> Path:
    """Write a checkpoint dict atomically (``state`` as built by ``SpectralMeanFlow.checkpoint_state``)."""
    return save_checkpoint(path, state)


def read(path: str | Path) -> dict[str, Any]:
    """Read and check a checkpoint; return its dict with retired settings removed.

    Raises:
        CheckpointError: missing, corrupt or foreign file; another format version (the message
            names it); an entry missing; or a plugin it needs is not installed.
    """
    state = load_checkpoint(path, map_location="cpu", expect_format=CHECKPOINT_FORMAT)
    version = state.get("format_version")
    if version not in READABLE_VERSIONS:
        raise CheckpointError(
            f"{path}: checkpoint format version {version!r}, this kernelops reads versions {READABLE_VERSIONS}. "
            "Version 1 checkpoints hold the unpreconditioned field of kernelops 0.1, which this version no "
            "longer has: retrain (kernelops fit) or sample them with kernelops 0.1")
    for key in REQUIRED_ENTRIES:
        if key not in state:
            raise CheckpointError(f"{path}: corrupt checkpoint (no {key!r} entry)")
    try:
        config = dict(state["config"])
        # checkpoints from before the potential setting hold chain models
        config["field"] = _drop_retired({"potential": "chain", **config["field"]}, "field", f"{path} field config")
        state["config"] = config
        state["train_config"] = _drop_retired(state["train_config"], "train", f"{path} train config")
        if isinstance(state["trainer"], dict) and "config" in state["trainer"]:
            state["trainer"] = {**state["trainer"], "config": _drop_retired(state["trainer"]["config"], "train",
                                                                            f"{path} trainer config")}
    except (KeyError, TypeError) as exc:
        raise CheckpointError(f"{path}: corrupt or incompatible checkpoint ({type(exc).__name__}: {exc})") from exc
    if version == 2 and config["field"]["potential"] == "chain":
        raise CheckpointError(
            f"{path}: checkpoint format version 2 with potential='chain': its chain is the normalised product of "
            f"random transfers, which version {CHECKPOINT_VERSION} replaced by the identity-plus chain (the old one did "
            "not learn beyond its Gaussian skip; docs/spectral_mean_flow.md). Retrain it with kernelops fit "
            "--potential chain; version-2 window-potential checkpoints still load")
    require_plugins([r for r in config.get("plugins_needed", []) if isinstance(r, dict)], where=str(path))
    return state


def model_config(model: Any) -> dict[str, Any]:
    """The ``config`` entry of a :class:`~kernelops.flows.SpectralMeanFlow`'s checkpoint (module docstring)."""
    return {
        "path": model.path_name, "path_kwargs": jsonable(model.path_kwargs),
        "solver": model.solver_name, "solver_kwargs": jsonable(model.solver_kwargs),
        "field": model.field_config.to_dict(), "seed": model.seed, "dtype": dtype_name(model.dtype),
        "sample_steps": model.sample_steps, "in_dim": model.in_dim, "seq_len": model.seq_len,
        "discrete": model.discrete, "lattices": model.lattices,
        "sigma_data": None if model.field is None else float(model.field.sigma_data), "prepared": model.prepared,
        "data_transform": "x = 2*data - 1",
        "plugins_needed": [plugin_entry("paths", model.path_name), plugin_entry("solvers", model.solver_name)],
    }


def state_of(model: Any) -> dict[str, Any]:
    """Everything a :class:`~kernelops.flows.SpectralMeanFlow` needs to resume exactly (module docstring)."""
    from kernelops.plugins.manager import get_host

    return {
        "format": CHECKPOINT_FORMAT, "format_version": CHECKPOINT_VERSION,
        "config": model.config(), "train_config": model.train_config.to_dict(),
        "field": None if model.field is None else model.field.state_dict(),
        "trainer": None if model.trainer is None else model.trainer.state_dict(),
        "rng": {"torch_cpu": torch.get_rng_state()},
        "plugins": dict(get_host().versions()),
        "scaler": model.scaler_state, "data_fingerprint": model.data_fingerprint, "extra": jsonable(model.extra),
    }


def restore(cls: Any, path: str | Path, device: torch.device) -> Any:
    """A model of class ``cls`` rebuilt from the checkpoint at ``path``: weights, EMA, optimizer, step, streams.

    Raises:
        CheckpointError: as :func:`read`, or settings that do not rebuild a model.
    """
    from kernelops.flows.config import FieldConfig, TrainConfig

    state = read(path)
    cfg = state["config"]
    try:
        # files written before the window potential had its local term store no local_context
        field = FieldConfig.from_dict({"local_context": 0, **cfg["field"]}, where=f"{path} field config")
        model = cls(path=cfg["path"], solver=cfg["solver"], seed=cfg["seed"], device=device,
                    dtype=DTYPES[cfg["dtype"]], sample_steps=cfg["sample_steps"], path_kwargs=cfg["path_kwargs"],
                    solver_kwargs=cfg["solver_kwargs"], field=field, discrete=cfg.get("discrete", "none"))
        model.train_config = TrainConfig.from_dict(state["train_config"], where=f"{path} train config")
        if state["field"] is not None:
            model.build(int(cfg["in_dim"]), int(cfg["seq_len"]))
            model.field.load_state_dict(state["field"])
            model.trainer.load_state_dict(state["trainer"])
        # older files store "calibration": the initial-size factor, set when the model was prepared
        model.prepared = bool(cfg["prepared"]) if "prepared" in cfg else cfg["calibration"] is not None
        torch.set_rng_state(state["rng"]["torch_cpu"])
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as exc:
        raise CheckpointError(f"{path}: corrupt or incompatible checkpoint ({type(exc).__name__}: {exc})") from exc
    model.lattices = cfg.get("lattices")  # files written before lattice channels hold none
    model.scaler_state = state.get("scaler")
    model.data_fingerprint = state.get("data_fingerprint")
    model.extra = dict(state.get("extra") or {})
    model.eval()
    return model


__all__ = ["CHECKPOINT_FORMAT", "CHECKPOINT_VERSION", "DTYPES", "IGNORED_SETTINGS", "RETIRED_SETTINGS", "dtype_name", "jsonable",
           "model_config", "plugin_entry", "read", "restore", "save", "state_of"]
