"""The configs: validation, the dict round trip, and that the commands read their defaults there."""

from __future__ import annotations

import pytest

from kernelops.flows import FieldConfig, TrainConfig


def test_config_round_trip_and_named_errors():
    cfg = TrainConfig(lr=1e-3, target="conditional")
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.replace(lr=None, steps=7) == TrainConfig(lr=1e-3, target="conditional", steps=7)
    for bad, word in ((dict(lr=float("inf")), "lr"), (dict(lr=-1.0), "lr"), (dict(batch_size=0), "batch_size"),
                      (dict(ema_decay=1.0), "ema_decay"), (dict(target="x"), "target"), (dict(steps=1.5), "steps")):
        with pytest.raises(ValueError, match=word):
            cfg.replace(**bad)
    with pytest.raises(ValueError, match=r"unknown TrainConfig setting\(s\) \['lrr'\]"):
        TrainConfig.from_dict({"lrr": 1})
    assert FieldConfig.from_dict(FieldConfig(potential="chain", depth=2).to_dict()).chain_rank == 2 * 32
