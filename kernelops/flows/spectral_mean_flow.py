"""SpectralMeanFlow: the neural spectral mean flow of "Sequence Modeling with Spectral Mean Flows".

A facade over four parts that are each usable alone (docs/spectral_mean_flow.md):

* :class:`~kernelops.flows.SpectralVelocityField` — the velocity field, an ``nn.Module``
  ``field(t, x)``: an exact gradient field built on two spectral chains and a Gaussian skip;
* :class:`~kernelops.flows.FlowMatchingObjective` — the loss, with its target as a strategy;
* :class:`~kernelops.flows.Trainer` with :class:`~kernelops.flows.TrainConfig` — optimizer,
  schedule, EMA, checkpoints, signals;
* :func:`~kernelops.flows.sample_field` — any registered ODE solver from t = 0 to t = 1.

Data given to :meth:`SpectralMeanFlow.fit` and returned by :meth:`SpectralMeanFlow.sample` are in
[0, 1] (min-max scaled); the field works on x = 2·data − 1, centred like the N(0, I) source.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from kernelops.errors import CheckpointError, KernelopsWarning, ShapeError
from kernelops.flows.config import DEFAULT_PATH, DEFAULT_SOLVER, POTENTIAL_SAMPLE_STEPS, FieldConfig, TrainConfig
from kernelops.flows.field import SpectralVelocityField
from kernelops.flows.objective import FlowMatchingObjective
from kernelops.flows.sampler import sample_field
from kernelops.flows.trainer import Trainer
from kernelops.io.checkpoint import load_checkpoint, plugin_record, require_plugins, save_checkpoint
from kernelops.utils.fingerprint import array_fingerprint
from kernelops.utils.validation import check_tensor

CHECKPOINT_FORMAT = "kernelops.spectral_mean_flow"
#: 2: the preconditioned field with a Gaussian skip (format 1 was the unpreconditioned field of 0.1)
CHECKPOINT_VERSION = 2

_DTYPES = {"float32": torch.float32, "float64": torch.float64}
_FIELD = FieldConfig()


def resolve_device(device: str | torch.device | None) -> torch.device:
    """"auto" → cuda if available else cpu; None → cpu; anything else as torch.device."""
    if device is None:
        return torch.device("cpu")
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device: expected 'cpu', 'cuda', 'auto' or a torch.device, got {device!r}") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device: 'cuda' requested but no CUDA device is available (use --device cpu or auto)")
    return dev


def _dtype_name(dtype: torch.dtype) -> str:
    for name, value in _DTYPES.items():
        if value == dtype:
            return name
    raise ValueError(f"dtype: expected torch.float32 or torch.float64, got {dtype}")


class SpectralMeanFlow(nn.Module):
    """Neural spectral mean flow: train on windows in [0, 1], sample new windows.

    Args:
        path: probability path name ("ot", "vp", "ve" or a plugin's affine path) or an affine path object.
        solver: default ODE solver name for :meth:`sample`.
        depth, width, potential, rank, mode, time_features, hidden_mult, skip, conditional, condition_rank: the field's form
            and size (:class:`FieldConfig`, where the defaults live; depth and width default to
            the chosen potential's own sizes).
        seed: seeds the initialisation and the training generators (batches, times, noise).
        device: "cpu", "cuda", "auto" or a torch.device (default cpu).
        dtype: torch.float32 or torch.float64.
        sample_steps: default solver steps in :meth:`sample` (None: the potential's, ``POTENTIAL_SAMPLE_STEPS``).
        in_dim, seq_len: build the field now for windows of shape (seq_len, in_dim) (otherwise
            the first :meth:`fit` builds it from the data's shape).
        path_kwargs, solver_kwargs: keyword arguments for ``ko.path`` / ``ko.solver``.
    """

    def __init__(self, path: str | Any = DEFAULT_PATH, solver: str = DEFAULT_SOLVER, depth: int | None = None,
                 width: int | None = None, rank: int | None = _FIELD.rank, mode: str = _FIELD.mode, seed: int = 0,
                 device: str | torch.device | None = None, *, dtype: torch.dtype = torch.float32,
                 time_features: int = _FIELD.time_features, hidden_mult: int = _FIELD.hidden_mult,
                 skip: str = _FIELD.skip, potential: str = _FIELD.potential, conditional: bool = _FIELD.conditional,
                 condition_rank: int = _FIELD.condition_rank,
                 sample_steps: int | None = None, in_dim: int | None = None,
                 seq_len: int | None = None, path_kwargs: dict[str, Any] | None = None,
                 solver_kwargs: dict[str, Any] | None = None):
        super().__init__()
        import kernelops as ko

        self.field_config = FieldConfig(depth=depth, width=width, potential=potential, rank=rank, mode=mode, time_features=time_features,
                                        hidden_mult=hidden_mult, skip=skip, conditional=conditional,
                                        condition_rank=condition_rank)
        self.field_config.validate()
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed: expected an integer, got {seed!r}")
        if sample_steps is None:
            sample_steps = POTENTIAL_SAMPLE_STEPS[self.field_config.potential]
        if isinstance(sample_steps, bool) or not isinstance(sample_steps, int) or sample_steps < 1:
            raise ValueError(f"sample_steps: expected a positive integer, got {sample_steps!r}")
        self._dtype_name = _dtype_name(dtype)
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
        self.trainer: Trainer | None = None
        self._train_config = TrainConfig()  # used until the trainer exists, then the trainer's
        self.calibration: float | None = None
        self.scaler_state: dict[str, Any] | None = None
        self.extra: dict[str, Any] = {}
        self._data_fingerprint: str | list[float] | None = None
        self._train_mask: torch.Tensor | None = None  # observed entries of the training windows, if any are NaN
        if in_dim is not None:
            self.build(in_dim, seq_len)

    # -- construction ------------------------------------------------------------------------
    @property
    def dtype(self) -> torch.dtype:
        return _DTYPES[self._dtype_name]

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

    @property
    def ema(self) -> Any:
        return self.trainer.ema if self.trainer is not None else None

    def build(self, in_dim: int, seq_len: int | None = None) -> SpectralMeanFlow:
        """Create the field for windows of ``in_dim`` features (deterministic in ``seed``)."""
        if isinstance(in_dim, bool) or not isinstance(in_dim, int) or in_dim < 1:
            raise ValueError(f"in_dim: expected a positive integer, got {in_dim!r}")
        if self.field is not None:
            raise RuntimeError("the field is already built")
        length = seq_len if seq_len is not None else self.seq_len
        if isinstance(length, bool) or not isinstance(length, int) or length < 2:
            raise ValueError(f"seq_len: expected an integer ≥ 2 (the training window length), got {length!r}")
        self.in_dim, self.seq_len = in_dim, length
        self.field = SpectralVelocityField(self.path, in_dim, length, self.field_config, seed=self.seed,
                                           dtype=self.dtype).to(self._device)
        self.trainer = Trainer(self.field, self._objective(), self.train_config, seed=self.seed)
        return self

    def _objective(self) -> FlowMatchingObjective:
        cfg = self.train_config
        return FlowMatchingObjective(self.path, cfg.target, data_mask=self._train_mask,
                                     stability_weight=cfg.stability_weight, stability=cfg.stability)

    def _require_built(self) -> SpectralVelocityField:
        if self.field is None:
            raise ValueError("the model is not built yet: call fit(data) first (or pass in_dim=... and seq_len=...)")
        return self.field

    def _field(self, ema: bool) -> SpectralVelocityField:
        field = self._require_built()
        return self.trainer.ema.module if (ema and self.trainer is not None) else field

    # -- coordinates and the field -----------------------------------------------------------
    @staticmethod
    def to_model(data: torch.Tensor) -> torch.Tensor:
        """Data in [0, 1] → model coordinates 2·data − 1 (centred like the N(0, I) source)."""
        return data * 2.0 - 1.0

    @staticmethod
    def from_model(x: torch.Tensor) -> torch.Tensor:
        """Model coordinates → data scale, (x + 1)/2."""
        return (x + 1.0) * 0.5

    def velocity(self, x: torch.Tensor, t: float | torch.Tensor, *, ema: bool = False) -> torch.Tensor:
        """v_t(x) in model coordinates (differentiable when grad mode is on).

        Shape:
            x: (batch, N, d). t: float, 0-d or (batch,). returns: (batch, N, d).
        """
        return self._field(ema)(t, x)

    def potential(self, x: torch.Tensor, t: float | torch.Tensor, *, ema: bool = False) -> torch.Tensor:
        """Φ_t(x) with v_t = −∇ₓΦ_t, in model coordinates.

        Shape:
            x: (batch, N, d). returns: (batch,).
        """
        return self._field(ema).potential(t, x)

    # -- training ----------------------------------------------------------------------------
    def _as_data(self, data: Any, name: str) -> torch.Tensor:
        if isinstance(data, np.ndarray):
            if not np.issubdtype(data.dtype, np.number):
                raise ShapeError(f"{name}: expected a numeric array, got dtype {data.dtype}")
            data = torch.from_numpy(np.asarray(data))
        if not isinstance(data, torch.Tensor):
            raise ShapeError(f"{name}: expected an array or tensor of shape (num, N, d), got {type(data).__name__}")
        check_tensor(data, name, ndim=3, allow_complex=False, finite=False)  # NaN marks a missing entry
        if bool(torch.isinf(data).any()):
            raise ShapeError(f"{name}: contains infinite values (NaN marks a missing entry, infinity is not allowed)")
        if data.shape[0] < 2 or data.shape[1] < 2 or data.shape[2] < 1:
            raise ShapeError(f"{name}: expected shape (num ≥ 2, N ≥ 2, d ≥ 1), got {tuple(data.shape)}")
        if self.in_dim is not None and data.shape[2] != self.in_dim:
            raise ShapeError(f"{name}: expected {self.in_dim} features (the model's d), got shape {tuple(data.shape)}")
        data = data.to(self.dtype)
        observed = data[~torch.isnan(data)]
        if observed.numel() == 0:
            raise ShapeError(f"{name}: every entry is missing (NaN)")
        lo, hi = float(observed.min()), float(observed.max())
        if lo < -0.5 or hi > 1.5:
            warnings.warn(f"{name}: values span [{lo:.3g}, {hi:.3g}]; the model expects data min-max scaled to "
                          "[0, 1] (kernelops.data.MinMaxScaler)", KernelopsWarning, stacklevel=3)
        return data

    @torch.no_grad()
    def _initialise(self, x: torch.Tensor) -> None:
        """Before the first step: fit the skip and σ_d, set the learned part's initial size."""
        field = self._require_built()
        self.calibration = field.fit_data(x, seed=self.seed + 104729)
        assert self.trainer is not None
        self.trainer.ema.copy_from(field)

    def fit(self, data: torch.Tensor | np.ndarray, steps: int | None = None, batch_size: int | None = None,
            lr: float | None = None, warmup: int | None = None, weight_decay: float | None = None,
            grad_clip: float | None = None, ema_decay: float | None = None, target: str | None = None,
            log_every: int | None = None, checkpoint: str | Path | None = None, checkpoint_every: int | None = None,
            progress: bool = True, callback: Callable[[int, float, float], Any] | None = None,
            config: TrainConfig | None = None, on_checkpoint: Callable[[int], Any] | None = None) -> SpectralMeanFlow:
        """Train until ``steps`` optimisation steps in total.

        Settings left None keep their value from ``config``, the previous fit or the
        checkpoint, else :class:`TrainConfig`'s defaults. ``steps`` counts from the start of
        training, so a model loaded from a checkpoint at step s continues with step s + 1 and
        a resumed run reproduces the uninterrupted one exactly (same data and settings); a
        ``steps`` below the model's step is refused. ``steps=0`` on a new model only prepares it
        (fits the skip's Gaussian and σ_d to the data, sets the learned part's initial size) and
        trains nothing.

        Args:
            data: training windows in [0, 1].
            steps, batch_size, lr, warmup, weight_decay, grad_clip, ema_decay, target, log_every,
                checkpoint_every: see :class:`TrainConfig`.
            checkpoint: file written atomically every ``checkpoint_every`` steps, at the end and
                on SIGINT / SIGTERM / SIGUSR1 (by rank 0 alone in a multi-process run: under
                torchrun, call ``fit`` on every rank with the same data and settings; it trains
                with DistributedDataParallel, :mod:`kernelops.flows.distributed`).
            progress: show a tqdm bar.
            callback: ``callback(step, loss, lr)`` after every step.
            config: a whole :class:`TrainConfig` (the keyword settings override it).
            on_checkpoint: ``on_checkpoint(step)`` after each checkpoint is completely written
                (``kernelops fit`` records there which step the file on disk holds).

        Shape:
            data: (num, N, d) with N ≥ 2.
        """
        x = self._as_data(data, "data")
        if self.field is None:
            self.build(x.shape[2], x.shape[1])
        base = config if config is not None else self.train_config
        cfg = base.replace(steps=steps, batch_size=batch_size, lr=lr, warmup=warmup, weight_decay=weight_decay,
                           grad_clip=grad_clip, ema_decay=ema_decay, target=target, log_every=log_every,
                           checkpoint_every=checkpoint_every)
        if cfg.steps < self.step:  # steps is the total: a lower one would silently train nothing
            raise ValueError(f"steps: expected the total number of optimisation steps, at least {self.step} "
                             f"(the model is at step {self.step}), got {cfg.steps}")
        self.train_config = cfg
        # a hash of the values: sums missed a reordering (time reversal); checkpoints of older versions
        # hold a list of sums, not compared
        fingerprint = array_fingerprint(x)
        if isinstance(self._data_fingerprint, str) and self.step > 0 and fingerprint != self._data_fingerprint:
            warnings.warn("fit: the data differ from those this model was trained on so far; a resumed run "
                          "will not reproduce the uninterrupted one", KernelopsWarning, stacklevel=2)
        self._data_fingerprint = fingerprint
        x, self._train_mask = self._filled(self.to_model(x.to(self.device)))
        assert self.trainer is not None
        self.trainer.objective.data_mask = self._train_mask  # type: ignore[attr-defined]  # ours: FlowMatchingObjective

        def save() -> None:
            assert checkpoint is not None
            self.save(checkpoint)
            if on_checkpoint is not None:
                on_checkpoint(self.step)

        try:
            self.trainer.fit(x, checkpoint=save if checkpoint is not None else None, progress=progress, callback=callback)
        finally:
            self.eval()
        return self

    def loss(self, x1: torch.Tensor | np.ndarray, generator: torch.Generator | None = None) -> torch.Tensor:
        """The training objective on one batch (its own posterior reference for target="posterior").

        Shape:
            x1: (batch, N, d) in [0, 1]. returns: () real.
        """
        data = self._as_data(x1, "x1")
        if self.field is None:
            self.build(data.shape[-1], data.shape[1])
        x, mask = self._filled(self.to_model(data.to(self.device)))
        objective = self._objective()  # its training-set mask is unused: no batch_index is passed
        if generator is None:
            return objective(self.field, x, mask=mask)
        from kernelops.flows.training import TrainGenerators

        gens = TrainGenerators(0)
        gens.time = gens.noise = gens.batch = generator
        return objective(self.field, x, gens, mask=mask)

    def _filled(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Initialise on the first call, then fill missing entries (kernelops.flows.missing).

        Returns:
            the filled windows and the mask of observed entries (windows without NaN pass
            through unchanged, with mask None).
        """
        from kernelops.flows.missing import fill_missing, observed_mask

        if self.step == 0 and self.calibration is None:
            self._initialise(x)
        mask = observed_mask(x)
        assert self.field is not None
        return (x, None) if mask is None else (fill_missing(x, mask, self.field.skip), mask)

    # -- sampling ----------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, steps: int | None = None, solver: str | None = None, seq_len: int | None = None,
               batch_size: int = 1000, seed: int | None = None, return_nfe: bool = False, *,
               ema: bool = True, solver_kwargs: dict[str, Any] | None = None,
               observed: torch.Tensor | np.ndarray | None = None, mask: torch.Tensor | np.ndarray | None = None,
               method: str | None = None, guidance_scale: float = 1.0, start: int = 0
               ) -> torch.Tensor | tuple[torch.Tensor, int]:
        """Generate ``n`` windows in [0, 1] by integrating dx/dt = v_t(x) from t = 0 to t = 1.

        With ``observed`` (imputation, forecasting): ``n`` complete draws per observed window that
        equal it wherever ``mask`` is 1 (default mask: the entries of ``observed`` that are not
        NaN); ``method`` picks how the field is conditioned ("field", "gaussian", "replacement" or
        "guidance", :mod:`kernelops.flows.conditional`, docs/conditional_generation.md; default
        "field" for a mask-conditioned model, else "gaussian" with the window skip, "guidance"
        otherwise).

        Args:
            n: number of windows.
            steps: solver steps (default ``sample_steps``; adaptive solvers take rtol/atol in
                ``solver_kwargs`` instead).
            solver: any registered solver name (default the model's).
            seq_len: window length (default the training length; other lengths need skip "channel" or "none").
            batch_size: windows integrated together.
            seed: seeds the source noise (None: drawn from torch's global RNG). Window i of a
                draw depends on (seed, i) alone, not on ``batch_size`` or how the draw is split
                (:func:`~kernelops.flows.sample_field`).
            return_nfe: also return the number of field evaluations per window.
            ema: use the EMA weights (default) or the raw ones.
            solver_kwargs: keyword arguments for the solver.
            observed: windows in [0, 1] to complete (NaN where missing), or None.
            mask: 1 / True where ``observed`` holds an observation (default: not NaN).
            method, guidance_scale: the conditioning method and guidance strength.
            start: return windows ``start … start + n − 1`` of the draw with ``seed`` (one
                rank's share, :func:`kernelops.flows.distributed.sample_sharded`); unconditional only.

        Shape:
            returns: (n, N, d) on the model's device, in the data's [0, 1] scale; with
            ``observed`` of shape (B, N, d): (B, n, N, d).
        """
        import kernelops as ko

        field = self._field(ema)
        length = seq_len if seq_len is not None else self.seq_len
        if isinstance(length, bool) or not isinstance(length, int) or length < 2:
            raise ValueError(f"seq_len: expected an integer ≥ 2, got {length!r}")
        if self.field_config.potential == "window" and length != self.seq_len:
            raise ValueError(f"seq_len: this model's window potential was built for windows of {self.seq_len} "
                             f"steps, got seq_len={length}; train with potential='chain' and skip='channel' or "
                             "'none' to sample other lengths")
        if self.field_config.skip == "window" and length != self.seq_len:
            raise ValueError(f"seq_len: this model's skip was fit to windows of {self.seq_len} steps, got "
                             f"seq_len={length}; train with skip='channel' or 'none' to sample other lengths")
        name = solver or self.solver_name
        kwargs = dict(self.solver_kwargs if solver is None else {})
        kwargs.update(solver_kwargs or {})
        ode = ko.solver(name, **kwargs)
        adaptive = bool(getattr(ode, "is_adaptive", False))
        if steps is None:
            steps = None if adaptive else self.sample_steps
        elif adaptive:
            raise ValueError(f"steps: solver {name!r} is adaptive; pass solver_kwargs={{'rtol': ..., 'atol': ...}} instead of steps")
        elif isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(f"steps: expected a positive integer, got {steps!r}")
        if seed is None:
            seed = int(torch.randint(0, 2**62, (), dtype=torch.int64))
        if observed is not None or mask is not None:
            if start:
                raise ValueError("start: only for unconditional sampling (observed given)")
            gen = torch.Generator().manual_seed(int(seed))
            return self._sample_conditional(field, ode, n, steps, gen, observed, mask, method, guidance_scale,
                                            batch_size, return_nfe, length)
        x, nfe = sample_field(field, self.path, ode, n, (length, self._require_built().in_dim), steps=steps,
                              seed=int(seed), start=start, batch_size=batch_size, device=self.device, dtype=self.dtype)
        samples = self.from_model(x)
        return (samples, nfe) if return_nfe else samples

    def _sample_conditional(self, field: SpectralVelocityField, ode: Any, n: int, steps: int | None,
                            gen: torch.Generator, observed: Any, mask: Any, method: str | None, guidance_scale: float,
                            batch_size: int, return_nfe: bool, length: int) -> torch.Tensor | tuple[torch.Tensor, int]:
        from kernelops.flows.conditional import sample_conditional

        if observed is None:
            raise ValueError("mask: given without observed; pass observed=windows (NaN where missing)")
        if method is None:
            method = self.default_method
        y = torch.from_numpy(np.asarray(observed)) if isinstance(observed, np.ndarray) else observed
        if not isinstance(y, torch.Tensor) or y.dim() != 3 or not y.is_floating_point():
            got = tuple(y.shape) if isinstance(y, torch.Tensor) else type(observed).__name__
            raise ShapeError(f"observed: expected float windows of shape (B, N, d) in [0, 1], got {got}")
        if tuple(y.shape[1:]) != (length, field.in_dim):
            raise ShapeError(f"observed: expected windows of shape (N, d) = ({length}, {field.in_dim}) "
                             f"(the model's), got {tuple(y.shape[1:])}")
        if mask is None:
            m = ~torch.isnan(y)
        else:
            m = torch.from_numpy(np.asarray(mask)) if isinstance(mask, np.ndarray) else mask
        y = y.to(device=self.device, dtype=self.dtype)
        if isinstance(m, torch.Tensor):
            m = m.to(self.device)
        x, nfe = sample_conditional(field, self.path, ode, self.to_model(y), m, samples=n, steps=steps,
                                    generator=gen, method=method, guidance_scale=guidance_scale,
                                    batch_size=batch_size, device=self.device, dtype=self.dtype)
        observed_mask = (m if m.dtype == torch.bool else m != 0)[:, None]
        # the observed entries are returned as given, not through the coordinate round trip
        samples = torch.where(observed_mask, y[:, None], self.from_model(x))
        return (samples, nfe) if return_nfe else samples

    @property
    def default_method(self) -> str:
        """The conditioning method :meth:`sample` uses when none is named (see there)."""
        if self.field_config.conditional:
            return "field"
        return "gaussian" if self.field_config.skip == "window" else "guidance"

    # -- checkpoints -------------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        """JSON-compatible settings to rebuild the model (and where its plugins come from)."""
        def record(kind: str, name: str) -> dict[str, Any]:
            try:
                return plugin_record(kind, name)
            except Exception:  # an unregistered custom object: recorded by name only
                return {"kind": kind, "name": name, "plugin": None, "dist": None, "version": None}

        return {
            "path": self.path_name, "path_kwargs": _jsonable(self.path_kwargs),
            "solver": self.solver_name, "solver_kwargs": _jsonable(self.solver_kwargs),
            "field": self.field_config.to_dict(), "seed": self.seed, "dtype": self._dtype_name,
            "sample_steps": self.sample_steps, "in_dim": self.in_dim, "seq_len": self.seq_len,
            "sigma_data": None if self.field is None else float(self.field.sigma_data), "calibration": self.calibration,
            "data_transform": "x = 2*data - 1",
            "plugins_needed": [record("paths", self.path_name), record("solvers", self.solver_name)],
        }

    def checkpoint_state(self) -> dict[str, Any]:
        """Everything needed to resume exactly, as tensors and primitives only."""
        from kernelops.plugins.manager import get_host

        return {
            "format": CHECKPOINT_FORMAT, "format_version": CHECKPOINT_VERSION,
            "config": self.config(), "train_config": self.train_config.to_dict(),
            "field": None if self.field is None else self.field.state_dict(),
            "trainer": None if self.trainer is None else self.trainer.state_dict(),
            "rng": {"torch_cpu": torch.get_rng_state()},
            "plugins": dict(get_host().versions()),
            "scaler": self.scaler_state, "data_fingerprint": self._data_fingerprint, "extra": _jsonable(self.extra),
        }

    def save(self, path: str | Path) -> Path:
        """Write a checkpoint (atomically) that :meth:`load` restores exactly."""
        return save_checkpoint(path, self.checkpoint_state())

    @classmethod
    def load(cls, path: str | Path, map_location: str | torch.device | None = None) -> SpectralMeanFlow:
        """Rebuild a model from a checkpoint, with its EMA, optimizer state, step and generators.

        Raises:
            CheckpointError: missing, corrupt or foreign file; a checkpoint of an older format
                (the message names the version); or it needs a plugin that is not installed.
        """
        device = resolve_device(map_location)
        state = load_checkpoint(path, map_location="cpu", expect_format=CHECKPOINT_FORMAT)
        version = state.get("format_version")
        if version != CHECKPOINT_VERSION:
            raise CheckpointError(
                f"{path}: checkpoint format version {version!r}, this kernelops reads version {CHECKPOINT_VERSION}. "
                "Version 1 checkpoints hold the unpreconditioned field of kernelops 0.1, which this version no "
                "longer has: retrain (kernelops fit) or sample them with kernelops 0.1")
        for key in ("config", "train_config", "field", "trainer", "rng"):
            if key not in state:
                raise CheckpointError(f"{path}: corrupt checkpoint (no {key!r} entry)")
        cfg = state["config"]
        require_plugins([r for r in cfg.get("plugins_needed", []) if isinstance(r, dict)], where=str(path))
        try:
            # format-2 checkpoints from before the potential setting hold chain models
            fcfg = FieldConfig.from_dict({"potential": "chain", **cfg["field"]}, where=f"{path} field config")
            model = cls(path=cfg["path"], solver=cfg["solver"], seed=cfg["seed"], device=device,
                        dtype=_DTYPES[cfg["dtype"]], sample_steps=cfg["sample_steps"], path_kwargs=cfg["path_kwargs"],
                        solver_kwargs=cfg["solver_kwargs"], **fcfg.to_dict())
            model.train_config = TrainConfig.from_dict(state["train_config"], where=f"{path} train config")
            if state["field"] is not None:
                model.build(int(cfg["in_dim"]), int(cfg["seq_len"]))
                assert model.field is not None and model.trainer is not None
                model.field.load_state_dict(state["field"])
                model.trainer.load_state_dict(state["trainer"])
            model.calibration = cfg["calibration"]
            torch.set_rng_state(state["rng"]["torch_cpu"])
        except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as exc:
            raise CheckpointError(f"{path}: corrupt or incompatible checkpoint ({type(exc).__name__}: {exc})") from exc
        model.scaler_state = state.get("scaler")
        model._data_fingerprint = state.get("data_fingerprint")
        model.extra = dict(state.get("extra") or {})
        model.eval()
        return model

    def extra_repr(self) -> str:
        return (f"path={self.path_name!r}, solver={self.solver_name!r}, field={self.field_config}, "
                f"in_dim={self.in_dim}, seq_len={self.seq_len}, step={self.step}")


def _jsonable(value: Any) -> Any:
    """Plain JSON-compatible copy (tuples → lists, numpy scalars → Python); rejects other objects."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, torch.dtype):
        return str(value)
    raise ValueError(f"cannot store {type(value).__name__} {value!r} in a checkpoint config (JSON values only)")


__all__ = ["CHECKPOINT_FORMAT", "CHECKPOINT_VERSION", "SpectralMeanFlow", "resolve_device"]
