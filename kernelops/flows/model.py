"""SpectralMeanFlow: the spectral mean flow of "Sequence Modeling with Spectral Mean Flows" as one object.

A facade that wires a path, a solver and the configs (:mod:`kernelops.flows.config`) to parts that
are each usable alone: the field (:mod:`~kernelops.flows.field`, :mod:`~kernelops.flows.masked_field`),
the loss (:mod:`~kernelops.flows.loss`), the trainer (:mod:`kernelops.flows.train`), the samplers
(:mod:`kernelops.flows.sample`) and the checkpoint format (:mod:`~kernelops.flows.checkpoint`).

Data given to :meth:`SpectralMeanFlow.fit` and returned by :meth:`SpectralMeanFlow.sample` are in
[0, 1] (min-max scaled); the field works on x = 2·data − 1, centred like the N(0, I) source.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from kernelops.errors import KernelopsWarning
from kernelops.flows import checkpoint as ckpt
from kernelops.flows import windows
from kernelops.flows.config import (
    DEFAULT_PATH,
    DEFAULT_SOLVER,
    DISCRETE,
    POTENTIAL_SAMPLE_STEPS,
    FieldConfig,
    SampleConfig,
    TrainConfig,
)
from kernelops.flows.field import SpectralVelocityField
from kernelops.flows.gaussian import fill_missing, observed_mask
from kernelops.flows.lattice import detect_lattices, snap_to_lattice
from kernelops.flows.loss import FlowMatchingObjective
from kernelops.flows.masked_field import build_field
from kernelops.flows.model_likelihood import window_encode, window_log_prob
from kernelops.flows.sample.conditional import sample_conditional
from kernelops.flows.sample.ode import resolve_solver, sample_field
from kernelops.flows.train.loop import Trainer, check_total_steps
from kernelops.flows.train.state import EMA, TrainGenerators
from kernelops.utils.device import resolve_device

_SAMPLE = SampleConfig()
_TRAIN_FIELDS = frozenset(f.name for f in dataclasses.fields(TrainConfig))


def _check_int(name: str, value: Any, minimum: int, expected: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name}: expected {expected}, got {value!r}")


class SpectralMeanFlow(nn.Module):
    """Neural spectral mean flow: train on windows in [0, 1], sample new windows.

    Args:
        path: probability path name ("ot", "vp", "ve" or a plugin's affine path) or an affine path object.
        solver: default ODE solver name for :meth:`sample`.
        seed: seeds the initialisation and the training generators (batches, times, noise).
        device: "cpu", "cuda", "auto" or a torch.device (default cpu).
        dtype: torch.float32 or torch.float64.
        sample_steps: default solver steps of :meth:`sample` (None: the potential's, ``POTENTIAL_SAMPLE_STEPS``).
        in_dim, seq_len: build the field now for windows of shape (seq_len, in_dim) (otherwise
            the first :meth:`fit` builds it from the data's shape).
        path_kwargs, solver_kwargs: keyword arguments for ``ko.path`` / ``ko.solver``.
        field: the field's form and size, a :class:`FieldConfig`; its settings may instead be
            given one by one (``depth=2, potential="chain"``, ...), which override it.
        discrete: "auto" (default): channels whose training values are a few evenly spaced levels
            (counts, ratings, on/off; :mod:`kernelops.flows.lattice`) are found when the model is
            prepared, and :meth:`sample` rounds their generated values to those levels; "none":
            every channel is continuous.
    """

    def __init__(self, path: str | Any = DEFAULT_PATH, solver: str = DEFAULT_SOLVER, *, seed: int = 0,
                 device: str | torch.device | None = None, dtype: torch.dtype = torch.float32,
                 sample_steps: int | None = None, in_dim: int | None = None, seq_len: int | None = None,
                 path_kwargs: dict[str, Any] | None = None, solver_kwargs: dict[str, Any] | None = None,
                 field: FieldConfig | None = None, discrete: str = "auto", **field_settings: Any):
        super().__init__()
        import kernelops as ko

        known = {f.name for f in dataclasses.fields(FieldConfig)}
        if unknown := sorted(set(field_settings) - known):
            raise TypeError(f"SpectralMeanFlow: unknown setting(s) {unknown}; the field's are {sorted(known)}")
        base = dataclasses.asdict(field) if field is not None else {}
        self.field_config = FieldConfig(**{**base, **field_settings})
        self.field_config.validate()
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed: expected an integer, got {seed!r}")
        if sample_steps is None:
            sample_steps = POTENTIAL_SAMPLE_STEPS[self.field_config.potential]
        if isinstance(sample_steps, bool) or not isinstance(sample_steps, int) or sample_steps < 1:
            raise ValueError(f"sample_steps: expected a positive integer, got {sample_steps!r}")
        if discrete not in DISCRETE:
            raise ValueError(f"discrete: expected one of {list(DISCRETE)}, got {discrete!r}")
        self.discrete = discrete
        #: per channel, the levels generated values are rounded to (None: continuous); found by prepare
        self.lattices: list[dict[str, Any] | None] | None = None
        self._dtype_name = ckpt.dtype_name(dtype)
        self.path_kwargs = dict(path_kwargs or {})
        self.path = ko.path(path, **self.path_kwargs) if isinstance(path, str) else path
        if not isinstance(path, str):
            self.path_kwargs = dict(path.config()) if callable(getattr(path, "config", None)) else {}
        for attr in ("sample", "sample_source", "sample_t", "schedule"):
            if getattr(self.path, attr, None) is None:
                raise ValueError(f"path: expected an affine path (with {attr}), got {type(self.path).__name__}")
        self.path_name = str(getattr(self.path, "name", path))
        if not isinstance(solver, str):
            raise ValueError(f"solver: expected a registered solver name, got {type(solver).__name__}")
        self.solver_kwargs = dict(solver_kwargs or {})
        ko.solver(solver, **self.solver_kwargs)  # fail now on an unknown name, listing the known ones
        self.solver_name, self.seed, self.sample_steps = solver, seed, sample_steps
        self._device = resolve_device(device)
        self.in_dim: int | None = None
        self.seq_len: int | None = seq_len
        self.field: SpectralVelocityField | None = None
        self.ema: EMA | None = None  # a submodule once built (the trainer's), so .to() moves it
        self.trainer: Trainer | None = None
        self._train_config = TrainConfig()  # used until the trainer exists, then the trainer's
        #: whether the field was fit to its training data (skip Gaussian, σ_d) before the first step
        self.prepared = False
        self.scaler_state: dict[str, Any] | None = None
        self.extra: dict[str, Any] = {}
        self.data_fingerprint: str | list[float] | None = None  # of the training data, to warn on a resume with others
        if in_dim is not None:
            self.build(in_dim, seq_len)

    # -- construction ------------------------------------------------------------------------
    @property
    def dtype(self) -> torch.dtype:
        return ckpt.DTYPES[self._dtype_name]

    @property
    def device(self) -> torch.device:
        return next(self.field.parameters()).device if self.field is not None else self._device

    @property
    def step(self) -> int:
        """Optimisation steps done so far."""
        return self.trainer.step if self.trainer is not None else 0

    @property
    def history(self) -> list[tuple[int, float, float]]:
        """``(step, loss, lr)`` of the steps run in this process."""
        return self.trainer.history if self.trainer is not None else []

    @property
    def train_config(self) -> TrainConfig:
        """The training settings (the trainer's once the field is built)."""
        return self.trainer.config if self.trainer is not None else self._train_config

    @train_config.setter
    def train_config(self, config: TrainConfig) -> None:
        config.validate()
        if config.stability_weight > 0 and self.field_config.potential != "chain":
            raise ValueError(f"stability_weight: expected 0 with potential={self.field_config.potential!r} (the "
                             f"eigenvalue regulariser acts on the chain's spectral heads), got {config.stability_weight}")
        self._train_config = config
        if self.trainer is not None:
            self.trainer.config = config
            self.trainer.objective = self._objective()

    def build(self, in_dim: int, seq_len: int | None = None) -> SpectralMeanFlow:
        """Create the field for windows of ``in_dim`` features (deterministic in ``seed``)."""
        _check_int("in_dim", in_dim, 1, "a positive integer")
        if self.field is not None:
            raise RuntimeError("the field is already built")
        length = seq_len if seq_len is not None else self.seq_len
        _check_int("seq_len", length, 2, "an integer ≥ 2 (the training window length)")
        assert length is not None
        self.in_dim, self.seq_len = in_dim, length
        self.field = build_field(self.path, in_dim, length, self.field_config, seed=self.seed,
                                 dtype=self.dtype).to(self._device)
        self.trainer = Trainer(self.field, self._objective(), self.train_config, seed=self.seed)
        self.ema = self.trainer.ema
        return self

    def _objective(self) -> FlowMatchingObjective:
        cfg = self.train_config
        return FlowMatchingObjective(self.path, cfg.target, max_reference=cfg.max_reference,
                                     stability_weight=cfg.stability_weight, mask_patterns=cfg.mask_patterns)

    def _field(self, ema: bool) -> SpectralVelocityField:
        if self.field is None:
            raise ValueError("the model is not built yet: call fit(data) first (or pass in_dim=... and seq_len=...)")
        return self.ema.module if (ema and self.ema is not None) else self.field  # type: ignore[return-value]

    # -- coordinates and the field -----------------------------------------------------------
    to_model = staticmethod(windows.to_model)
    from_model = staticmethod(windows.from_model)

    def velocity(self, x: torch.Tensor, t: float | torch.Tensor, *, ema: bool = False) -> torch.Tensor:
        """v_t(x) in model coordinates (differentiable when grad mode is on). Shape: x (batch, N, d) → (batch, N, d)."""
        return self._field(ema)(t, x)

    def potential(self, x: torch.Tensor, t: float | torch.Tensor, *, ema: bool = False) -> torch.Tensor:
        """Φ_t(x) with v_t = −∇ₓΦ_t, in model coordinates. Shape: x (batch, N, d) → (batch,)."""
        return self._field(ema).potential(t, x)

    # -- training ----------------------------------------------------------------------------
    def prepare(self, data: torch.Tensor | np.ndarray) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Build the model for ``data`` and, before the first step, fit the skip Gaussian and σ_d
        (:meth:`SpectralVelocityField.fit_data`); the model is then :attr:`prepared`.

        Returns:
            the windows in model coordinates with missing entries filled
            (:func:`~kernelops.flows.gaussian.fill_missing`), and their observed-entry mask (None
            when nothing is missing).

        Shape:
            data: (num, N, d) in [0, 1]. returns: (num, N, d) each.
        """
        return self._prepare(windows.as_windows(data, "data", in_dim=self.in_dim, dtype=self.dtype))

    def _prepare(self, data: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.field is None:
            self.build(data.shape[2], data.shape[1])
        assert self.field is not None and self.ema is not None
        x = self.to_model(data.to(self.device))
        if self.step == 0 and not self.prepared:
            with torch.no_grad():
                self.field.fit_data(x)
                self.ema.copy_from(self.field)
            found = detect_lattices(data) if self.discrete == "auto" else []
            self.lattices = found if any(lat is not None for lat in found) else None
            self.prepared = True
        mask = observed_mask(x)
        return (x, None) if mask is None else (fill_missing(x, mask, self.field.skip), mask)

    def fit(self, data: torch.Tensor | np.ndarray, config: TrainConfig | None = None, *,
            checkpoint: str | Path | None = None, progress: bool = True,
            callback: Callable[[int, float, float], Any] | None = None,
            on_checkpoint: Callable[[int], Any] | None = None, **settings: Any) -> SpectralMeanFlow:
        """Train until ``steps`` optimisation steps in total.

        ``steps`` counts from the start of training, so a model loaded from a checkpoint at step s
        continues with step s + 1 and a resumed run reproduces the uninterrupted one exactly (same
        data and settings); a ``steps`` below the model's step is refused. ``steps=0`` on a new
        model only prepares it (fits the skip's Gaussian and σ_d to the data) and trains nothing.

        Args:
            data: training windows in [0, 1] (NaN where missing).
            config: a whole :class:`TrainConfig` (default: the previous fit's, the checkpoint's or
                the defaults); ``settings`` (``steps=…, lr=…``, any of its fields) override it.
            checkpoint: file written atomically every ``checkpoint_every`` steps, at the end and
                on SIGINT / SIGTERM / SIGUSR1 (by rank 0 alone under torchrun, where every rank
                calls ``fit`` with the same data and settings; :mod:`kernelops.flows.train.ddp`).
            progress: show a tqdm bar.
            callback: ``callback(step, loss, lr)`` after every step.
            on_checkpoint: ``on_checkpoint(step)`` after each checkpoint is completely written.

        Shape:
            data: (num, N, d) with N ≥ 2.
        """
        if unknown := sorted(set(settings) - _TRAIN_FIELDS):
            raise TypeError(f"fit: unknown setting(s) {unknown}; TrainConfig's are {sorted(_TRAIN_FIELDS)}")
        x = windows.as_windows(data, "data", in_dim=self.in_dim, dtype=self.dtype)
        cfg = (config if config is not None else self.train_config).replace(**settings)
        check_total_steps(cfg.steps, self.step)
        self.train_config = cfg
        self.data_fingerprint = windows.training_fingerprint(x, self.data_fingerprint, self.step)
        x, mask = self._prepare(x)
        assert self.trainer is not None

        def save() -> None:
            assert checkpoint is not None
            self.save(checkpoint)
            if on_checkpoint is not None:
                on_checkpoint(self.step)

        try:
            self.trainer.fit(x, mask=mask, checkpoint=save if checkpoint is not None else None, progress=progress,
                             callback=callback)
        finally:
            self.eval()
        return self

    def loss(self, x1: torch.Tensor | np.ndarray, generator: torch.Generator | None = None) -> torch.Tensor:
        """The training objective on one batch (its own posterior reference for target="posterior").

        Needs a model prepared for its training data (:meth:`fit`, :meth:`prepare` or a checkpoint):
        on a fresh one it would fit the skip to this one batch.

        Shape:
            x1: (batch, N, d) in [0, 1]. returns: () real.
        """
        if self.field is None or not self.prepared:
            raise ValueError("loss: the model has not seen its training data; call prepare(data) or fit(data) "
                             "first (the skip Gaussian and σ_d are fit to the training set)")
        x, mask = self._prepare(windows.as_windows(x1, "x1", in_dim=self.in_dim, dtype=self.dtype))
        gens = None
        if generator is not None:
            gens = TrainGenerators(0)
            gens.time = gens.noise = gens.batch = generator
        return self._objective()(self.field, x, gens, mask=mask)

    # -- sampling ----------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, steps: int | None = None, solver: str | None = None, seq_len: int | None = None,
               batch_size: int = _SAMPLE.batch_size, seed: int | None = None, return_nfe: bool = False, *,
               ema: bool = True, solver_kwargs: dict[str, Any] | None = None, start: int = 0,
               observed: torch.Tensor | np.ndarray | None = None, mask: torch.Tensor | np.ndarray | None = None,
               method: str | None = None, guidance_scale: float = _SAMPLE.guidance_scale
               ) -> torch.Tensor | tuple[torch.Tensor, int]:
        """Generate ``n`` windows in [0, 1] by integrating dx/dt = v_t(x) from t = 0 to t = 1.

        With ``observed`` (imputation, forecasting): ``n`` complete draws per observed window that
        equal it wherever ``mask`` is 1 (default: where ``observed`` is not NaN), conditioned by
        ``method`` ("field", "gaussian", "replacement" or "guidance",
        :mod:`kernelops.flows.sample.conditional`; default :attr:`default_method`).

        Args:
            n: number of windows (draws per observed window).
            steps, solver, solver_kwargs: solver steps (default ``sample_steps``; adaptive solvers
                take rtol/atol in ``solver_kwargs`` instead), a registered solver name and its arguments.
            seq_len: window length (default the training length; other lengths need skip "stationary", "channel" or "none").
            batch_size: windows integrated together.
            seed: seeds the source noise (None: drawn from torch's global RNG); window i of a draw
                depends on (seed, i) alone (:func:`~kernelops.flows.sample.ode.sample_field`).
            return_nfe: also return the number of field evaluations per window.
            ema: use the EMA weights (default) or the raw ones.
            start: return windows ``start … start + n − 1`` of the draw (one rank's share,
                :func:`kernelops.flows.sample.shard.sample_sharded`); unconditional only.
            observed, mask, method, guidance_scale: the observations and how to condition on them.

        Shape:
            returns: (n, N, d) on the model's device; with ``observed`` of shape (B, N, d): (B, n, N, d).
        """
        field = self._field(ema)
        length = seq_len if seq_len is not None else self.seq_len
        _check_int("seq_len", length, 2, "an integer ≥ 2")
        assert length is not None
        for setting, fixed in (("potential", "window potential was built for"), ("skip", "skip was fit to")):
            if getattr(self.field_config, setting) == "window" and length != self.seq_len:
                raise ValueError(f"seq_len: this model's {fixed} windows of {self.seq_len} steps, got seq_len={length}; "
                                 "train with potential='chain' and skip='stationary', 'channel' or 'none' to sample other "
                                 "lengths")
        if self.field_config.potential == "chain" and self.seq_len is not None and length > self.seq_len:
            warnings.warn(f"seq_len: {length} steps from a chain trained on {self.seq_len}-step windows: the chain's "
                          "potential grows with the window length and its samples can diverge beyond the training "
                          "length (docs/spectral_mean_flow.md, 'Other window lengths'); check them before use",
                          KernelopsWarning, stacklevel=2)
        kwargs = {**(self.solver_kwargs if solver is None else {}), **(solver_kwargs or {})}
        ode, steps = resolve_solver(solver or self.solver_name, kwargs, steps, self.sample_steps)
        seed = int(torch.randint(0, 2**62, (), dtype=torch.int64)) if seed is None else int(seed)
        if observed is None and mask is None:
            x, nfe = sample_field(field, self.path, ode, n, (length, field.in_dim), steps=steps, seed=seed,
                                  start=start, batch_size=batch_size, device=self.device, dtype=self.dtype)
            out = snap_to_lattice(self.from_model(x), self.lattices)
            return (out, nfe) if return_nfe else out
        if start:
            raise ValueError("start: only for unconditional sampling (observed given)")
        y, m = windows.as_observations(observed, mask, (length, field.in_dim))
        y, m = y.to(device=self.device, dtype=self.dtype), m.to(self.device) if isinstance(m, torch.Tensor) else m
        x, nfe = sample_conditional(field, self.path, ode, self.to_model(y), m, samples=n, steps=steps,
                                    generator=torch.Generator().manual_seed(seed), method=method or self.default_method,
                                    guidance_scale=guidance_scale, batch_size=batch_size, device=self.device,
                                    dtype=self.dtype)
        # the observed entries are returned as given, not through the coordinate round trip
        generated = snap_to_lattice(self.from_model(x), self.lattices)
        samples = torch.where((m if m.dtype == torch.bool else m != 0)[:, None], y[:, None], generated)
        return (samples, nfe) if return_nfe else samples

    # -- likelihood ---------------------------------------------------------------------------
    def log_prob(self, x: torch.Tensor | np.ndarray, steps: int | None = None, exact: bool | None = None, *,
                 ema: bool = True, **options: Any) -> Any:
        """log p(x) in nats per window by the instantaneous change of variables (docs/likelihood.md).

        ``x`` is in [0, 1] like :meth:`fit` and :meth:`sample` (``scale="original"``: in the units
        of the data ``kernelops fit`` read, through the stored scaler); the result counts the
        scaling's Jacobian. ``exact=None``: exact divergence up to 512 values per window, else
        Hutchinson. ``options``: solver, solver_kwargs, scale, probes, exact_max_dim, seed,
        time_power, batch_size (:func:`kernelops.flows.model_likelihood.window_log_prob`).

        Shape:
            x: (n, N, d). returns: :class:`~kernelops.flows.likelihood.LogProb` (log_prob, stderr,
            bits_per_value of shape (n,), nfe, noise).
        """
        return window_log_prob(self, self._field(ema), x, steps=steps, exact=exact, **options)

    def encode(self, x: torch.Tensor | np.ndarray, steps: int | None = None, *, ema: bool = True,
               **options: Any) -> torch.Tensor:
        """The source states the flow carries to windows ``x`` (the reverse ODE, data → noise).

        ``x`` in [0, 1] (``scale="original"``: the data's units); ``options``: solver,
        solver_kwargs, scale, time_power, batch_size (:func:`kernelops.flows.model_likelihood.window_encode`).

        Shape:
            x: (n, N, d). returns: (n, N, d) in the source's coordinates.
        """
        return window_encode(self, self._field(ema), x, steps=steps, **options)

    @property
    def default_method(self) -> str:
        """The conditioning method :meth:`sample` uses when none is named."""
        if self.field_config.conditional:
            return "field"
        return "gaussian" if self.field_config.skip == "window" else "guidance"

    # -- checkpoints -------------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        """JSON-compatible settings to rebuild the model (and where its plugins come from)."""
        return ckpt.model_config(self)

    def checkpoint_state(self) -> dict[str, Any]:
        """Everything needed to resume exactly, as tensors and primitives (:mod:`kernelops.flows.checkpoint`)."""
        return ckpt.state_of(self)

    def save(self, path: str | Path) -> Path:
        """Write a checkpoint (atomically) that :meth:`load` restores exactly."""
        return ckpt.save(path, self.checkpoint_state())

    @classmethod
    def load(cls, path: str | Path, map_location: str | torch.device | None = None) -> SpectralMeanFlow:
        """Rebuild a model from a checkpoint, with its EMA, optimizer state, step and generators.

        Raises:
            CheckpointError: missing, corrupt or foreign file, another format version (named), or
                a plugin it needs is not installed (:func:`kernelops.flows.checkpoint.read`).
        """
        model: SpectralMeanFlow = ckpt.restore(cls, path, resolve_device(map_location))
        return model

    def extra_repr(self) -> str:
        return (f"path={self.path_name!r}, solver={self.solver_name!r}, field={self.field_config}, "
                f"in_dim={self.in_dim}, seq_len={self.seq_len}, step={self.step}")


__all__ = ["SpectralMeanFlow"]
