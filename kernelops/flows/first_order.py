"""The flow-matching loss of a gradient field with first-order autograd only.

The field's learned part is F = −∇_y f (:mod:`kernelops.flows.field`), so the parameter gradient of
the loss L(θ) = Σ c ⊙ (D_θ − x̂)² (c: the weight per entry, D = S + c_out·F(c_in x)) is

    ∇_θ L = Σ 2c ⊙ (D − x̂) ⊙ ∇_θ D = −∇_θ Σ_b ⟨d_b, ∇_y f_θ(y_b)⟩,   d = stop_grad(2c ⊙ (D − x̂))·c_out,

(without a skip D = (F − a x)/b and 1/b replaces c_out): the directional derivative of f along the
fixed directions d_b, which needs no gradient of a gradient. It is taken by a central difference
along the unit direction d̂_b = d_b/‖d_b‖,

    ⟨d_b, ∇f(y_b)⟩ ≈ ‖d_b‖·(f(y_b + ε d̂_b) − f(y_b − ε d̂_b))/(2ε),

whose two evaluations run as one call of twice the batch. The error of its θ-gradient is the
Taylor remainder ‖d_b‖·(ε²/6)·∇_θ ∂³_{d̂} f(ξ) (f is C³ in y along the line for both potentials:
smooth activations, squared ReLU only where the chain's features pass two more derivatives, see
:func:`relative_step`) plus rounding ≈ u·|∇_θ f|/ε in precision u. The step ε balances the two.

The loss value itself is computed exactly (F from one first-order input gradient, without a graph
for the parameters), and the returned tensor is ``value + (S − stop_grad(S))``: it reads as the
exact loss and back-propagates the surrogate's gradient.
"""

from __future__ import annotations

import torch

__all__ = ["central_difference_step", "first_order_loss"]


def central_difference_step(dtype: torch.dtype) -> float:
    """ε of the central difference in y's units (y has unit variance per entry): about u^{1/3},
    the step that balances the ε² truncation against the u/ε rounding (u: the unit round-off)."""
    return 1e-5 if dtype == torch.float64 else 5e-3


def first_order_loss(field: torch.nn.Module, t: torch.Tensor, x_t: torch.Tensor, clean: torch.Tensor,
                     mask: torch.Tensor | None = None, *, eps: float | None = None) -> torch.Tensor:
    """The loss of :class:`~kernelops.flows.loss.FlowMatchingObjective` on one batch of an
    unconditional :class:`~kernelops.flows.field.SpectralVelocityField`, with the first-order gradient.

    Args:
        field: the field (``coefficients``, ``loss_weight``, ``skip``, ``potential_net``).
        t: flow times. x_t: the noised windows. clean: the target x̂₁.
        mask: entries the loss is taken over (None: all).
        eps: central-difference step (None: :func:`central_difference_step` of the dtype).

    Shape:
        t: (batch,). x_t, clean, mask: (batch, N, d). returns: () real.
    """
    coefficients = field.coefficients(t)  # type: ignore[operator]
    weight = field.loss_weight(t)  # type: ignore[operator]
    alpha, sigma, a, b, c_in, c_out = coefficients
    no_skip = field.skip is None
    y = x_t if no_skip else c_in[:, None, None] * x_t
    potential = field.potential_net
    with torch.no_grad():
        with torch.enable_grad():
            y_in = y.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(potential(y_in, t).sum(), y_in)
        if no_skip:
            prediction = (-grad - a[:, None, None] * x_t) / b[:, None, None]
            out_scale = 1 / b
        else:
            prediction = field.skip(x_t, alpha, sigma) - c_out[:, None, None] * grad  # type: ignore[operator]
            out_scale = c_out
        error = weight[:, None, None] * (prediction - clean).square()
        per_entry = 2 * weight[:, None, None] * (prediction - clean)
        if mask is None:
            value = error.mean()
            per_entry = per_entry / error.numel()
        else:
            m = mask.to(device=error.device, dtype=error.dtype)
            count = m.sum().clamp_min(1.0)
            value = (error * m).sum() / count
            per_entry = per_entry * m / count
        direction = out_scale[:, None, None] * per_entry
        size = direction.flatten(1).norm(dim=1)
        unit = direction / size.clamp_min(torch.finfo(size.dtype).tiny)[:, None, None]
    step = central_difference_step(y.dtype) if eps is None else float(eps)
    y_pair = torch.cat([y.detach() + step * unit, y.detach() - step * unit])
    f_pair = potential(y_pair, torch.cat([t, t]))
    batch = y.shape[0]
    # −Σ_b ‖d_b‖ (f(y + εd̂) − f(y − εd̂)) / 2ε ≈ −Σ_b ⟨d_b, ∇f(y_b)⟩: the loss's θ-gradient
    surrogate = -(size * (f_pair[:batch] - f_pair[batch:])).sum() / (2 * step)
    return value + (surrogate - surrogate.detach())
