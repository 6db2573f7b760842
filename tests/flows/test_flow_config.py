"""The configs: validation, the dict round trip, and that the commands read their defaults there."""

from __future__ import annotations

import argparse
import inspect

import pytest

from kernelops.flows import FieldConfig, SampleConfig, TrainConfig
from kernelops.flows.config import (
    DEFAULT_PATH,
    DEFAULT_SOLVER,
    MASK_PATTERNS,
    POTENTIAL_SAMPLE_STEPS,
    POTENTIAL_SIZES,
)


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


def test_new_settings_are_validated_and_round_trip():
    cfg = TrainConfig(betas=(0.8, 0.95), ema_warmup=4.0, max_reference=7, mask_patterns={"none": 0.5, "history": 0.5})
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    for bad, word in ((dict(betas=(0.9,)), "betas"), (dict(betas=(0.9, 1.5)), "betas"), (dict(ema_warmup=0.5), "ema_warmup"),
                      (dict(max_reference=0), "max_reference"), (dict(mask_patterns={"gaps": 1.0}), "mask_patterns"),
                      (dict(mask_patterns={"none": 0.0}), "mask_patterns"), (dict(mask_patterns={"none": -1.0}), "none")):
        with pytest.raises(ValueError, match=word):
            TrainConfig().replace(**bad)
    sample = SampleConfig(num=5, alpha_floor=0.5)
    assert SampleConfig.from_dict(sample.to_dict()) == sample
    for bad, word in ((dict(alpha_floor=0.0), "alpha_floor"), (dict(batch_size=0), "batch_size"),
                      (dict(guidance_scale=-1.0), "guidance_scale"), (dict(samples=0), "samples")):
        with pytest.raises(ValueError, match=word):
            SampleConfig().replace(**bad)
    # a default dict is not shared between configs
    first = TrainConfig()
    first.mask_patterns["none"] = 1.0
    assert TrainConfig().mask_patterns == MASK_PATTERNS


def _parser(module) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    return parser


def test_the_commands_read_their_defaults_from_the_configs():
    from kernelops.cli import fit, forecast, impute, sample

    field, train, draw = FieldConfig(), TrainConfig(), SampleConfig()
    parser = _parser(fit)
    args = parser.parse_args([])
    # the model and training flags stay open, so the configs' own defaults apply ...
    assert all(getattr(args, name) is None for name in (*fit._FIELD_FLAGS, *fit._TRAIN_FLAGS))
    assert (fit.RUN_DEFAULTS["path"], fit.RUN_DEFAULTS["solver"]) == (DEFAULT_PATH, DEFAULT_SOLVER)
    # ... and the help states them
    helps = {action.dest: action.help or "" for action in parser._actions}
    for name in ("steps", "batch_size", "lr", "warmup", "checkpoint_every", "stability_weight", "target"):
        assert f"default {getattr(train, name)}" in helps[name], name
    for name in ("potential", "skip", "condition_rank", "local_context"):
        assert f"default {getattr(field, name)}" in helps[name], name
    for potential, (depth, width) in POTENTIAL_SIZES.items():
        assert f"{potential} {depth}" in helps["depth"] and f"{potential} {width}" in helps["width"]
    for potential, steps in POTENTIAL_SAMPLE_STEPS.items():
        assert f"{potential} {steps}" in helps["sample_steps"]
    drawn = _parser(sample).parse_args(["RUN"])
    assert (drawn.num, drawn.seed, drawn.batch_size) == (draw.num, draw.seed, draw.batch_size)
    for module, extra in ((impute, ["--input", "x.npy"]), (forecast, ["--input", "x.npy", "--horizon", "2"])):
        given = _parser(module).parse_args(["RUN", *extra])
        assert (given.samples, given.seed, given.batch_size, given.guidance_scale) == (
            draw.samples, draw.seed, draw.batch_size, draw.guidance_scale)


def test_python_reads_the_same_defaults():
    from kernelops.flows import FlowMatchingObjective, SpectralMeanFlow, sample_conditional, sample_field
    from kernelops.flows.sample.conditional import conditional_field
    from kernelops.flows.train.state import EMA

    model = SpectralMeanFlow()
    assert model.field_config == FieldConfig() and model.train_config == TrainConfig()
    assert (model.path_name, model.solver_name) == (DEFAULT_PATH, DEFAULT_SOLVER)
    assert model.sample_steps == POTENTIAL_SAMPLE_STEPS[FieldConfig().potential]
    train, draw = TrainConfig(), SampleConfig()

    def default(function, name):
        return inspect.signature(function).parameters[name].default

    assert default(SpectralMeanFlow.sample, "batch_size") == draw.batch_size == default(sample_field, "batch_size")
    assert default(SpectralMeanFlow.sample, "guidance_scale") == draw.guidance_scale
    assert default(sample_conditional, "batch_size") == draw.batch_size
    assert default(sample_conditional, "alpha_floor") == draw.alpha_floor == default(conditional_field, "alpha_floor")
    objective = FlowMatchingObjective(model.path)
    assert (objective.target, objective.max_reference, objective.stability_weight, objective.mask_patterns) == (
        train.target, train.max_reference, train.stability_weight, train.mask_patterns)
    assert (default(EMA, "decay"), default(EMA, "warmup")) == (train.ema_decay, train.ema_warmup)
