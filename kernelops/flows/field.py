"""The velocity field of the spectral mean flow: an exact gradient field, preconditioned.

**The learned potential** f_t (:mod:`kernelops.flows.potentials`): the MMD witness between the
data and the current law, either the spectral chain witness of the spectral mean flow
(:class:`ChainPotential`, ``potential="chain"``, the default) or the witness of a learned kernel
on whole windows (:class:`WindowPotential`, ``potential="window"``).

**The parameterisation** (:class:`SpectralVelocityField`). For an affine path x_t = α_t x₁ + σ_t x₀
the field is written through a clean-window prediction D, with a closed-form skip S (the
posterior mean of a Gaussian fit to the data, :mod:`kernelops.flows.skip`) and the learned part
scaled in the manner of EDM (Karras et al., 2022):

    D_t(x) = S_t(x) + c_out(t) · F_t(c_in(t) x),   F_t(y) = −∇_y f_t(y),
    v_t(x) = a_t x + b_t D_t(x),   a_t = σ'_t/σ_t,  b_t = α'_t − a_t α_t,

c_in = 1/√(α_t² σ_d² + σ_t²) gives the network unit-variance inputs at every t, and
c_out = σ_t σ_d/√(α_t² σ_d² + σ_t²) is the posterior standard deviation of a scalar Gaussian
with the data's variance σ_d², so the network's target has unit size at every t and its
contribution vanishes like σ_t as t → 1, where the skip alone contracts the noise at the exact
rate. Every term is a gradient (S of a quadratic, c_out F of −(c_out/c_in) f(c_in x), x of
|x|²/2), so v = −∇Φ with the potential Φ of :meth:`SpectralVelocityField.potential`: v is an
exact gradient field, as the spectral mean flow requires.

With ``skip="none"`` there is neither skip nor preconditioning: v_t(x) = F_t(x) = −∇ₓf_t(x) is
learned directly and the loss is plain flow matching (λ = b_t²). On data far from Gaussian
(Stocks) it learned far better than the preconditioned field; on smooth data (Sines) its
samples keep noise near t = 1 (docs/spectral_mean_flow.md).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from kernelops.errors import ShapeError
from kernelops.flows.conditional import conditioned_with_variance
from kernelops.flows.config import FieldConfig
from kernelops.flows.missing import fill_missing, observed_mask
from kernelops.flows.potentials import ChainPotential, WindowPotential, build_potential
from kernelops.flows.skip import ChannelGaussian, WindowGaussian
from kernelops.utils.validation import check_tensor

#: rms of the learned part F on noised training windows before the first step (see fit_data)
INITIAL_LEARNED_RMS = 0.3


class SpectralVelocityField(nn.Module):
    """v_t(x) = a_t x + b_t [S_t(x) + c_out(t)·F_t(c_in(t)·x)], an exact gradient field (module docstring).

    Use it like any velocity network: ``field(t, x)`` returns dx/dt, differentiable in the
    parameters whenever grad mode is on (the input gradient it takes is kept in the graph), so
    it drops into a custom loop, DDP or an ODE solver (call it under ``torch.no_grad`` there).

    Args:
        path: an affine path (its ``schedule.evaluate(t)`` gives α_t, σ_t and their derivatives).
        in_dim: features per step d.
        seq_len: training window length N (the "window" skip is fit to it).
        config: sizes and skip (:class:`FieldConfig`).
        sigma_data: σ_d, the standard deviation of the data in model coordinates.
        seed: seeds the initial weights.
        dtype: parameter dtype (float32 or float64).

    Shape:
        t: float, 0-d or (batch,). x: (batch, N, d). returns: (batch, N, d).
    """

    sigma_data: torch.Tensor  # a buffer (registered in __init__)

    def __init__(self, path: Any, in_dim: int, seq_len: int, config: FieldConfig | None = None, *,
                 sigma_data: float = 0.5, seed: int = 0, dtype: torch.dtype = torch.float32):
        super().__init__()
        config = config if config is not None else FieldConfig()
        config.validate()
        if not callable(getattr(getattr(path, "schedule", None), "evaluate", None)):
            raise ValueError(f"path: expected an affine path with a schedule (α_t, σ_t); got {type(path).__name__}")
        if not (isinstance(sigma_data, (int, float)) and math.isfinite(sigma_data) and sigma_data > 0):
            raise ValueError(f"sigma_data: expected a positive finite number, got {sigma_data!r}")
        self.path, self.config = path, config
        self.in_dim, self.seq_len = int(in_dim), int(seq_len)
        # a buffer, so checkpoints and the EMA copy carry the value fit to the data
        self.register_buffer("sigma_data", torch.tensor(float(sigma_data), dtype=dtype))
        self.potential_net = build_potential(config, in_dim, seq_len, seed=seed, dtype=dtype)
        self.skip: WindowGaussian | ChannelGaussian | None = (
            WindowGaussian(seq_len, in_dim, dtype) if config.skip == "window"
            else ChannelGaussian(in_dim, dtype) if config.skip == "channel" else None)

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

    def coefficients(self, t: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(α_t, σ_t, a_t, b_t, c_in, c_out), each of t's shape."""
        c = self.path.schedule.evaluate(t)
        a = c.d_sigma / c.sigma
        b = c.d_alpha - a * c.alpha
        var = c.alpha.square() * self.sigma_data**2 + c.sigma.square()
        return c.alpha, c.sigma, a, b, var.rsqrt(), c.sigma * self.sigma_data * var.rsqrt()

    def loss_weight(self, t: torch.Tensor) -> torch.Tensor:
        """λ(t) = 1/c_out(t)²: the weight of ‖D − x₁‖² that gives the network a unit-size target
        (without a skip: b_t², so that λ‖D − x₁‖² = ‖v − u‖², plain flow matching).

        Shape:
            t: (batch,). returns: (batch,).
        """
        coefficients = self.coefficients(t)
        return coefficients[3].square() if self.skip is None else coefficients[5].square().reciprocal()

    # -- the field ---------------------------------------------------------------------------
    # The public methods check their inputs and evaluate the schedule once; the private ones
    # take the per-sequence times and, where needed, the coefficients.
    def _condition(self, x: torch.Tensor, observed: torch.Tensor | None, mask: torch.Tensor | None
                   ) -> tuple[torch.Tensor, torch.Tensor] | None:
        """(y, m) for a mask-conditioned field: y the observations (0 where unobserved), m bool."""
        if observed is None and mask is None:
            return None
        if not self.config.conditional:
            raise ValueError("observed, mask: this field is not mask-conditioned (FieldConfig(conditional=True)); "
                             "condition it with kernelops.flows.conditional instead")
        if observed is None or mask is None:
            raise ValueError("observed, mask: give both or neither")
        if observed.shape != x.shape or mask.shape != x.shape:
            raise ShapeError(f"observed, mask: expected the shape of x {tuple(x.shape)}, "
                             f"got {tuple(observed.shape)} and {tuple(mask.shape)}")
        m = mask if mask.dtype == torch.bool else mask != 0
        return torch.where(m, observed, torch.zeros((), dtype=observed.dtype, device=observed.device)), m

    def _learned(self, t_b: torch.Tensor, x: torch.Tensor, c_in: torch.Tensor | None,
                 condition: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        keep_graph = torch.is_grad_enabled()
        with torch.enable_grad():
            y = x if c_in is None else c_in[:, None, None] * x
            if not (keep_graph and y.requires_grad):
                y = y.detach().requires_grad_(True)
            if condition is None:
                f = self.potential_net(y, t_b)
            else:  # the observed entries of the state are noise around y: the network reads y itself
                observed, m = condition
                given = m.to(y.dtype)
                f = self.potential_net(y * (1 - given), t_b, (given, observed / self.sigma_data))
            (grad,) = torch.autograd.grad(f.sum(), y, create_graph=keep_graph)
        return -grad

    def _denoise(self, t_b: torch.Tensor, x: torch.Tensor, coefficients: tuple[torch.Tensor, ...],
                 condition: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        alpha, sigma, a, b, c_in, c_out = coefficients
        if self.skip is None:  # v = F: the prediction the field implies, (v − a x)/b
            return (self._learned(t_b, x, None) - a[:, None, None] * x) / b[:, None, None]
        if condition is None:
            return self.skip(x, alpha, sigma) + c_out[:, None, None] * self._learned(t_b, x, c_in)
        return self._conditional(t_b, x, coefficients, condition)[0]

    def _conditional(self, t_b: torch.Tensor, x: torch.Tensor, coefficients: tuple[torch.Tensor, ...],
                     condition: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """D_t(x | y, m) and its loss weight (see :meth:`denoise`)."""
        alpha, sigma, _, _, c_in, c_out = coefficients
        observed, m = condition
        skip = self.skip(x, alpha, sigma)  # type: ignore[misc]  # FieldConfig: conditional needs the window skip
        scale = c_out
        if bool(m.any()):
            assert isinstance(self.skip, WindowGaussian)
            shared = bool((t_b == t_b[0]).all())
            rank = self.config.condition_rank
            cov = self.skip.posterior_covariance(alpha[:1].squeeze(0), sigma[:1].squeeze(0), rank) if shared else \
                self.skip.posterior_covariance(alpha, sigma, rank)
            # the skip Gaussian given x_t and the observed entries (exact if the data were Gaussian); the
            # learned part is scaled to what conditioning leaves of the free entries' variance, so the
            # network's target has unit size for every mask, as c_out gives it for none
            skip, shrink = conditioned_with_variance(cov, skip, observed, m)
            scale = c_out * shrink.sqrt().to(c_out.dtype)
        clean = skip + scale[:, None, None] * self._learned(t_b, x, c_in, condition)
        return torch.where(m, observed, clean), scale.square().reciprocal()

    def learned(self, t: float | torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """F_t(c_in x) = −∇_y f_t(y) at y = c_in(t)·x (kept in the graph when grad mode is on;
        without a skip c_in = 1 and F is the velocity itself).

        Shape:
            x: (batch, N, d). returns: (batch, N, d).
        """
        t_b = self._times(t, x)
        return self._learned(t_b, x, None if self.skip is None else self.coefficients(t_b)[4])

    def denoise(self, t: float | torch.Tensor, x: torch.Tensor, *, observed: torch.Tensor | None = None,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        """D_t(x) = S_t(x) + c_out(t)·F_t(c_in x), the prediction of the clean window.

        A mask-conditioned field (``FieldConfig(conditional=True)``) also takes the observations:
        then S_t is the skip Gaussian's mean given x_t and x₁ᵒ = y, F reads (m, y) and is scaled by
        c_out·√s, s the factor by which conditioning shrank the free entries' mean variance under
        that Gaussian (:func:`~kernelops.flows.conditional.conditioned_with_variance`), and D
        equals y on the observed entries. Without them it predicts unconditionally (an empty mask).

        Shape:
            x, observed, mask: (batch, N, d). returns: (batch, N, d).
        """
        t_b = self._times(t, x)
        return self._denoise(t_b, x, self.coefficients(t_b), self._condition(x, observed, mask))

    def denoise_with_weight(self, t: float | torch.Tensor, x: torch.Tensor, *, observed: torch.Tensor | None = None,
                            mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(D_t(x [| y, m]), λ): the prediction of :meth:`denoise` and the loss weight that gives
        its learned part a unit-size target (:meth:`loss_weight` without a condition; with one,
        one over the learned part's squared scale for that window's mask).

        Shape:
            t: float, 0-d or (batch,). x, observed, mask: (batch, N, d). returns: (batch, N, d), (batch,).
        """
        t_b = self._times(t, x)
        condition = self._condition(x, observed, mask)
        if condition is None:
            return self._denoise(t_b, x, self.coefficients(t_b)), self.loss_weight(t_b)
        return self._conditional(t_b, x, self.coefficients(t_b), condition)

    def forward(self, t: float | torch.Tensor, x: torch.Tensor, *, observed: torch.Tensor | None = None,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        """v_t(x) = a_t x + b_t D_t(x) (with ``observed`` and ``mask``: v_t(x | y, m), see :meth:`denoise`).

        Shape:
            t: float, 0-d or (batch,). x, observed, mask: (batch, N, d). returns: (batch, N, d).
        """
        t_b = self._times(t, x)
        condition = self._condition(x, observed, mask)
        if self.skip is None:
            return self._learned(t_b, x, None)
        coefficients = self.coefficients(t_b)
        a, b = coefficients[2], coefficients[3]
        return a[:, None, None] * x + b[:, None, None] * self._denoise(t_b, x, coefficients, condition)

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
    def fit_data(self, x: torch.Tensor, *, learned_rms: float | None = INITIAL_LEARNED_RMS, seed: int = 0) -> float:
        """Prepare the field for training windows ``x`` (model coordinates), before the first step.

        Fits the skip's Gaussian and σ_d (over the observed entries when some are NaN), then
        (unless ``learned_rms`` is None, or the potential needs no calibration) scales the
        potential's read-out so the learned part F has that rms on noised training windows. The
        chain's raw size varies by orders of magnitude between seeds (a product of N random
        transfer steps is heavy tailed); F is linear in the read-out, so one factor sets it
        exactly. The window potential starts at zero and is left so. The draws come from a
        generator seeded with ``seed`` (no global random state is used).

        Shape:
            x: (num, N, d).

        Returns:
            the factor applied to the end heads (1.0 when ``learned_rms`` is None).
        """
        if self.skip is not None:
            self.skip.fit(x)
        mask = observed_mask(x)
        observed = x if mask is None else x[mask]
        self.sigma_data.fill_(float(observed.double().std()))
        if learned_rms is None or not self.potential_net.needs_calibration:
            return 1.0
        g = torch.Generator().manual_seed(seed)
        idx = torch.randint(x.shape[0], (min(128, x.shape[0]),), generator=g)
        x1 = x[idx.to(x.device)]
        if mask is not None:
            x1 = fill_missing(x1, mask[idx.to(x.device)], self.skip)
        t = self.path.sample_t(len(idx), generator=g, dtype=x1.dtype).to(x1.device)
        x0 = self.path.sample_source(tuple(x1.shape), generator=g, dtype=x1.dtype).to(x1.device)
        rms = float(self.learned(t, self.path.sample(x0, x1, t).x_t).square().mean().sqrt())
        if not (math.isfinite(rms) and rms > 0):
            raise FloatingPointError(f"the learned field's initial size is {rms}; try another seed")
        factor = learned_rms / rms
        self.scale_learned(factor)
        return factor

    @torch.no_grad()
    def scale_learned(self, factor: float) -> None:
        """Multiply the learned part F by ``factor`` (exactly: F is linear in the potential's read-out)."""
        self.potential_net.scale_(factor)

    def extra_repr(self) -> str:
        cfg = self.config
        rank = f"rank={cfg.chain_rank}, " if cfg.potential == "chain" else ""
        conditional = "conditional=True, " if cfg.conditional else ""
        return (f"in_dim={self.in_dim}, seq_len={self.seq_len}, potential={cfg.potential!r}, depth={cfg.depth}, "
                f"width={cfg.width}, {rank}skip={cfg.skip!r}, {conditional}sigma_data={float(self.sigma_data):.3g}")


__all__ = ["INITIAL_LEARNED_RMS", "ChainPotential", "SpectralVelocityField", "WindowPotential"]
