"""The velocity field of the spectral mean flow: an exact gradient field, preconditioned.

For an affine path x_t = α_t x₁ + σ_t x₀ the field is written through a clean-window prediction
D, a closed-form skip S (the posterior mean of a Gaussian fit to the data,
:mod:`kernelops.flows.gaussian`) and a learned potential f (:mod:`kernelops.flows.potentials`)
scaled in the manner of EDM (Karras et al., 2022):

    D_t(x) = S_t(x) + c_out(t) · F_t(c_in(t) x),   F_t(y) = −∇_y f_t(y),
    v_t(x) = a_t x + b_t D_t(x)   (a_t, b_t: :func:`kernelops.paths.prediction_coefficients`),

c_in = 1/√(α_t² σ_d² + σ_t²) gives the network unit-variance inputs at every t, and
c_out = σ_t σ_d/√(α_t² σ_d² + σ_t²), the posterior standard deviation of a scalar Gaussian with
the data's variance σ_d², gives its target unit size at every t; the learned part vanishes like
σ_t as t → 1, where the skip alone contracts the noise at the exact rate. Every term is a
gradient (S of a quadratic, c_out F of −(c_out/c_in) f(c_in x), a_t x of a_t|x|²/2), so v = −∇Φ
with the potential Φ of :meth:`SpectralVelocityField.potential`: the spectral mean flow needs an
exact gradient field.

With ``skip="none"`` there is neither skip nor preconditioning: v_t(x) = F_t(x) = −∇ₓf_t(x) is
learned directly and the loss is plain flow matching (λ = b_t²), for data far from Gaussian.

This module is the unconditional field; the mask-conditioned one, D_t(x | y, m), extends it in
:mod:`kernelops.flows.masked_field`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import nn

from kernelops.errors import ShapeError
from kernelops.flows.config import FieldConfig
from kernelops.flows.gaussian import ChannelGaussian, WindowGaussian, observed_mask
from kernelops.flows.potentials import build_potential
from kernelops.flows.stationary_gaussian import StationaryGaussian
from kernelops.paths import prediction_coefficients
from kernelops.utils.validation import check_tensor


class FieldCoefficients(NamedTuple):
    """The scalars of the parameterisation at one time each (module docstring).

    Shape:
        every field: t's shape.
    """

    alpha: torch.Tensor
    sigma: torch.Tensor
    a: torch.Tensor
    b: torch.Tensor
    c_in: torch.Tensor
    c_out: torch.Tensor


class SpectralVelocityField(nn.Module):
    """v_t(x) = a_t x + b_t [S_t(x) + c_out(t)·F_t(c_in(t)·x)], an exact gradient field (module docstring).

    Use it like any velocity network: ``field(t, x)`` returns dx/dt, differentiable in the
    parameters whenever grad mode is on (the input gradient it takes is kept in the graph), so
    it drops into a custom loop, DDP or an ODE solver (call it under ``torch.no_grad`` there).

    Args:
        path: an affine path (its ``schedule.evaluate(t)`` gives α_t, σ_t and their derivatives).
        in_dim: features per step d.
        seq_len: training window length N (the "window" skip is fit to it).
        config: sizes and skip (:class:`FieldConfig`); a mask-conditioned config needs
            :class:`~kernelops.flows.masked_field.MaskedVelocityField`.
        sigma_data: σ_d, the standard deviation of the data in model coordinates.
        seed: seeds the initial weights.
        dtype: parameter dtype (float32 or float64).

    Shape:
        t: float, 0-d or (batch,). x: (batch, N, d). returns: (batch, N, d).
    """

    sigma_data: torch.Tensor  # a buffer (registered in __init__)
    #: whether this class reads a conditioning mask (FieldConfig.conditional)
    conditional = False

    def __init__(self, path: Any, in_dim: int, seq_len: int, config: FieldConfig | None = None, *,
                 sigma_data: float = 0.5, seed: int = 0, dtype: torch.dtype = torch.float32):
        super().__init__()
        config = config if config is not None else FieldConfig()
        config.validate()
        if config.conditional != self.conditional:
            raise ValueError(f"config.conditional: expected {self.conditional} for {type(self).__name__}, got "
                             f"{config.conditional} (build a mask-conditioned field with "
                             "kernelops.flows.masked_field.MaskedVelocityField, or use build_field)")
        if not callable(getattr(getattr(path, "schedule", None), "evaluate", None)):
            raise ValueError(f"path: expected an affine path with a schedule (α_t, σ_t); got {type(path).__name__}")
        if not (isinstance(sigma_data, (int, float)) and math.isfinite(sigma_data) and sigma_data > 0):
            raise ValueError(f"sigma_data: expected a positive finite number, got {sigma_data!r}")
        self.path, self.config = path, config
        self.in_dim, self.seq_len = int(in_dim), int(seq_len)
        # a buffer, so checkpoints and the EMA copy carry the value fit to the data
        self.register_buffer("sigma_data", torch.tensor(float(sigma_data), dtype=dtype))
        self.potential_net = build_potential(config, in_dim, seq_len, seed=seed, dtype=dtype)
        self.skip: WindowGaussian | ChannelGaussian | StationaryGaussian | None = (
            WindowGaussian(seq_len, in_dim, dtype) if config.skip == "window"
            else ChannelGaussian(in_dim, dtype) if config.skip == "channel"
            else StationaryGaussian(seq_len, in_dim, dtype) if config.skip == "stationary" else None)

    # -- coefficients ------------------------------------------------------------------------
    def _times(self, t: float | torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Check x and return one time per sequence, shape (batch,)."""
        check_tensor(x, "x", ndim=3, allow_complex=False, finite=False)
        t_b = torch.as_tensor(t, dtype=x.dtype, device=x.device)
        if t_b.dim() == 0:
            t_b = t_b.expand(x.shape[0])
        if tuple(t_b.shape) != (x.shape[0],):
            raise ShapeError(f"t: expected a float, a 0-d tensor or shape ({x.shape[0]},), got {tuple(t_b.shape)}")
        return t_b

    def coefficients(self, t: torch.Tensor) -> FieldCoefficients:
        """(α_t, σ_t, a_t, b_t, c_in, c_out), each of t's shape (module docstring)."""
        c = self.path.schedule.evaluate(t)
        a, b = prediction_coefficients(c)
        var = c.alpha.square() * self.sigma_data**2 + c.sigma.square()
        return FieldCoefficients(c.alpha, c.sigma, a, b, var.rsqrt(), c.sigma * self.sigma_data * var.rsqrt())

    def loss_weight(self, t: torch.Tensor) -> torch.Tensor:
        """λ(t) = 1/c_out(t)²: the weight of ‖D − x₁‖² that gives the network a unit-size target
        (without a skip: b_t², so that λ‖D − x₁‖² = ‖v − u‖², plain flow matching).

        Shape:
            t: (batch,). returns: (batch,).
        """
        coefficients = self.coefficients(t)
        return coefficients.b.square() if self.skip is None else coefficients.c_out.square().reciprocal()

    # -- the field ---------------------------------------------------------------------------
    # The public methods check their inputs and evaluate the schedule once; the private ones
    # take the per-sequence times and, where needed, the coefficients.
    def _learned(self, t_b: torch.Tensor, x: torch.Tensor, c_in: torch.Tensor | None,
                 potential: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
        """−∇_y f(y) at y = c_in·x (y = x without c_in); ``potential`` replaces f_t(y) (the masked field's)."""
        keep_graph = torch.is_grad_enabled()
        with torch.enable_grad():
            y = x if c_in is None else c_in[:, None, None] * x
            if not (keep_graph and y.requires_grad):
                y = y.detach().requires_grad_(True)
            f = self.potential_net(y, t_b) if potential is None else potential(y)
            (grad,) = torch.autograd.grad(f.sum(), y, create_graph=keep_graph)
        return -grad

    def _denoise(self, t_b: torch.Tensor, x: torch.Tensor, coefficients: FieldCoefficients) -> torch.Tensor:
        alpha, sigma, a, b, c_in, c_out = coefficients
        if self.skip is None:  # v = F: the prediction the field implies, (v − a x)/b
            return (self._learned(t_b, x, None) - a[:, None, None] * x) / b[:, None, None]
        return self.skip(x, alpha, sigma) + c_out[:, None, None] * self._learned(t_b, x, c_in)

    def learned(self, t: float | torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """F_t(c_in x) = −∇_y f_t(y) at y = c_in(t)·x (kept in the graph when grad mode is on;
        without a skip c_in = 1 and F is the velocity itself).

        Shape:
            x: (batch, N, d). returns: (batch, N, d).
        """
        t_b = self._times(t, x)
        return self._learned(t_b, x, None if self.skip is None else self.coefficients(t_b).c_in)

    def denoise(self, t: float | torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """D_t(x) = S_t(x) + c_out(t)·F_t(c_in x), the prediction of the clean window.

        Shape:
            x: (batch, N, d). returns: (batch, N, d).
        """
        t_b = self._times(t, x)
        return self._denoise(t_b, x, self.coefficients(t_b))

    def denoise_with_weight(self, t: float | torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(D_t(x), λ(t)): the prediction of :meth:`denoise` and its loss weight (:meth:`loss_weight`).

        Shape:
            t: float, 0-d or (batch,). x: (batch, N, d). returns: (batch, N, d), (batch,).
        """
        t_b = self._times(t, x)
        return self._denoise(t_b, x, self.coefficients(t_b)), self.loss_weight(t_b)

    def forward(self, t: float | torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """v_t(x) = a_t x + b_t D_t(x).

        Shape:
            t: float, 0-d or (batch,). x: (batch, N, d). returns: (batch, N, d).
        """
        t_b = self._times(t, x)
        if self.skip is None:
            return self._learned(t_b, x, None)
        coefficients = self.coefficients(t_b)
        a, b = coefficients.a, coefficients.b
        return a[:, None, None] * x + b[:, None, None] * self._denoise(t_b, x, coefficients)

    def potential(self, t: float | torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Φ_t(x) with v_t = −∇ₓΦ_t: −(a_t|x|²/2 + b_t [ψ_t(x) − (c_out/c_in) f_t(c_in x)]).

        Shape:
            x: (batch, N, d). returns: (batch,).
        """
        t_b = self._times(t, x)
        if self.skip is None:
            return self.potential_net(x, t_b)
        alpha, sigma, a, b, c_in, c_out = self.coefficients(t_b)
        learned = self.potential_net(c_in[:, None, None] * x, t_b)
        psi = self.skip.potential(x, alpha, sigma) - c_out / c_in * learned
        return -(0.5 * a * x.square().sum(dim=(1, 2)) + b * psi)

    @torch.no_grad()
    def fit_data(self, x: torch.Tensor) -> None:
        """Prepare the field for training windows ``x`` (model coordinates), before the first step.

        Fits the skip's Gaussian and σ_d (over the observed entries when some are NaN). The
        learned part needs nothing from the data: both potentials start at zero (their read-out
        or end heads are zero), so the field starts as its skip's Gaussian field.

        Shape:
            x: (num, N, d).
        """
        if self.skip is not None:
            self.skip.fit(x)
        mask = observed_mask(x)
        observed = x if mask is None else x[mask]
        self.sigma_data.fill_(float(observed.double().std()))

    @torch.no_grad()
    def scale_learned(self, factor: float) -> None:
        """Multiply the learned part F by ``factor`` (exactly: F is linear in the potential's read-out)."""
        self.potential_net.scale_(factor)

    def extra_repr(self) -> str:
        cfg = self.config
        rank = f"rank={cfg.chain_rank}, " if cfg.potential == "chain" else ""
        conditional = "conditional=True, " if self.conditional else ""
        return (f"in_dim={self.in_dim}, seq_len={self.seq_len}, potential={cfg.potential!r}, depth={cfg.depth}, "
                f"width={cfg.width}, {rank}skip={cfg.skip!r}, {conditional}sigma_data={float(self.sigma_data):.3g}")


__all__ = ["FieldCoefficients", "SpectralVelocityField"]
