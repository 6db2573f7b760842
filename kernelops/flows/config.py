"""The defaults of the spectral mean flow, in one place (imports no torch).

:class:`FieldConfig` sizes the velocity field, :class:`TrainConfig` drives the trainer. Python
(:class:`~kernelops.flows.SpectralMeanFlow`), the ``kernelops fit`` command and the benchmark
scripts all read their defaults from here, so they cannot drift apart. Both are plain
dataclasses of JSON values: they go into checkpoints and run folders as dicts.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, TypeVar

#: the probability path, ODE solver and solver steps a model uses unless told otherwise
DEFAULT_PATH = "ot"
DEFAULT_SOLVER = "midpoint"
DEFAULT_SAMPLE_STEPS = 8
#: solver steps per potential when a model is not told (midpoint: NFE = 2 × steps). The window
#: potential's field curves more near t = 1: at 8 steps its windows were 1.7× as rough as the real
#: ones, at 16 steps 1.16× (docs/spectral_mean_flow.md); it still samples thousands of windows/s
POTENTIAL_SAMPLE_STEPS = {"chain": DEFAULT_SAMPLE_STEPS, "window": 16}

#: regression targets of the flow-matching loss (see :mod:`kernelops.flows.objective`)
TARGETS = ("posterior", "conditional")
#: closed-form skip terms of the field (see :mod:`kernelops.flows.field`)
SKIPS = ("window", "channel", "none")
#: learned potentials of the field (see :mod:`kernelops.flows.potentials`)
POTENTIALS = ("chain", "window")
#: the potential network's (depth, width) when not given: the chain's feature network, the
#: window potential's MLP (both the sizes measured in docs/spectral_mean_flow.md)
POTENTIAL_SIZES = {"chain": (4, 64), "window": (3, 512)}
#: eigenvalue modes of the spectral heads
MODES = ("evd", "svd")
#: penalties of the eigenvalue (stability) regulariser (see :mod:`kernelops.flows.stability`)
STABILITY_PENALTIES = ("circle", "outside")

_C = TypeVar("_C", bound="_Config")


class _Config:
    """Shared dict round trip and validation for the two configs."""

    def validate(self) -> None:
        """Raise ValueError naming the first setting that is out of range."""
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        return {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v)
                for f in dataclasses.fields(self)}  # type: ignore[arg-type]

    @classmethod
    def from_dict(cls: type[_C], values: dict[str, Any], *, where: str = "config") -> _C:
        """Build from a dict; unknown keys are an error that names them and the known ones."""
        known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"{where}: unknown {cls.__name__} setting(s) {unknown}; known: {sorted(known)}")
        out = cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})
        out.validate()
        return out

    def replace(self: _C, **changes: Any) -> _C:
        """A copy with the given settings changed; ``None`` values leave a setting as it is."""
        out = dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})  # type: ignore[type-var]
        out.validate()
        return out


def _positive_int(name: str, value: Any, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name}: expected an integer ≥ {minimum}, got {value!r}")


def _finite_number(name: str, value: Any, low: float, high: float = math.inf, *, open_low: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value > low if open_low else value >= low) and value <= high
    if not ok:
        bound = f"{'>' if open_low else '≥'} {low:g}" + (f" and ≤ {high:g}" if math.isfinite(high) else "")
        raise ValueError(f"{name}: expected a finite number {bound}, got {value!r}")


@dataclass
class FieldConfig(_Config):
    """Size and form of :class:`~kernelops.flows.SpectralVelocityField`.

    Attributes:
        potential: the learned potential f, an MMD witness: "chain" (the spectral mean flow:
            spectral chains over per-step features, any length) or "window" (a learned kernel on
            whole windows: an MLP on the flattened window, fixed to the training length).
        depth: chain: residual blocks of the feature network (= chain blocks); window: hidden
            layers of the MLP. None: the potential's default (``POTENTIAL_SIZES``).
        width: chain: hidden width of the feature network (even), each block gives width/2
            complex features; window: units per hidden layer. None: the potential's default.
        rank: total chain rank, a multiple of ``depth`` (None: depth·width/2). Chain only.
        mode: "evd" (complex eigenvalues) or "svd" (real non-negative). Chain only.
        time_features: size of the sinusoidal flow-time embedding (even).
        hidden_mult: expansion of each residual block's inner layer. Chain only.
        skip: the closed-form start of the clean-window prediction, the posterior mean of a
            Gaussian fit to the training windows: "window" (mean and covariance of whole windows;
            samples the training length only) or "channel" (each feature's mean and variance;
            any length, cost linear in it); the network adds what is not Gaussian. "none": no
            skip and no preconditioning, v = −∇f learned directly with the plain flow-matching
            loss (better on data far from Gaussian, such as Stocks; docs/spectral_mean_flow.md).
        conditional: train a mask-conditioned field, D_t(x | y, m): the potential also reads
            which entries are observed and their values, the skip becomes the Gaussian's exact
            posterior mean given both x_t and the observed entries, and training draws a random
            conditioning mask for every window (:mod:`kernelops.flows.masks`). The same model
            then imputes and forecasts with ``method="field"`` and still samples unconditionally
            (an empty mask). Needs potential="window" and skip="window".
        condition_rank: leading eigen-directions of the window skip's covariance that
            conditioning on observed entries keeps exactly (the others share their mean
            variance): the ``gaussian`` method and a conditional field's skip. Exact for windows
            of up to this many values; cost O(N·d·rank²) per mask (docs/conditional_generation.md
            measures what 256 and 512 lose on 1 400-value windows).
    """

    depth: int | None = None
    width: int | None = None
    potential: str = "window"
    rank: int | None = None
    mode: str = "evd"
    time_features: int = 16
    hidden_mult: int = 2
    skip: str = "window"
    conditional: bool = False
    condition_rank: int = 512

    def __post_init__(self) -> None:
        # sizes left open take the potential's own defaults (kept open for an unknown potential,
        # which validate() names)
        depth, width = POTENTIAL_SIZES.get(self.potential, (None, None))
        self.depth = depth if self.depth is None else self.depth
        self.width = width if self.width is None else self.width

    def validate(self) -> None:
        if self.potential not in POTENTIALS:
            raise ValueError(f"potential: expected one of {POTENTIALS}, got {self.potential!r}")
        _positive_int("depth", self.depth)
        _positive_int("width", self.width, 2)
        assert self.depth is not None and self.width is not None
        if self.width % 2:
            raise ValueError(f"width: expected an even number (real and imaginary halves), got {self.width}")
        if self.rank is not None:
            _positive_int("rank", self.rank)
            if self.rank % self.depth:
                raise ValueError(f"rank: expected a multiple of depth={self.depth} (one chain block per layer), got {self.rank}")
        if self.mode not in MODES:
            raise ValueError(f"mode: expected one of {MODES}, got {self.mode!r}")
        _positive_int("time_features", self.time_features, 0)
        if self.time_features % 2:
            raise ValueError(f"time_features: expected an even number, got {self.time_features}")
        _positive_int("hidden_mult", self.hidden_mult)
        if self.skip not in SKIPS:
            raise ValueError(f"skip: expected one of {SKIPS}, got {self.skip!r}")
        _positive_int("condition_rank", self.condition_rank)
        if not isinstance(self.conditional, bool):
            raise ValueError(f"conditional: expected True or False, got {self.conditional!r}")
        if self.conditional and (self.potential, self.skip) != ("window", "window"):
            raise ValueError(f"conditional: a mask-conditioned field needs potential='window' and skip='window' "
                             f"(it reads the whole window and conditions the window skip's Gaussian), got "
                             f"potential={self.potential!r}, skip={self.skip!r}")

    @property
    def chain_rank(self) -> int:
        assert self.depth is not None and self.width is not None  # filled in __post_init__
        return self.rank if self.rank is not None else self.depth * self.width // 2


@dataclass
class TrainConfig(_Config):
    """Settings of :class:`~kernelops.flows.Trainer` (and of ``SpectralMeanFlow.fit``).

    Attributes:
        steps: optimisation steps in total (a resumed run stops at the same step count).
        batch_size: windows per step (drawn with replacement).
        lr: peak AdamW learning rate (linear warm-up, cosine decay to ``lr·final_lr_ratio``).
        warmup: warm-up steps.
        weight_decay: decoupled weight decay on weight matrices and heads.
        grad_clip: largest global gradient norm (0 disables clipping).
        ema_decay: decay of the weight average used for sampling.
        final_lr_ratio: learning rate at the last step, as a fraction of ``lr``.
        target: "posterior": regress on the training set's exact posterior mean of the clean
            window (no target noise in the gradient); "conditional": on the drawn window itself.
        checkpoint_every: steps between checkpoints when a checkpoint file is given.
        log_every: steps between progress-bar updates.
        stability_weight: weight of the eigenvalue (stability) regulariser added to the loss
            (0: none; > 0 needs potential="chain"; :mod:`kernelops.flows.stability`).
        stability: its penalty, "circle" (moduli pulled to 1) or "outside" (moduli above 1).
    """

    steps: int = 4000
    batch_size: int = 128
    lr: float = 2e-3
    warmup: int = 100
    weight_decay: float = 1e-4
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    final_lr_ratio: float = 0.05
    target: str = "posterior"
    checkpoint_every: int = 250
    log_every: int = 50
    stability_weight: float = 0.0
    stability: str = "circle"

    def validate(self) -> None:
        _positive_int("steps", self.steps, 0)
        _positive_int("batch_size", self.batch_size)
        _finite_number("lr", self.lr, 0.0, open_low=True)
        _positive_int("warmup", self.warmup, 0)
        _finite_number("weight_decay", self.weight_decay, 0.0)
        _finite_number("grad_clip", self.grad_clip, 0.0)
        _finite_number("ema_decay", self.ema_decay, 0.0, 1.0)
        if self.ema_decay >= 1.0:
            raise ValueError(f"ema_decay: expected a number in [0, 1), got {self.ema_decay!r}")
        _finite_number("final_lr_ratio", self.final_lr_ratio, 0.0, 1.0)
        if self.target not in TARGETS:
            raise ValueError(f"target: expected one of {TARGETS}, got {self.target!r}")
        _positive_int("checkpoint_every", self.checkpoint_every)
        _positive_int("log_every", self.log_every)
        _finite_number("stability_weight", self.stability_weight, 0.0)
        if self.stability not in STABILITY_PENALTIES:
            raise ValueError(f"stability: expected one of {STABILITY_PENALTIES}, got {self.stability!r}")


__all__ = ["DEFAULT_PATH", "DEFAULT_SAMPLE_STEPS", "DEFAULT_SOLVER", "MODES", "POTENTIALS", "POTENTIAL_SAMPLE_STEPS",
           "POTENTIAL_SIZES", "SKIPS", "STABILITY_PENALTIES",
           "TARGETS", "FieldConfig", "TrainConfig"]
