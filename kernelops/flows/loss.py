"""The flow-matching loss, written on the field's clean-window prediction (stateless).

For an affine path x_t = α_t x₁ + σ_t x₀ every velocity field has the form
v_t(x) = a_t x + b_t D_t(x) with D_t a prediction of the clean window
(:func:`kernelops.paths.prediction_coefficients`), and the conditional target is
u_t(x | x₁) = a_t x + b_t x₁, so the flow-matching residual is v − u = b_t (D − x₁) and

    L(θ) = E_{t, x₁, x₀} λ(t) ‖D_θ(x_t, t) − x̂₁‖²

is conditional flow matching with the time weighting λ(t)/b_t². The field supplies λ(t)
(``field.loss_weight``: one over the squared output scale of its learned part, so the network
regresses a target of unit size at every t), and the target x̂₁ is a strategy:

* ``"posterior"``: the training set's exact posterior mean E[x₁ | x_t]
  (:meth:`~kernelops.paths.AffinePath.posterior_mean`), the minimiser of the conditional loss on
  that set: the optimum is unchanged, but the target's own variance leaves the gradient. Sets above
  ``max_reference`` windows use a random subset per step plus the batch's own windows.
* ``"conditional"``: the drawn window x₁ itself (the textbook estimator; cheapest per step).

**Missing entries.** With a mask (True = observed) the squared error is summed over observed
entries only and divided by their number, so an all-True mask gives exactly the unmasked loss.
The windows themselves must be finite (:func:`kernelops.flows.gaussian.fill_missing`).

**Mask-conditioned fields** (:mod:`kernelops.flows.masked_field`). Every window gets a random
conditioning mask c (:func:`kernelops.flows.masks.draw_condition_masks`, drawn on the noise
generator; only observed entries can be given), the field predicts D_t(x_t | x₁ᶜ, c) with its
own weight, and the loss is taken where the window is observed but not given. The posterior
target is then E[x₁ | x_t, x₁ᶜ]: the unconditional posterior mean where nothing is given, and the
drawn window itself where something is (no other training window has exactly those values).

**Stability regulariser.** With ``stability_weight`` w > 0 the loss is L(θ) + w·R(λ(θ)), R the
eigenvalue penalty of the chain potential's spectral heads (:mod:`kernelops.flows.stability`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from kernelops.flows.config import TARGETS, TrainConfig
from kernelops.flows.masks import draw_condition_masks
from kernelops.flows.train.state import TrainGenerators

_TRAIN = TrainConfig()


class FlowMatchingObjective:
    """λ(t)-weighted flow matching on the clean-window prediction of a field.

    Args:
        path: an affine path (``sample_t``, ``sample_source``, ``sample``, ``posterior_mean``).
        target: "posterior" or "conditional" (module docstring).
        max_reference: largest posterior reference set per step.
        stability_weight: weight w ≥ 0 of the eigenvalue regulariser (0: none).
        mask_patterns: the conditioning-mask mixture of a mask-conditioned field's training.

    The field must provide ``denoise(t, x)`` (the clean-window prediction, differentiable in its
    parameters) and ``loss_weight(t)``; a field whose ``conditional`` attribute is true, also
    ``denoise_with_weight(t, x, observed=, mask=)``.
    """

    def __init__(self, path: Any, target: str = _TRAIN.target, max_reference: int = _TRAIN.max_reference,
                 stability_weight: float = _TRAIN.stability_weight, mask_patterns: dict[str, float] | None = None):
        if target not in TARGETS:
            raise ValueError(f"target: expected one of {TARGETS}, got {target!r}")
        if target == "posterior" and not callable(getattr(path, "posterior_mean", None)):
            raise ValueError(f"target='posterior' needs an affine path (with posterior_mean); "
                             f"{type(path).__name__} has none: use target='conditional'")
        if isinstance(stability_weight, bool) or not isinstance(stability_weight, (int, float)) or \
                not stability_weight >= 0 or stability_weight == float("inf"):
            raise ValueError(f"stability_weight: expected a finite number ≥ 0, got {stability_weight!r}")
        self.path, self.target, self.max_reference = path, target, int(max_reference)
        self.stability_weight = float(stability_weight)
        self.mask_patterns = dict(_TRAIN.mask_patterns if mask_patterns is None else mask_patterns)

    def regulariser(self, field: nn.Module) -> torch.Tensor:
        """w·R(λ): the weighted eigenvalue penalty of the field's chain (0-d zero when w = 0).

        Raises:
            ValueError: w > 0 and the field's potential has no spectral heads.
        """
        if self.stability_weight == 0:
            return torch.zeros(())
        from kernelops.flows.stability import chain_eigenvalues, eigenvalue_penalty

        return self.stability_weight * eigenvalue_penalty(chain_eigenvalues(field))

    def reference(self, data: torch.Tensor, batch_index: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The posterior reference of one step: all windows, or a random subset plus the batch's own.

        Shape:
            data: (num, N, d). batch_index: (batch,). returns: (num_ref, N, d).
        """
        if data.shape[0] <= self.max_reference:
            return data
        subset = torch.randint(data.shape[0], (self.max_reference,), generator=generator).to(data.device)
        return torch.cat([data[subset], data[batch_index]])

    def __call__(self, field: nn.Module, x1: torch.Tensor, generators: TrainGenerators | None = None,
                 data: torch.Tensor | None = None, batch_index: torch.Tensor | None = None,
                 mask: torch.Tensor | None = None) -> torch.Tensor:
        """The loss of one batch (mean over batch, steps and features; over observed entries with a mask).

        Args:
            field: the velocity field.
            x1: clean windows (model coordinates).
            generators: the time, noise (and, for a subsampled posterior reference, batch)
                generators; None draws from torch's global RNG.
            data: the training set (model coordinates) for target="posterior"; default ``x1``.
            batch_index: rows of ``data`` that ``x1`` holds (to keep them in a subsampled reference).
            mask: True where ``x1`` is observed (default: every entry).

        Shape:
            x1: (batch, N, d). data: (num, N, d). mask: (batch, N, d). returns: ().
        """
        conditional = bool(getattr(field, "conditional", False))
        if mask is None and bool(torch.isnan(x1).any()):
            raise ValueError("x1: has NaN entries; fill them (kernelops.flows.gaussian.fill_missing) and pass mask=")
        if mask is not None and mask.shape != x1.shape:
            raise ValueError(f"mask: expected the shape of x1 {tuple(x1.shape)}, got {tuple(mask.shape)}")
        g_time = generators.time if generators is not None else None
        g_noise = generators.noise if generators is not None else None
        batch = x1.shape[0]
        # drawn on the CPU generators, then moved: the same stream on every device
        t = self.path.sample_t(batch, generator=g_time, dtype=x1.dtype).to(x1.device)
        x0 = self.path.sample_source(tuple(x1.shape), generator=g_noise, dtype=x1.dtype).to(x1.device)
        x_t = self.path.sample(x0, x1, t).x_t
        observed = None if mask is None else mask.to(device=x1.device, dtype=torch.bool)
        given = None
        if conditional:
            given = draw_condition_masks(batch, x1.shape[1], x1.shape[2], generator=g_noise, device=x1.device,
                                         patterns=self.mask_patterns)
            if observed is not None:
                given = given & observed
        clean = x1
        if self.target == "posterior":
            reference = x1 if data is None else data
            if data is not None and batch_index is not None and generators is not None:
                reference = self.reference(data, batch_index, generators.batch)
            if given is None:
                clean = self.path.posterior_mean(x_t, t, reference)
            else:  # given anything, the posterior mean is the window itself: computed only where nothing is
                rows = (~given.flatten(1).any(1)).nonzero()[:, 0]
                clean = x1.clone()
                if rows.numel():
                    clean[rows] = self.path.posterior_mean(x_t[rows], t[rows], reference)
        if given is not None:
            prediction, weight = field.denoise_with_weight(t, x_t, observed=x1, mask=given)  # type: ignore[operator]
            # the loss is taken where the entry is to be generated (and is observed in the data)
            mask = ~given if observed is None else ~given & observed
        else:
            prediction = field.denoise(t, x_t)  # type: ignore[operator]  # a field method, not a submodule
            weight = field.loss_weight(t)  # type: ignore[operator]
        error = weight[:, None, None] * (prediction - clean).square()
        if mask is None:
            loss = error.mean()
        else:
            m = mask.to(device=error.device, dtype=error.dtype)
            loss = (error * m).sum() / m.sum().clamp_min(1.0)
        if self.stability_weight > 0:
            loss = loss + self.regulariser(field).to(loss.dtype)
        return loss


__all__ = ["FlowMatchingObjective"]
