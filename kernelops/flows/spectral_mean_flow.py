"""SpectralMeanFlow: the neural spectral mean flow of "Sequence Modeling with Spectral Mean Flows".

A generative model of sequences x = (x¹, …, x^N), xⁿ ∈ R^d (DESIGN §2.4–§2.6). The flow moves
samples along the velocity v_t = −∇ₓ f_t of the time-dependent MMD witness

    f_t(x) = Re[TN_s(x) − TN_o(x)],

where TN_q is the tensor-network (spectral chain) inner product of the sequence's features
φ_t(xⁿ; q) with the embedding μ_q of the current (q = s) or target (q = o) sequence law
(:mod:`kernelops.flows.potential`). v_t is trained by conditional flow matching,
L = E_{t, x₁, x₀} ‖v_t(x_t) − u_t(x_t | x₁)‖², which backpropagates through a gradient
(double backward), and sampled by integrating dx/dt = v_t(x) from t = 0 (source noise) to
t = 1 (data) with any registered ODE solver. Cost is linear in N, and a model trained on
windows of one length samples any other length (the chain is time-homogeneous).

Conventions:

* data given to :meth:`SpectralMeanFlow.fit` / returned by :meth:`SpectralMeanFlow.sample` are
  in [0, 1] (min-max scaled); internally the model works on x = 2·data − 1, centred like the
  N(0, I) source (:meth:`to_model` / :meth:`from_model`). :meth:`velocity`, :meth:`potential`
  take model coordinates.
* the loss is the mean over batch, steps and features of (v − u)², so a model that outputs
  v ≡ 0 scores E[u²] per entry (≈ 1.4 for OT on Sines).

Initialisation and scaling (measured; docs/spectral_mean_flow.md and
benchmarks/results/flow_throughput.md): RMS-normalised complex features (E|h|² = 1), heads with
per-block fan-in variances (L: 1/r_b; R, B, H: 1/k) so that a transfer step preserves the norm
up to |λ|, and |λ| uniform in area on the ring [0.05, 0.95] — the design's data point, which
with the raw chain (``chain_norm="none"``) reproduces its figures on Sines (OT, N = 24, depth 4,
width 64, batch 128: loss 1.34 at initialisation, 0.26 after 400 steps). But the raw chain is a
product of N − 2 steps whose gain depends on x: its velocity scale varies by orders of magnitude
between seeds (rms v 0.02 for one, 1.1 for the next), training then sits on the v ≈ 0 plateau
for hundreds of steps for some seeds, and at N = 256 log|TN| spreads over e^{±14} across windows
and the loss turns NaN within 10 steps. The defaults therefore are

* ``chain_norm="pair"``: both chains are divided by a shared, smooth, positive normaliser Z(x)
  (their joint running norm, differentiated, not detached), f = Re[TN_s − TN_o]/Z — the witness
  of the normalised kernel k(x, y)/(Z(x)Z(y)), bounded for any N and still an exact gradient
  potential;
* ``init_velocity=0.3``: before the first step the end head H is scaled so that rms v_t = 0.3
  on a batch of training data (v is linear in H), which removes the seed-to-seed scale lottery.

With both, two seeds train alike (OT, batch 64, lr 2e-3: loss 1.40 → 0.50 and 0.57 after 300
steps), and N = 256 trains with a finite loss.

Two options address the measured weak point of a trained field — it stops removing noise for
t > 0.9 — both keeping v an exact gradient: ``field_scale="path"`` multiplies −∇f by the size
c(t) of the path's conditional field, and ``base_field="gaussian"`` adds the closed-form field of
the training windows' mean and covariance (:mod:`kernelops.flows.gaussian_base`). Neither is the
default: their measured effects differ by dataset (docs/spectral_mean_flow.md).
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from kernelops.errors import CheckpointError, KernelopsWarning, ShapeError
from kernelops.features.spectral_mlp import SpectralMLP
from kernelops.flows.gaussian_base import SIGMA_FLOOR, GaussianBaseField
from kernelops.flows.potential import CHAIN_NORMS, SpectralPotential
from kernelops.flows.spectral import MODES, SpectralHeads
from kernelops.flows.training import EMA, TrainGenerators, WarmupCosine, param_groups
from kernelops.io.checkpoint import load_checkpoint, plugin_record, require_plugins, save_checkpoint
from kernelops.utils.validation import check_tensor

CHECKPOINT_FORMAT = "kernelops.spectral_mean_flow"
CHECKPOINT_VERSION = 1

#: training settings used when neither ``fit`` nor a loaded checkpoint gives one
DEFAULT_TRAIN: dict[str, Any] = {
    "steps": 2000, "batch_size": 128, "lr": 2e-3, "warmup": 100, "weight_decay": 1e-4,
    "grad_clip": 1.0, "ema_decay": 0.999, "final_lr_ratio": 0.05, "target": "conditional",
}

#: regression targets of the flow-matching loss: u_t(x_t | x₁) of the drawn window, or its
#: posterior mean over the training set (AffinePath.posterior_velocity), same minimiser
TARGETS = ("conditional", "posterior")
#: with target="posterior", data sets larger than this use a random subset of this many windows
#: (plus the batch's own windows) as the reference set of each step
POSTERIOR_MAX_REFERENCE = 16384

_DTYPES = {"float32": torch.float32, "float64": torch.float64}

#: None: v = −∇f; "path": v = −c(t)∇f with c(t) from the path's schedule (path_field_scale)
FIELD_SCALES = (None, "path")
#: None: the learned field alone; "gaussian": plus the exact field of the data's mean and covariance
BASE_FIELDS = (None, "gaussian")


def path_field_scale(schedule: Any, t: torch.Tensor) -> torch.Tensor:
    """c(t) = |a_t| + |b_t|, the size of the conditional target u_t(x | x₁) = a_t x + b_t x₁.

    For an affine path x_t = α_t x₁ + σ_t ε the target is u_t = α'_t x₁ + (σ'_t/σ_t)(x − α_t x₁),
    so a_t = σ'_t/σ_t and b_t = α'_t − σ'_t α_t/σ_t (σ_t floored at :data:`SIGMA_FLOOR`). The
    marginal field's Jacobian grows like a_t — 1/(1 − t) for OT as t → 1 — so a network whose
    gradient must match it directly has to grow its curvature without bound, which it does not
    do in practice (measured: an unscaled model stops contracting the noise for t > 0.9, and its
    samples keep ~σ₀.₉ of it). With v = c(t)·(−∇f) the network's gradient and Jacobian stay O(1)
    at every t (for OT, −∇f is the x₁-prediction direction (x̂₁ − x)/2).
    OT: c = 2/σ_t (σ_min = 0); VE: constant; VP: small near t = 0, ~1/(1 − t) near t = 1.

    Shape:
        t: (batch,). returns: (batch,) positive.
    """
    out = schedule.evaluate(t)
    sigma = out.sigma.clamp_min(SIGMA_FLOOR)
    a = out.d_sigma / sigma
    b = out.d_alpha - a * out.alpha
    return a.abs() + b.abs()


def _dtype_name(dtype: torch.dtype) -> str:
    for name, value in _DTYPES.items():
        if value == dtype:
            return name
    raise ValueError(f"dtype: expected torch.float32 or torch.float64, got {dtype}")


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


class _Interrupt:
    """Turns the first Ctrl-C during training into a flag checked between steps (so the
    checkpoint written on the way out is consistent); a second Ctrl-C interrupts at once."""

    def __init__(self) -> None:
        self.requested = False

    @contextlib.contextmanager
    def guard(self) -> Iterator[_Interrupt]:
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = signal.getsignal(signal.SIGINT)

        def handler(signum: int, frame: Any) -> None:
            if self.requested:
                raise KeyboardInterrupt
            self.requested = True

        signal.signal(signal.SIGINT, handler)
        try:
            yield self
        finally:
            signal.signal(signal.SIGINT, previous)


class SpectralMeanFlow(nn.Module):
    """Neural spectral mean flow: train on windows in [0, 1], sample new windows.

    Args:
        path: probability path name (``"vp"``, ``"ot"``, ``"ve"`` or a plugin's) or an object
            with the AffinePath API (``name``, ``config()``, ``sample``, ``sample_source``, ``sample_t``).
        solver: default ODE solver name for :meth:`sample`. Default ``"midpoint"``: second order
            at 2 NFE per step, no step-size control to go wrong on a learned field, and on Sines
            the MMD to held-out data stops improving beyond 16–32 NFE
            (benchmarks/results/flow_throughput.md), so a higher order buys nothing there.
        depth: feature MLP depth L (= number of feature/heads blocks).
        width: MLP width d_h (even); d_f = depth·width/2 complex features.
        rank: total chain rank r (a multiple of depth); default depth·width/2.
        mode: "evd" (complex eigenvalues) or "svd" (real non-negative singular values).
        seed: seeds the initialisation and the training generators (batches, times, noise).
        device: "cpu", "cuda", "auto" or a torch.device (default cpu).
        dtype: torch.float32 or torch.float64 (pass it here; do not call ``.to(dtype)``,
            which would drop the imaginary part of the complex heads).
        time_features: size of the sinusoidal time embedding.
        hidden_mult: expansion factor of the residual blocks.
        ring: (low, high) radii of the initial eigenvalue ring.
        step_gain: constant multiplying the initial transfer head L (1 = the design's
            scaling; "auto" = 1/rms|λ|, unit expected gain per step).
        chain_norm: "pair" (default): f = Re[TN_s − TN_o]/Z(x), Z the joint running norm of the
            o and s chains (bounded for any N, trains reliably); "none": the raw chains
            f = Re[TN_s − TN_o] (the paper's potential; trains only for some seeds at N = 24 and
            fails at N = 256 — see docs/spectral_mean_flow.md).
        init_velocity: before the first training step, scale the end head H so that the rms of
            v_t over a batch of training data is this value (None: keep the raw initialisation).
            See :meth:`calibrate`.
        field_scale: None (default): v_t = −∇ₓ f_t; "path": v_t = c(t)·(−∇ₓ f_t) with c(t) the
            size of the path's conditional field (:func:`path_field_scale`), so the network only
            has to learn an O(1) potential at every t, including near t = 1 where the target
            field contracts at rate 1/σ_t. c depends on t only, so v stays an exact gradient
            field (the witness of the time-dependent kernel c(t)·k_t). Measured: better on Sines
            after 600 steps, worse on Stocks after 2 400 (docs/spectral_mean_flow.md), hence
            not the default.
        base_field: None (default) or "gaussian": add the exact marginal field of a Gaussian
            with the training windows' mean and covariance (:mod:`kernelops.flows.gaussian_base`),
            so the network learns only the non-Gaussian rest. Its moments are taken by the first
            :meth:`fit` and saved in checkpoints; the model then samples the training length only.
        sample_steps: default number of solver steps in :meth:`sample`.
        in_dim, seq_len: build the network now for sequences of d = in_dim features (otherwise
            it is built by the first :meth:`fit` from the data's shape). seq_len is the
            default sampling length.
        path_kwargs, solver_kwargs: keyword arguments for ``ko.path`` / ``ko.solver``.
    """

    def __init__(self, path: str | Any = "vp", solver: str = "midpoint", depth: int = 4, width: int = 64,
                 rank: int | None = None, mode: str = "evd", seed: int = 0,
                 device: str | torch.device | None = None, *, dtype: torch.dtype = torch.float32,
                 time_features: int = 16, hidden_mult: int = 2, ring: tuple[float, float] = (0.05, 0.95),
                 step_gain: float | str = 1.0, chain_norm: str = "pair", init_velocity: float | None = 0.3,
                 field_scale: str | None = None, base_field: str | None = None, sample_steps: int = 32,
                 in_dim: int | None = None,
                 seq_len: int | None = None, path_kwargs: dict[str, Any] | None = None,
                 solver_kwargs: dict[str, Any] | None = None):
        super().__init__()
        import kernelops as ko

        if mode not in MODES:
            raise ValueError(f"mode: expected one of {MODES}, got {mode!r}")
        for name, value in (("depth", depth), ("width", width), ("sample_steps", sample_steps)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected a positive integer, got {value!r}")
        if width % 2:
            raise ValueError(f"width: expected an even number, got {width}")
        k = width // 2
        if rank is None:
            rank = depth * k
        if isinstance(rank, bool) or not isinstance(rank, int) or rank < depth or rank % depth:
            raise ValueError(f"rank: expected a positive multiple of depth={depth} (block-diagonal heads), got {rank!r}")
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise ValueError(f"seed: expected an integer, got {seed!r}")
        self._dtype_name = _dtype_name(dtype)
        self.path_kwargs = dict(path_kwargs or {})
        if isinstance(path, str):
            self.path = ko.path(path, **self.path_kwargs)
        else:
            for attr in ("sample", "sample_source", "sample_t"):
                if not callable(getattr(path, attr, None)):
                    raise ValueError(f"path: expected a path name or an object with {attr}(), got {type(path).__name__}")
            self.path = path
            self.path_kwargs = dict(path.config()) if callable(getattr(path, "config", None)) else {}
        self.path_name = str(getattr(self.path, "name", path))
        self.solver_kwargs = dict(solver_kwargs or {})
        if not isinstance(solver, str):
            raise ValueError(f"solver: expected a registered solver name, got {type(solver).__name__}")
        ko.solver(solver, **self.solver_kwargs)  # fail now on an unknown name, listing the known ones
        self.solver_name = solver
        self.depth, self.width, self.rank, self.mode, self.seed = depth, width, rank, mode, seed
        self.time_features, self.hidden_mult = time_features, hidden_mult
        self.ring = (float(ring[0]), float(ring[1]))
        self.step_gain = step_gain
        if chain_norm not in CHAIN_NORMS:
            raise ValueError(f"chain_norm: expected one of {CHAIN_NORMS}, got {chain_norm!r}")
        self.chain_norm = chain_norm
        if init_velocity is not None and not init_velocity > 0:
            raise ValueError(f"init_velocity: expected a positive number or None, got {init_velocity!r}")
        self.init_velocity = init_velocity
        # both options read α_t, σ_t from the path's schedule
        has_schedule = callable(getattr(getattr(self.path, "schedule", None), "evaluate", None))
        for name, value, allowed in (("field_scale", field_scale, FIELD_SCALES), ("base_field", base_field, BASE_FIELDS)):
            if value not in allowed:
                raise ValueError(f"{name}: expected one of {allowed}, got {value!r}")
            if value is not None and not has_schedule:
                raise ValueError(f"{name}={value!r} needs an affine path with a schedule (α_t, σ_t); path "
                                 f"{self.path_name!r} has none: pass {name}=None")
        self.field_scale = field_scale
        self.base_field = base_field
        self.base: GaussianBaseField | None = None
        self.calibration: float | None = None
        self.sample_steps = sample_steps
        self._device = resolve_device(device)
        self.in_dim: int | None = None
        self.seq_len: int | None = seq_len
        self.net: SpectralPotential | None = None
        self.ema: EMA | None = None
        self.step = 0
        self.generators = TrainGenerators(seed)
        self.train_config: dict[str, Any] = {}
        self.history: list[tuple[int, float, float]] = []
        self.scaler_state: dict[str, Any] | None = None
        self.extra: dict[str, Any] = {}
        self._optimizer: torch.optim.Optimizer | None = None
        self._pending_optimizer: dict[str, Any] | None = None
        self._data_fingerprint: list[float] | None = None
        if in_dim is not None:
            self.build(in_dim, seq_len)

    # -- construction ------------------------------------------------------------------------
    @property
    def dtype(self) -> torch.dtype:
        return _DTYPES[self._dtype_name]

    @property
    def device(self) -> torch.device:
        if self.net is not None:
            return next(self.net.parameters()).device
        return self._device

    @property
    def built(self) -> bool:
        return self.net is not None

    def build(self, in_dim: int, seq_len: int | None = None) -> SpectralMeanFlow:
        """Create the feature network and heads for d = ``in_dim`` (deterministic in ``seed``)."""
        if isinstance(in_dim, bool) or not isinstance(in_dim, int) or in_dim < 1:
            raise ValueError(f"in_dim: expected a positive integer, got {in_dim!r}")
        if self.net is not None:
            raise RuntimeError("the network is already built")
        if seq_len is not None:
            self.seq_len = int(seq_len)
        gain = self.step_gain
        k = self.width // 2
        gen = torch.Generator().manual_seed(self.seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)  # nn.Linear's default init draws from the global RNG
            features = SpectralMLP(in_dim, self.depth, self.width, self.time_features,
                                   hidden_mult=self.hidden_mult, dtype=self.dtype)
        heads = SpectralHeads(self.depth, k, self.rank // self.depth, mode=self.mode, ring=self.ring,
                              step_gain=gain, dtype=self.dtype, generator=gen)
        self.step_gain = heads.step_gain
        self.in_dim = in_dim
        self.net = SpectralPotential(features, heads, chain_norm=self.chain_norm).to(self._device)
        self.ema = EMA(self.net, DEFAULT_TRAIN["ema_decay"])
        return self

    def _require_built(self) -> SpectralPotential:
        if self.net is None:
            raise ValueError("the model is not built yet: call fit(data) first (or pass in_dim=...)")
        return self.net

    # -- coordinates, potential, velocity ----------------------------------------------------
    @staticmethod
    def to_model(data: torch.Tensor) -> torch.Tensor:
        """Data in [0, 1] → model coordinates 2·data − 1 (centred like the N(0, I) source)."""
        return data * 2.0 - 1.0

    @staticmethod
    def from_model(x: torch.Tensor) -> torch.Tensor:
        """Model coordinates → data scale, (x + 1)/2."""
        return (x + 1.0) * 0.5

    def _net(self, ema: bool) -> SpectralPotential:
        net = self._require_built()
        return self.ema.module if (ema and self.ema is not None) else net

    @staticmethod
    def _batch_times(t: float | torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """t as one time per sequence of x, shape (batch,)."""
        return torch.as_tensor(t, dtype=x.dtype, device=x.device).expand(x.shape[0])

    def _scale(self, t: float | torch.Tensor, x: torch.Tensor) -> torch.Tensor | None:
        """c(t) of ``field_scale`` per sequence, or None when the field is not scaled.

        Shape:
            t: float, 0-d or (batch,). x: (batch, N, d). returns: (batch,) or None.
        """
        if self.field_scale is None:
            return None
        return path_field_scale(self.path.schedule, self._batch_times(t, x))

    def _ensure_base(self, x: torch.Tensor) -> None:
        """Take the Gaussian base field's moments from windows in model coordinates, once."""
        if self.base_field == "gaussian" and self.base is None:
            self.base = GaussianBaseField.from_windows(x.detach()).to(self.device)

    def _velocity(self, net: SpectralPotential, x: torch.Tensor, t: float | torch.Tensor,
                  create_graph: bool, *, base: bool = True) -> torch.Tensor:
        v = net.velocity(x, t, create_graph=create_graph)
        scale = self._scale(t, x)
        if scale is not None:
            v = v * scale[:, None, None]
        if base and self.base_field is not None:
            if self.base is None:
                raise ValueError(f"base_field={self.base_field!r}: the base field's moments are taken from the "
                                 "training data by fit(); call fit(data) first")
            v = v + self.base.velocity(self.path.schedule, x, self._batch_times(t, x))
        return v

    def potential(self, x: torch.Tensor, t: float | torch.Tensor, *, ema: bool = False) -> torch.Tensor:
        """The flow's potential c(t)·f_t(x), f_t(x) = Re[TN_s(x) − TN_o(x)], in model coordinates.

        Shape:
            x: (batch, N, d). t: float, 0-d or (batch,). returns: (batch,).
        """
        f = self._net(ema)(x, t)
        scale = self._scale(t, x)
        if scale is not None:
            f = f * scale
        if self.base is not None:
            f = f + self.base.potential(self.path.schedule, x, self._batch_times(t, x))
        return f

    def velocity(self, x: torch.Tensor, t: float | torch.Tensor, *, create_graph: bool | None = None,
                 ema: bool = False, base: bool = True) -> torch.Tensor:
        """v_t(x) = −c(t)·∇ₓ f_t(x) in model coordinates, by autograd (also under ``torch.no_grad``).

        Args:
            x: points in model coordinates.
            t: flow time in [0, 1].
            create_graph: keep the graph for a second backward; default: in training mode.
            ema: use the EMA weights.
            base: include the Gaussian base field (``base_field="gaussian"``); False gives the
                learned part c(t)·(−∇ₓ f_t) alone.

        Shape:
            x: (batch, N, d). t: float, 0-d or (batch,). returns: (batch, N, d).
        """
        net = self._net(ema)
        if create_graph is None:
            create_graph = self.training and not ema
        return self._velocity(net, x, t, create_graph, base=base)

    # -- training ----------------------------------------------------------------------------
    def _flow_matching_loss(self, x1: torch.Tensor, g_time: torch.Generator | None,
                            g_noise: torch.Generator | None, reference: torch.Tensor | None = None) -> torch.Tensor:
        """Mean of (v_t(x_t) − target)²; the target is u_t(x_t | x₁), or with a ``reference``
        set its posterior mean over that set (``target="posterior"``)."""
        net = self._require_built()
        batch = x1.shape[0]
        # draw on the generators' device (CPU) and move: same stream on every device
        t = self.path.sample_t(batch, generator=g_time, dtype=x1.dtype).to(x1.device)
        x0 = self.path.sample_source(tuple(x1.shape), generator=g_noise, dtype=x1.dtype).to(x1.device)
        ps = self.path.sample(x0, x1, t)
        target = ps.u_t if reference is None else self.path.posterior_velocity(ps.x_t, t, reference)
        v = self._velocity(net, ps.x_t, t, create_graph=True)
        return (v - target).square().mean()

    def _posterior_reference(self, x: torch.Tensor, idx: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The reference set of one step: all windows, or a random subset plus the batch's own.

        Shape:
            x: (num, N, d). idx: (batch,). returns: (num_ref, N, d).
        """
        if x.shape[0] <= POSTERIOR_MAX_REFERENCE:
            return x
        subset = torch.randint(x.shape[0], (POSTERIOR_MAX_REFERENCE,), generator=generator).to(x.device)
        return torch.cat([x[subset], x[idx]])

    def loss(self, x1: torch.Tensor | np.ndarray, generator: torch.Generator | None = None) -> torch.Tensor:
        """Conditional flow-matching loss E‖v_t(x_t) − u_t(x_t | x₁)‖² (mean per entry).

        Differentiable in the parameters through the gradient v_t = −∇f_t (double backward).

        Args:
            x1: a batch of data windows in [0, 1].
            generator: CPU generator for t and the source noise (default: global RNG).

        Shape:
            x1: (batch, N, d). returns: () real.
        """
        data = self._as_data(x1, "x1")
        if self.net is None:
            self.build(data.shape[-1], data.shape[1])
        x1_model = self.to_model(data.to(self.device))
        self._ensure_base(x1_model)
        return self._flow_matching_loss(x1_model, generator, generator)

    def _as_data(self, data: Any, name: str) -> torch.Tensor:
        if isinstance(data, np.ndarray):
            if not np.issubdtype(data.dtype, np.number):
                raise ShapeError(f"{name}: expected a numeric array, got dtype {data.dtype}")
            data = torch.from_numpy(np.asarray(data))
        if not isinstance(data, torch.Tensor):
            raise ShapeError(f"{name}: expected an array or tensor of shape (num, N, d), got {type(data).__name__}")
        check_tensor(data, name, ndim=3, allow_complex=False)
        if data.shape[0] < 1 or data.shape[1] < 2 or data.shape[2] < 1:
            raise ShapeError(f"{name}: expected shape (num ≥ 1, N ≥ 2, d ≥ 1), got {tuple(data.shape)}")
        if self.in_dim is not None and data.shape[2] != self.in_dim:
            raise ShapeError(f"{name}: expected {self.in_dim} features (the model's d), got shape {tuple(data.shape)}")
        data = data.to(self.dtype)
        lo, hi = float(data.min()), float(data.max())
        if lo < -0.5 or hi > 1.5:
            warnings.warn(f"{name}: values span [{lo:.3g}, {hi:.3g}]; the model expects data min-max scaled to "
                          "[0, 1] (kernelops.data.MinMaxScaler)", KernelopsWarning, stacklevel=3)
        return data

    def _optimizer_for(self, lr: float, weight_decay: float) -> torch.optim.Optimizer:
        if self._optimizer is None:
            net = self._require_built()
            self._optimizer = torch.optim.AdamW(param_groups(net, weight_decay), lr=lr, betas=(0.9, 0.99))
            if self._pending_optimizer is not None:
                self._optimizer.load_state_dict(self._pending_optimizer)
                self._pending_optimizer = None
        for group in self._optimizer.param_groups:
            if group["weight_decay"] > 0:
                group["weight_decay"] = weight_decay
        return self._optimizer

    @torch.no_grad()
    def calibrate(self, data: torch.Tensor | np.ndarray, target: float | None = None, batch: int = 128) -> float:
        """Data-dependent initialisation: scale H so that rms v_t = ``target`` on training data.

        The raw initialisation's velocity scale varies by orders of magnitude between seeds and
        sizes (the product of N random transfer steps is heavy tailed): rms v at N = 24 was 0.02
        for one seed and 1.1 for the next. Too small and training sits on the v ≈ 0 plateau for
        hundreds of steps; too large and the first steps have losses in the hundreds. v is
        linear in H (η = hH enters once, after any normalisation), so one constant factor sets
        the scale exactly and keeps v an exact gradient field. Draws come from a generator
        seeded from ``seed`` (the training streams are untouched). Called by the first
        :meth:`fit` unless ``init_velocity=None``.

        Shape:
            data: (num, N, d) in [0, 1].

        Returns:
            the factor applied to H (also stored as ``calibration``).
        """
        target = self.init_velocity if target is None else target
        if target is None or not target > 0:
            raise ValueError(f"target: expected a positive number, got {target!r}")
        x = self._as_data(data, "data")
        if self.net is None:
            self.build(x.shape[2], x.shape[1])
        g = torch.Generator().manual_seed(self.seed + 104729)
        idx = torch.randint(x.shape[0], (min(batch, x.shape[0]),), generator=g)
        x1 = self.to_model(x[idx]).to(self.device)
        t = self.path.sample_t(len(idx), generator=g, dtype=x1.dtype).to(x1.device)
        x0 = self.path.sample_source(tuple(x1.shape), generator=g, dtype=x1.dtype).to(x1.device)
        xt = self.path.sample(x0, x1, t).x_t
        # the learned part only: a Gaussian base field is fixed and needs no scale
        rms = float(self._velocity(self.net, xt, t, create_graph=False, base=False).square().mean().sqrt())
        if not (math.isfinite(rms) and rms > 0):
            raise FloatingPointError(f"calibrate: the initial velocity is {rms}; try another seed or chain_norm='pair'")
        factor = target / rms
        self.net.heads.H.mul_(factor)
        assert self.ema is not None
        self.ema.copy_from(self.net)
        self.calibration = factor if self.calibration is None else self.calibration * factor
        return factor

    def fit(self, data: torch.Tensor | np.ndarray, steps: int | None = None, batch_size: int | None = None,
            lr: float | None = None, warmup: int | None = None, weight_decay: float | None = None,
            grad_clip: float | None = None, ema_decay: float | None = None, target: str | None = None,
            log_every: int = 50, checkpoint: str | Path | None = None, checkpoint_every: int = 500, progress: bool = True,
            callback: Callable[[int, float, float], Any] | None = None) -> SpectralMeanFlow:
        """Train by conditional flow matching until ``steps`` optimisation steps in total.

        ``steps`` counts from the start of training: a model loaded from a checkpoint written
        at step s continues with step s + 1 and stops at ``steps`` (so a resumed run reproduces
        the uninterrupted one exactly, given the same data and settings). Settings left ``None``
        take the value of the previous fit / the checkpoint, else :data:`DEFAULT_TRAIN`.

        Args:
            data: training windows in [0, 1].
            steps: total number of optimisation steps.
            batch_size: windows per step (drawn with replacement by the batch generator).
            lr: peak AdamW learning rate (linear warm-up over ``warmup`` steps, cosine decay to
                ``lr·0.05`` at ``steps``).
            warmup: warm-up steps.
            weight_decay: AdamW decoupled weight decay on weight matrices and heads.
            grad_clip: max global gradient norm (0 or None disables... use 0 to disable).
            ema_decay: decay of the weight EMA used for sampling.
            target: "conditional" (default): regress v_t(x_t) on u_t(x_t | x₁) of the drawn
                window; "posterior": on its posterior mean over the training set
                (:meth:`AffinePath.posterior_velocity`). Both losses have the same minimiser on
                the training set; the posterior target has no variance of its own, so the
                gradient is less noisy and the loss reads as the model's own error. Costs one
                (batch × windows) product per step; needs an affine path.
            log_every: steps between progress-bar updates of the loss.
            checkpoint: file to write (atomically) every ``checkpoint_every`` steps, at the end,
                and on Ctrl-C.
            checkpoint_every: steps between checkpoints.
            progress: show a tqdm bar.
            callback: ``callback(step, loss, lr)`` after every step.

        Shape:
            data: (num, N, d) with N ≥ 2.

        Returns:
            self.
        """
        x = self._as_data(data, "data")
        if self.net is None:
            self.build(x.shape[2], x.shape[1])
        elif self.seq_len is None:
            self.seq_len = x.shape[1]
        cfg = {**DEFAULT_TRAIN, **self.train_config}
        given = {"steps": steps, "batch_size": batch_size, "lr": lr, "warmup": warmup,
                 "weight_decay": weight_decay, "grad_clip": grad_clip, "ema_decay": ema_decay, "target": target}
        cfg.update({key: value for key, value in given.items() if value is not None})
        for key in ("steps", "batch_size"):
            if isinstance(cfg[key], bool) or not isinstance(cfg[key], int) or cfg[key] < (0 if key == "steps" else 1):
                raise ValueError(f"{key}: expected a {'non-negative' if key == 'steps' else 'positive'} integer, got {cfg[key]!r}")
        if not cfg["lr"] > 0:
            raise ValueError(f"lr: expected a positive number, got {cfg['lr']!r}")
        if cfg["target"] not in TARGETS:
            raise ValueError(f"target: expected one of {TARGETS}, got {cfg['target']!r}")
        if cfg["target"] == "posterior" and not callable(getattr(self.path, "posterior_velocity", None)):
            raise ValueError(f"target='posterior' needs a path with posterior_velocity (an affine path); "
                             f"path {self.path_name!r} has none: use target='conditional'")
        if checkpoint_every < 1 or log_every < 1:
            raise ValueError(f"checkpoint_every/log_every: expected positive integers, got {checkpoint_every}, {log_every}")
        self.train_config = cfg
        fingerprint = [float(v) for v in (*x.shape, x.double().sum(), x.double().square().sum())]
        if self._data_fingerprint is not None and self.step > 0 and not np.allclose(fingerprint, self._data_fingerprint, rtol=1e-6):
            warnings.warn("fit: the data differ from those this model was trained on so far; a resumed run "
                          "will not reproduce the uninterrupted one", KernelopsWarning, stacklevel=2)
        self._data_fingerprint = fingerprint
        if self.step == 0 and self.calibration is None and self.init_velocity is not None:
            self.calibrate(x)
        net = self._require_built()
        assert self.ema is not None
        self.ema.decay = float(cfg["ema_decay"])
        if not 0 <= self.ema.decay < 1:
            raise ValueError(f"ema_decay: expected a number in [0, 1), got {cfg['ema_decay']!r}")
        optimizer = self._optimizer_for(cfg["lr"], cfg["weight_decay"])
        schedule = WarmupCosine(cfg["lr"], cfg["steps"], cfg["warmup"], cfg["final_lr_ratio"])
        x = self.to_model(x.to(self.device))
        self._ensure_base(x)
        num = x.shape[0]
        gens = self.generators
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=cfg["steps"], initial=self.step, desc="fit", dynamic_ncols=True, leave=True)
        interrupt = _Interrupt()
        self.train()
        try:
            with interrupt.guard():
                while self.step < cfg["steps"]:
                    lr_now = schedule(self.step)
                    for group in optimizer.param_groups:
                        group["lr"] = lr_now
                    idx = torch.randint(num, (cfg["batch_size"],), generator=gens.batch).to(x.device)
                    reference = (self._posterior_reference(x, idx, gens.batch)
                                 if cfg["target"] == "posterior" else None)
                    loss = self._flow_matching_loss(x[idx], gens.time, gens.noise, reference)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    if cfg["grad_clip"]:
                        nn.utils.clip_grad_norm_(net.parameters(), cfg["grad_clip"])
                    optimizer.step()
                    self.ema.update(net)
                    self.step += 1
                    value = float(loss.detach())
                    if not math.isfinite(value):
                        raise FloatingPointError(f"fit: the loss became {value} at step {self.step}; lower lr "
                                                 f"(now {lr_now:.3g}) or check the data")
                    self.history.append((self.step, value, lr_now))
                    if callback is not None:
                        callback(self.step, value, lr_now)
                    if bar is not None:
                        bar.update(1)
                        if self.step % log_every == 0 or self.step == 1:
                            recent = [h[1] for h in self.history[-log_every:]]
                            bar.set_postfix(loss=f"{sum(recent) / len(recent):.4f}", lr=f"{lr_now:.2e}", refresh=False)
                    if checkpoint is not None and (self.step % checkpoint_every == 0 or self.step == cfg["steps"]):
                        self.save(checkpoint)
                    if interrupt.requested:
                        if checkpoint is not None:
                            self.save(checkpoint)
                        raise KeyboardInterrupt
        finally:
            if bar is not None:
                bar.close()
            self.eval()
        return self

    # -- sampling ----------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, steps: int | None = None, solver: str | None = None, seq_len: int | None = None,
               batch_size: int = 1000, seed: int | None = None, return_nfe: bool = False, *,
               ema: bool = True, solver_kwargs: dict[str, Any] | None = None
               ) -> torch.Tensor | tuple[torch.Tensor, int]:
        """Generate ``n`` windows in [0, 1] by integrating dx/dt = v_t(x) from t = 0 to t = 1.

        Args:
            n: number of sequences.
            steps: solver steps (default ``sample_steps``; ignored by adaptive solvers, which
                use ``solver_kwargs`` rtol/atol).
            solver: any registered solver name (default the model's).
            seq_len: sequence length N (default: the training length; any N ≥ 2 works).
            batch_size: sequences integrated together.
            seed: seeds the source noise (None: drawn from torch's global RNG).
            return_nfe: also return the number of vector-field evaluations per sequence
                (for adaptive solvers the largest over the batches).
            ema: use the EMA weights (default) or the raw ones.
            solver_kwargs: keyword arguments for the solver (e.g. rtol, atol).

        Shape:
            returns: (n, N, d) on the model's device, in the data's [0, 1] scale.
        """
        import kernelops as ko

        net = self._net(ema)
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n: expected a positive integer, got {n!r}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size: expected a positive integer, got {batch_size!r}")
        length = seq_len if seq_len is not None else self.seq_len
        if length is None or isinstance(length, bool) or not isinstance(length, int) or length < 2:
            raise ValueError(f"seq_len: expected an integer ≥ 2, got {length!r}")
        if self.base is not None and length != self.base.seq_len:
            raise ValueError(f"seq_len: this model's Gaussian base field was fit to windows of {self.base.seq_len} "
                             f"steps, got seq_len={length}; train with base_field=None to sample other lengths")
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
        gen = torch.Generator().manual_seed(int(seed))
        was_training = net.training
        net.eval()

        def field(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
            return self._velocity(net, x, t, create_graph=False)

        # all source noise drawn at once on the CPU: the samples do not depend on batch_size or device
        noise = self.path.sample_source((n, length, self.in_dim), generator=gen, dtype=self.dtype)
        out, nfe = [], 0
        try:
            for start in range(0, n, batch_size):
                x0 = noise[start:start + batch_size].to(self.device)
                result = ode.solve(field, x0, 0.0, 1.0, steps)
                nfe = max(nfe, int(result.nfe))
                out.append(self.from_model(result.x))
        finally:
            net.train(was_training)
        samples = torch.cat(out, dim=0)
        return (samples, nfe) if return_nfe else samples

    # -- checkpoints -------------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        """JSON-compatible constructor settings (and where the path/solver plugins come from)."""
        def record(kind: str, name: str) -> dict[str, Any]:
            try:
                return plugin_record(kind, name)
            except Exception:  # an unregistered custom object: recorded by name only
                return {"kind": kind, "name": name, "plugin": None, "dist": None, "version": None}

        return {
            "path": self.path_name, "path_kwargs": _jsonable(self.path_kwargs),
            "solver": self.solver_name, "solver_kwargs": _jsonable(self.solver_kwargs),
            "depth": self.depth, "width": self.width, "rank": self.rank, "mode": self.mode, "seed": self.seed,
            "dtype": self._dtype_name, "time_features": self.time_features, "hidden_mult": self.hidden_mult,
            "ring": list(self.ring), "step_gain": self.step_gain, "chain_norm": self.chain_norm,
            "init_velocity": self.init_velocity, "field_scale": self.field_scale, "base_field": self.base_field,
            "calibration": self.calibration,
            "sample_steps": self.sample_steps,
            "in_dim": self.in_dim, "seq_len": self.seq_len, "features": "spectral_mlp",
            "data_transform": "x = 2*data - 1",
            "plugins_needed": [record("paths", self.path_name), record("solvers", self.solver_name)],
        }

    def checkpoint_state(self) -> dict[str, Any]:
        """Everything needed to resume exactly, as tensors and primitives only."""
        from kernelops.plugins.manager import get_host

        return {
            "format": CHECKPOINT_FORMAT, "format_version": CHECKPOINT_VERSION,
            "config": self.config(),
            "model": None if self.net is None else self.net.state_dict(),
            "ema": None if self.ema is None else self.ema.state_dict(),
            "optimizer": (self._optimizer.state_dict() if self._optimizer is not None else self._pending_optimizer),
            "scheduler": dict(self.train_config),
            "step": self.step,
            "rng": {"torch_cpu": torch.get_rng_state(), **self.generators.state_dict()},
            "plugins": {k: v for k, v in get_host().versions().items()},
            "scaler": self.scaler_state,
            "data_fingerprint": self._data_fingerprint,
            "extra": _jsonable(self.extra),
            "base_field": None if self.base is None else self.base.state_dict(),
        }

    def save(self, path: str | Path) -> Path:
        """Write a checkpoint (atomically) that :meth:`load` restores exactly."""
        return save_checkpoint(path, self.checkpoint_state())

    @classmethod
    def load(cls, path: str | Path, map_location: str | torch.device | None = None) -> SpectralMeanFlow:
        """Rebuild a model from a checkpoint, with its EMA, optimizer state, step and generators.

        Args:
            path: the checkpoint file.
            map_location: device for the model (default cpu).

        Raises:
            CheckpointError: missing/corrupt file, or it needs a path/solver plugin that is not
                installed (the message names the distribution to install).
        """
        device = resolve_device(map_location)
        state = load_checkpoint(path, map_location="cpu", expect_format=CHECKPOINT_FORMAT,
                                required=("config", "model", "ema", "step", "rng"))
        cfg = state["config"]
        if not isinstance(cfg, dict):
            raise CheckpointError(f"{path}: corrupt checkpoint (config is not a dict)")
        require_plugins([r for r in cfg.get("plugins_needed", []) if isinstance(r, dict)], where=str(path))
        try:
            model = cls(path=cfg["path"], solver=cfg["solver"], depth=cfg["depth"], width=cfg["width"],
                        rank=cfg["rank"], mode=cfg["mode"], seed=cfg["seed"], device=device,
                        dtype=_DTYPES[cfg["dtype"]], time_features=cfg["time_features"],
                        hidden_mult=cfg["hidden_mult"], ring=tuple(cfg["ring"]), step_gain=cfg["step_gain"],
                        chain_norm=cfg["chain_norm"], init_velocity=cfg["init_velocity"],
                        # checkpoints written before field_scale existed used the unscaled field
                        field_scale=cfg.get("field_scale"), base_field=cfg.get("base_field"),
                        sample_steps=cfg["sample_steps"], in_dim=cfg["in_dim"], seq_len=cfg["seq_len"],
                        path_kwargs=cfg["path_kwargs"], solver_kwargs=cfg["solver_kwargs"])
            if state["model"] is not None:
                model.net.load_state_dict(state["model"])
                model.ema.load_state_dict(state["ema"])
            model.calibration = cfg["calibration"]
            model.step = int(state["step"])
            rng = state["rng"]
            model.generators.load_state_dict(rng)
            torch.set_rng_state(rng["torch_cpu"])
        except (KeyError, TypeError, RuntimeError, AttributeError) as exc:
            raise CheckpointError(f"{path}: corrupt or incompatible checkpoint ({type(exc).__name__}: {exc})") from exc
        if state.get("base_field") is not None:
            model.base = GaussianBaseField.from_state_dict(state["base_field"], where=str(path)).to(device)
        model._pending_optimizer = state.get("optimizer")
        model.train_config = dict(state.get("scheduler") or {})
        model.scaler_state = state.get("scaler")
        model._data_fingerprint = state.get("data_fingerprint")
        model.extra = dict(state.get("extra") or {})
        model.eval()
        return model

    def extra_repr(self) -> str:
        return (f"path={self.path_name!r}, solver={self.solver_name!r}, depth={self.depth}, width={self.width}, "
                f"rank={self.rank}, mode={self.mode!r}, in_dim={self.in_dim}, seq_len={self.seq_len}, step={self.step}")


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


__all__ = ["BASE_FIELDS", "CHECKPOINT_FORMAT", "DEFAULT_TRAIN", "FIELD_SCALES", "SIGMA_FLOOR", "SpectralMeanFlow",
           "path_field_scale",
           "resolve_device"]
