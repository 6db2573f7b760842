"""Every default and tunable constant of the spectral mean flow (imports no torch).

:class:`FieldConfig` sizes the velocity field, :class:`TrainConfig` drives training and
:class:`SampleConfig` holds the sampling defaults. Python (:class:`~kernelops.flows.SpectralMeanFlow`),
the ``kernelops`` commands and the benchmark scripts read their defaults here (a test compares
them). The configs are dataclasses of JSON values: they go into checkpoints and run folders as dicts.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, TypeVar

#: the probability path, ODE solver and solver steps a model uses unless told otherwise
DEFAULT_PATH = "ot"
DEFAULT_SOLVER = "midpoint"
DEFAULT_SAMPLE_STEPS = 16
#: solver steps per potential when a model is not told (midpoint: NFE = 2 × steps). Both fields
#: curve near t = 1: at 8 steps the window potential's samples are rough and about one chain
#: sample in 3 000 blows up in the last step (docs/spectral_mean_flow.md, "Defaults and why")
POTENTIAL_SAMPLE_STEPS = {"chain": DEFAULT_SAMPLE_STEPS, "window": DEFAULT_SAMPLE_STEPS}

#: regression targets of the flow-matching loss (see :mod:`kernelops.flows.loss`)
TARGETS = ("posterior", "conditional")
#: closed-form skip terms of the field (see :mod:`kernelops.flows.field`)
SKIPS = ("window", "channel", "stationary", "none")
#: learned potentials of the field (see :mod:`kernelops.flows.potentials`)
POTENTIALS = ("chain", "window")
#: the potential network's (depth, width) when not given: the chain's feature network, the
#: window potential's MLP (docs/spectral_mean_flow.md)
POTENTIAL_SIZES = {"chain": (2, 64), "window": (3, 512)}
#: the window potential's local term reads this many steps on each side of every step, with hidden
#: layers of at most this many units (never wider than the window MLP's), when not told
#: (docs/spectral_mean_flow.md, "Data far from Gaussian"); the chain has no local term
LOCAL_CONTEXT, LOCAL_WIDTH = 2, 128
#: a channel whose training values are at most this many distinct levels, evenly spaced, is a lattice
#: channel: generated values are rounded to its levels (:mod:`kernelops.flows.lattice`; "Discrete
#: channels" in docs/spectral_mean_flow.md). 32 keeps counts, ratings and on/off channels and leaves
#: every channel of the six Table 1 datasets continuous but Energy's "lights" (8 levels)
LATTICE_MAX_LEVELS = 32
#: what SpectralMeanFlow(discrete=...) accepts: find lattice channels in the training data, or never
DISCRETE = ("auto", "none")
#: the chain potential's transfer gain g (W̃(y) = I + g·Lᵀdiag(h)R, :mod:`kernelops.chains.identity_plus`),
#: the gains of its feature network's input layer on (yⁿ, γ(t)), and the highest angular frequency of
#: its time embedding over π: a wide per-step kernel and transfers near the identity keep the chain's
#: gradients coherent across windows and flow times (docs/spectral_mean_flow.md)
CHAIN_TRANSFER_GAIN = 0.2
CHAIN_INPUT_GAINS = (4.0, 0.25)
CHAIN_MAX_FREQUENCY = 2.0
#: the chain's initial eigenvalues: |λ| uniform (in area) on this ring and arg λ uniform in
#: [−angle, angle]: slow, long-lived modes, which the chain keeps and learns with (loss 0.0141
#: against 0.0178 for the ring 0.05…0.95 over the whole circle; long-lived modes at every angle
#: diverged; docs/spectral_mean_flow.md, "The chain's spectrum at initialisation")
CHAIN_EIGEN_RING = (0.9, 0.995)
CHAIN_EIGEN_ANGLE = 0.1
#: log p(x) of a trained model (:mod:`kernelops.flows.likelihood`; docs/likelihood.md measures them): the
#: solver and its steps, the time grid t_k = 1 − (k/steps)^p of fixed-step solvers, the largest window
#: (N·d values) that gets the exact divergence when none is asked for, and Hutchinson's probes
LIKELIHOOD_SOLVER, LIKELIHOOD_STEPS = "rk4", 32
LIKELIHOOD_TIME_POWER = 4.0
LIKELIHOOD_EXACT_MAX_DIM = 512
LIKELIHOOD_PROBES = 16
#: the window Gaussian of training data with gaps (:mod:`kernelops.flows.gappy_moments`): the largest
#: number of EM iterations, the relative change of the covariance (Frobenius) that stops it, the
#: floating-point operations it may spend in all (beyond them fewer iterations, or none), and the
#: weight w of the diagonal in the starting (and fallback) estimate (1 − w)·P + w·diag(P)
EM_ITERATIONS = 100
EM_TOLERANCE = 1e-5
EM_FLOP_BUDGET = 5e10
SHRINKAGE = 0.1
#: conditioning mask patterns of a mask-conditioned field's training, with their probabilities
#: (:mod:`kernelops.flows.masks`)
MASK_PATTERNS = {"none": 0.2, "entries": 0.3, "steps": 0.2, "history": 0.3}
#: conditioning methods of conditional sampling (:mod:`kernelops.flows.sample.conditional`)
METHODS = ("field", "gaussian", "replacement", "guidance")

# Fixed constants: changing one changes results that are meant to be reproducible, so they are
# not settings.
#: windows per source-noise chunk of a seeded draw (:mod:`kernelops.flows.sample.ode`)
NOISE_CHUNK = 64
#: floor of the skip Gaussians' fitted variances (a standard deviation of 1e-3 in model coordinates)
VARIANCE_FLOOR = 1e-6
#: windows whose missing entries are filled together at most (:func:`kernelops.flows.gaussian.fill_missing`)
FILL_CHUNK = 512
#: bytes of (N·d)² float64 matrices one fill chunk may hold (about three per window)
FILL_MEMORY = 2**30
#: the guidance term's norm is at most this times the unguided velocity's, per window
#: (:func:`kernelops.flows.sample.conditional.bounded_guidance`): a bound by construction, so no
#: guidance scale makes a finite field's draws non-finite (docs/conditional_generation.md compares
#: caps)
GUIDANCE_MAX_RATIO = 4.0

_C = TypeVar("_C", bound="_Config")


class _Config:
    """Shared dict round trip and validation of the configs."""

    def validate(self) -> None:
        """Raise ValueError naming the first setting that is out of range."""
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        return {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else dict(v) if isinstance(v, dict) else v)
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
    """Size and form of the velocity field (:class:`~kernelops.flows.SpectralVelocityField`).

    Attributes:
        depth: chain: residual blocks of the feature network (= chain blocks); window: hidden
            layers of the MLP. None: the potential's default (``POTENTIAL_SIZES``).
        width: chain: hidden width of the feature network (even), each block gives width/2
            complex features; window: units per hidden layer. None: the potential's default.
        potential: the learned potential f, an MMD witness: "chain" (the spectral mean flow:
            spectral chains over per-step features, any length) or "window" (a learned kernel on
            whole windows: an MLP on the flattened window, fixed to the training length).
        rank: total chain rank, a multiple of ``depth`` (None: depth·width/2). Chain only.
        time_features: size of the sinusoidal flow-time embedding (even).
        hidden_mult: expansion of each residual block's inner layer. Chain only.
        skip: the closed-form start of the clean-window prediction, the posterior mean of a
            Gaussian fit to the training windows: "window" (mean and covariance of whole windows;
            samples the training length only), "channel" (each feature's mean and variance;
            any length, independent steps) or "stationary" (each feature a stationary Gaussian
            process: mean and autocovariance, continued by its autoregressive fit; any length,
            correlated steps, :mod:`kernelops.flows.stationary_gaussian`); "none": no skip and no
            preconditioning, v = −∇f learned directly with
            the plain flow-matching loss (:mod:`kernelops.flows.field`).
        conditional: a mask-conditioned field D_t(x | y, m) (:mod:`kernelops.flows.masked_field`),
            trained on random conditioning masks; it imputes and forecasts with
            ``method="field"`` and still samples unconditionally. Needs potential="window" and
            skip="window".
        local_context: the window potential's local term reads the ``local_context`` steps on each
            side of every step (0: no local term; :class:`~kernelops.flows.potentials.WindowPotential`).
            None: ``LOCAL_CONTEXT`` for the window potential, 0 for the chain (which has none).
        local_width: units per hidden layer of the local term's MLP (None: ``LOCAL_WIDTH`` or
            ``width``, whichever is smaller). Window only.
        condition_rank: leading eigen-directions of the window skip's covariance that
            conditioning on observed entries keeps exactly (the others share their mean
            variance); exact for windows of up to this many values, cost O(N·d·rank²) per mask.
    """

    depth: int | None = None
    width: int | None = None
    potential: str = "window"
    rank: int | None = None
    time_features: int = 16
    hidden_mult: int = 2
    skip: str = "window"
    conditional: bool = False
    condition_rank: int = 512
    local_context: int | None = None
    local_width: int | None = None

    def __post_init__(self) -> None:
        # sizes left open take the potential's own defaults (kept open for an unknown potential,
        # which validate() names)
        depth, width = POTENTIAL_SIZES.get(self.potential, (None, None))
        self.depth = depth if self.depth is None else self.depth
        self.width = width if self.width is None else self.width
        if self.local_context is None:
            self.local_context = LOCAL_CONTEXT if self.potential == "window" else 0
        if self.local_width is None and isinstance(self.width, int):
            self.local_width = min(LOCAL_WIDTH, self.width)

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
        _positive_int("time_features", self.time_features, 0)
        if self.time_features % 2:
            raise ValueError(f"time_features: expected an even number, got {self.time_features}")
        _positive_int("hidden_mult", self.hidden_mult)
        if self.skip not in SKIPS:
            raise ValueError(f"skip: expected one of {SKIPS}, got {self.skip!r}")
        _positive_int("condition_rank", self.condition_rank)
        _positive_int("local_context", self.local_context, 0)
        _positive_int("local_width", self.local_width)
        if self.potential == "chain" and self.local_context:
            raise ValueError(f"local_context: the chain potential has no local term (the window potential's); "
                             f"expected 0, got {self.local_context}")
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
    """Settings of training (:class:`~kernelops.flows.Trainer`, ``SpectralMeanFlow.fit``).

    Attributes:
        steps: optimisation steps in total (a resumed run stops at the same step count).
        batch_size: windows per step (drawn with replacement).
        lr: peak AdamW learning rate (linear warm-up, cosine decay to ``lr·final_lr_ratio``).
        warmup: warm-up steps.
        weight_decay: decoupled weight decay on weight matrices and heads.
        grad_clip: largest global gradient norm (0 disables clipping).
        ema_decay: asymptotic decay of the weight average used for sampling.
        final_lr_ratio: learning rate at the last step, as a fraction of ``lr``.
        target: "posterior": regress on the training set's exact posterior mean of the clean
            window (no target noise in the gradient); "conditional": on the drawn window itself.
        checkpoint_every: steps between checkpoints when a checkpoint file is given.
        log_every: steps between progress-bar updates.
        stability_weight: weight of the eigenvalue (stability) regulariser added to the loss
            (0: none; > 0 needs potential="chain"; :mod:`kernelops.flows.stability`).
        betas: AdamW's moment decays.
        ema_warmup: the EMA decay is min(ema_decay, (1 + u)/(ema_warmup + u)) after u updates,
            so a short run does not sample from weights dominated by the initialisation.
        max_reference: with target="posterior", training sets larger than this use a random
            subset of this many windows (plus the batch's own) as each step's reference set.
        mask_patterns: probability of each conditioning-mask pattern when training a
            mask-conditioned field (:mod:`kernelops.flows.masks`).
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
    betas: tuple[float, float] = (0.9, 0.99)
    ema_warmup: float = 10.0
    max_reference: int = 16384
    mask_patterns: dict[str, float] = dataclasses.field(default_factory=lambda: dict(MASK_PATTERNS))

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
        if not (isinstance(self.betas, tuple) and len(self.betas) == 2):
            raise ValueError(f"betas: expected two numbers in [0, 1), got {self.betas!r}")
        for beta in self.betas:
            _finite_number("betas", beta, 0.0, 1.0)
        _finite_number("ema_warmup", self.ema_warmup, 1.0)
        _positive_int("max_reference", self.max_reference)
        if not (isinstance(self.mask_patterns, dict) and set(self.mask_patterns) <= set(MASK_PATTERNS)
                and self.mask_patterns):
            raise ValueError(f"mask_patterns: expected a dict over {sorted(MASK_PATTERNS)}, got {self.mask_patterns!r}")
        for name, p in self.mask_patterns.items():
            _finite_number(f"mask_patterns[{name!r}]", p, 0.0)
        if not sum(self.mask_patterns.values()) > 0:
            raise ValueError(f"mask_patterns: expected a positive total probability, got {self.mask_patterns!r}")


@dataclass
class SampleConfig(_Config):
    """Defaults of sampling, imputation and forecasting (``SpectralMeanFlow.sample``, the commands).

    Attributes:
        num: windows drawn by ``kernelops sample``.
        samples: draws per observed window (imputation, forecasting).
        batch_size: windows integrated together.
        seed: seed of the source noise in the commands.
        guidance_scale: strength of the "guidance" conditioning method.
        alpha_floor: α_t below this counts as this in the guidance weight b σ²/(2 α c_out²), which
            grows as 1/α near t = 0 (docs/conditional_generation.md).
    """

    num: int = 10000
    samples: int = 10
    batch_size: int = 1000
    seed: int = 0
    guidance_scale: float = 1.0
    alpha_floor: float = 0.3

    def validate(self) -> None:
        _positive_int("num", self.num)
        _positive_int("samples", self.samples)
        _positive_int("batch_size", self.batch_size)
        _positive_int("seed", self.seed, 0)
        _finite_number("guidance_scale", self.guidance_scale, 0.0)
        _finite_number("alpha_floor", self.alpha_floor, 0.0, 1.0, open_low=True)


__all__ = ["DEFAULT_PATH", "DEFAULT_SAMPLE_STEPS", "DEFAULT_SOLVER",
           "FILL_CHUNK", "FILL_MEMORY", "GUIDANCE_MAX_RATIO", "MASK_PATTERNS", "METHODS", "NOISE_CHUNK", "POTENTIALS",
           "POTENTIAL_SAMPLE_STEPS", "POTENTIAL_SIZES", "SKIPS", "TARGETS", "VARIANCE_FLOOR", "FieldConfig",
           "SampleConfig", "TrainConfig"]
