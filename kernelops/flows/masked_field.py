"""The mask-conditioned velocity field D_t(x | y, m): one model that samples, imputes and forecasts.

Given observations y on the entries where the mask m is True, the field predicts the clean window
from the state x_t and (m, y):

    D_t(x | y, m) = S_t(x | y) + c_out(t)·√s · F_t(c_in x; m, y),   D = y on the observed entries,

with S_t(x | y) the skip Gaussian's exact posterior mean given both x_t and x₁ᵒ = y
(:func:`~kernelops.flows.gaussian.conditioned_with_variance`), F = −∇ of the window potential that
also reads the mask and the observed values, and s the factor by which conditioning shrank the
free entries' mean variance under that Gaussian, so the learned part's target keeps unit size
for every mask, as c_out gives it for none. With an empty mask it is the unconditional field of
:mod:`kernelops.flows.field`. Training draws a random mask per window (:mod:`kernelops.flows.masks`).
"""

from __future__ import annotations

from typing import Any

import torch

from kernelops.errors import ShapeError
from kernelops.flows.config import FieldConfig
from kernelops.flows.field import FieldCoefficients, SpectralVelocityField
from kernelops.flows.gaussian import WindowGaussian, conditioned_with_variance

Condition = tuple[torch.Tensor, torch.Tensor]


class MaskedVelocityField(SpectralVelocityField):
    """v_t(x | y, m) = a_t x + b_t D_t(x | y, m) (module docstring); ``FieldConfig(conditional=True)``.

    Takes the arguments of :class:`~kernelops.flows.field.SpectralVelocityField`. Every method
    that predicts takes ``observed`` (y, any value where unobserved) and ``mask`` (True where
    observed) together, or neither (nothing observed).

    Shape:
        t: float, 0-d or (batch,). x, observed, mask: (batch, N, d). returns: (batch, N, d).
    """

    conditional = True

    def _condition(self, x: torch.Tensor, observed: torch.Tensor | None, mask: torch.Tensor | None) -> Condition | None:
        """(y, m): the observations (0 where unobserved) and a bool mask; None when neither is given."""
        if observed is None and mask is None:
            return None
        if observed is None or mask is None:
            raise ValueError("observed, mask: give both or neither")
        if observed.shape != x.shape or mask.shape != x.shape:
            raise ShapeError(f"observed, mask: expected the shape of x {tuple(x.shape)}, "
                             f"got {tuple(observed.shape)} and {tuple(mask.shape)}")
        m = mask if mask.dtype == torch.bool else mask != 0
        return torch.where(m, observed, torch.zeros((), dtype=observed.dtype, device=observed.device)), m

    def _conditional(self, t_b: torch.Tensor, x: torch.Tensor, coefficients: FieldCoefficients,
                     condition: Condition) -> tuple[torch.Tensor, torch.Tensor]:
        """D_t(x | y, m) and its loss weight 1/(c_out² s)."""
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
            skip, shrink = conditioned_with_variance(cov, skip, observed, m)
            scale = c_out * shrink.sqrt().to(c_out.dtype)

        def potential(y: torch.Tensor) -> torch.Tensor:
            # the observed entries of the state are noise around y: the network reads y itself
            given = m.to(y.dtype)
            return self.potential_net(y * (1 - given), t_b, (given, observed / self.sigma_data))

        clean = skip + scale[:, None, None] * self._learned(t_b, x, c_in, potential)
        return torch.where(m, observed, clean), scale.square().reciprocal()

    def denoise(self, t: float | torch.Tensor, x: torch.Tensor, *, observed: torch.Tensor | None = None,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        """D_t(x | y, m) (module docstring); without observations the unconditional prediction.

        Shape:
            x, observed, mask: (batch, N, d). returns: (batch, N, d).
        """
        t_b = self._times(t, x)
        condition = self._condition(x, observed, mask)
        if condition is None:
            return self._denoise(t_b, x, self.coefficients(t_b))
        return self._conditional(t_b, x, self.coefficients(t_b), condition)[0]

    def denoise_with_weight(self, t: float | torch.Tensor, x: torch.Tensor, *, observed: torch.Tensor | None = None,
                            mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(D_t(x | y, m), λ): the prediction and the loss weight that gives its learned part a
        unit-size target, one over the learned part's squared scale for each window's mask.

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
        """v_t(x | y, m) = a_t x + b_t D_t(x | y, m).

        Shape:
            t: float, 0-d or (batch,). x, observed, mask: (batch, N, d). returns: (batch, N, d).
        """
        t_b = self._times(t, x)
        condition = self._condition(x, observed, mask)
        coefficients = self.coefficients(t_b)
        prediction = (self._denoise(t_b, x, coefficients) if condition is None
                      else self._conditional(t_b, x, coefficients, condition)[0])
        return coefficients.a[:, None, None] * x + coefficients.b[:, None, None] * prediction


def build_field(path: Any, in_dim: int, seq_len: int, config: FieldConfig | None = None,
                **kwargs: Any) -> SpectralVelocityField:
    """The field ``config`` describes: a :class:`MaskedVelocityField` when ``config.conditional``,
    else a :class:`~kernelops.flows.field.SpectralVelocityField` (keyword arguments as theirs)."""
    config = config if config is not None else FieldConfig()
    cls = MaskedVelocityField if config.conditional else SpectralVelocityField
    return cls(path, in_dim, seq_len, config, **kwargs)


__all__ = ["MaskedVelocityField", "build_field"]
