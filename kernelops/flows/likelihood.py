"""The likelihood of a window under a flow: the reverse ODE and the instantaneous change of variables.

A flow draws x₀ from the path's source q₀ and carries it along dx/dt = v_t(x) from t = 0 to
t = 1. Along that path d/dt log p_t(x_t) = −div v_t(x_t) (Chen et al., 2018), so

    log p₁(x) = log q₀(x₀) − ∫₀¹ div v_t(x_t) dt,

with x₀ the state reached by integrating back from x at t = 1 to t = 0 (:func:`encode`). This
module integrates the augmented state (x, Δ), dΔ/dt = div v_t(x), Δ(1) = 0, backwards with any
registered solver, so that Δ(0) = −∫₀¹ div v dt and log p₁(x) = log q₀(x₀) + Δ(0).

The field is only called as ``field(t, x)``; it must be differentiable in x (a spectral mean flow
is: v = −∇Φ, so div v = −ΔΦ and its Jacobian is the symmetric −∇²Φ). The divergence is

* **exact** (``exact=True``): the trace of the Jacobian, from D = N·d vector-Jacobian products per
  evaluation (batched over the windows and over chunks of unit vectors);
* **Hutchinson** (``exact=False``): K Rademacher probes εₖ, each held fixed along the whole path,
  give K independent unbiased estimates Δₖ(0) = −∫ εₖᵀ ∇v εₖ dt; the result is their mean and
  its standard error std(Δₖ)/√K. For a symmetric Jacobian J each probe's variance is
  2 Σ_{i≠j} J_ij², small where the field acts nearly separately on the entries.

``exact=None`` picks exact when D ≤ ``exact_max_dim``.

**Time grid.** A fixed-step solver steps over t_k = 1 − (k/steps)^p, k = 0 … steps (from the data
back to the noise). The divergence changes fastest near t = 1, where the path's noise σ_t
passes the data's smallest variances (and the VP schedule has σ'_t ∝ (1 − t)^(−1/2)); p > 1 puts
the steps there (half of them in the last 1/2^p of the time), and p ≥ 2 makes the VP integrand
smooth in the grid variable. An adaptive solver
chooses its own steps between t = 1 and t = 0.

**Differentiable.** With grad mode on and ``x.requires_grad``, every step keeps its graph
(create_graph), so log p is differentiable in x (a score, a gradcheck); otherwise each step is
detached and memory stays that of one field evaluation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from kernelops.errors import ShapeError
from kernelops.flows.config import LIKELIHOOD_EXACT_MAX_DIM, LIKELIHOOD_PROBES, LIKELIHOOD_TIME_POWER
from kernelops.utils.numerics import flush_denormals
from kernelops.utils.validation import check_tensor

#: unit vectors per batched vector-Jacobian product of the exact divergence (bounds memory)
_EXACT_CHUNK = 64


@dataclass(frozen=True)
class LogProb:
    """The log-density of windows and how it was computed.

    Attributes:
        log_prob: log p(x) in nats per window (in the coordinates it was asked for).
        stderr: its standard error (0 for the exact divergence; the Hutchinson estimate's otherwise).
        nfe: field evaluations per window (the largest over the batches).
        exact: whether the divergence was exact.
        probes: Rademacher probes per window (0 when exact).
        values: values per window, N·d.
        noise: the encoded states x₀ (the source's coordinates).

    Shape:
        log_prob, stderr: (n,). noise: (n, N, d).
    """

    log_prob: torch.Tensor
    stderr: torch.Tensor
    nfe: int
    exact: bool
    probes: int
    values: int
    noise: torch.Tensor

    @property
    def bits_per_value(self) -> torch.Tensor:
        """−log₂ p(x) / (N·d): the code length per value in bits (negative where the density of a
        value exceeds 1, which continuous data in a narrow range can have). Shape: (n,)."""
        return -self.log_prob / (self.values * math.log(2.0))


def time_grid(steps: int, power: float = LIKELIHOOD_TIME_POWER, *, dtype: torch.dtype = torch.float32,
              device: torch.device | str | None = None) -> torch.Tensor:
    """t_k = 1 − (k/steps)^power, k = 0 … steps: from the data (t = 1) back to the noise (t = 0).

    Shape:
        returns: (steps + 1,), strictly decreasing.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps: expected a positive integer, got {steps!r}")
    if not (isinstance(power, (int, float)) and math.isfinite(power) and power >= 1):
        raise ValueError(f"time_power: expected a number >= 1, got {power!r}")
    k = torch.arange(steps + 1, dtype=torch.float64) / steps
    return (1.0 - k**power).to(dtype=dtype, device=device)


def source_log_prob(path: Any, x0: torch.Tensor) -> torch.Tensor:
    """log q₀(x0) of the path's source, summed per window.

    Uses the path's ``source_log_prob`` (:class:`~kernelops.paths.AffinePath` has it), else a
    ``source_std`` (an isotropic Gaussian source).

    Shape:
        x0: (batch, ...). returns: (batch,).
    """
    method = getattr(path, "source_log_prob", None)
    if callable(method):
        return method(x0)
    std = getattr(path, "source_std", None)
    if not isinstance(std, (int, float)) or not std > 0:
        raise ValueError(f"path: expected a source_log_prob(x0) method or a positive source_std, "
                         f"got {type(path).__name__} with neither")
    flat = x0.reshape(x0.shape[0], -1)
    return -0.5 * flat.square().sum(1) / std**2 - flat.shape[1] * (0.5 * math.log(2 * math.pi) + math.log(std))


def _vjp(v: torch.Tensor, x: torch.Tensor, vectors: torch.Tensor, create_graph: bool) -> torch.Tensor:
    """vectors[k]ᵀ ∂v/∂x for every k, batched (one backward pass per vector if batching fails).

    Shape:
        v, x: (B, N, d). vectors: (K, B, N, d). returns: (K, B, N, d).
    """
    try:
        (grads,) = torch.autograd.grad(v, x, grad_outputs=vectors, is_grads_batched=True, retain_graph=True,
                                       create_graph=create_graph)
        return grads
    except RuntimeError:  # an op without a batching rule: one product at a time
        rows = [torch.autograd.grad(v, x, grad_outputs=vector, retain_graph=True, create_graph=create_graph)[0]
                for vector in vectors]
        return torch.stack(rows)


def divergence(field: nn.Module, t: torch.Tensor, x: torch.Tensor, probes: torch.Tensor | None = None, *,
               create_graph: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """v_t(x) and its divergence: exact (one column) or one Hutchinson estimate per probe.

    Args:
        field: ``field(t, x) -> v``, differentiable in x.
        t: the time, 0-d.
        x: windows.
        probes: None for the exact trace, else Rademacher vectors ε (K of them).
        create_graph: keep the graph (to differentiate the result in x).

    Shape:
        x: (B, N, d). probes: (K, B, N, d). returns: v (B, N, d); div (B, 1) exact or (B, K) εₖᵀ ∇v εₖ.
    """
    batch = x.shape[0]
    dim = x[0].numel()
    with torch.enable_grad():
        xg = x if (create_graph and x.requires_grad) else x.detach().requires_grad_(True)
        v = field(t, xg)
        if not isinstance(v, torch.Tensor) or v.shape != x.shape:
            raise ShapeError(f"field(t, x): expected a velocity of x's shape {tuple(x.shape)}, "
                             f"got {tuple(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__}")
        if probes is not None:
            grads = _vjp(v, xg, probes, create_graph)
            div = (grads * probes).reshape(probes.shape[0], batch, dim).sum(2).T
        else:
            parts = []
            for start in range(0, dim, _EXACT_CHUNK):
                k = min(_EXACT_CHUNK, dim - start)
                units = torch.zeros(k, batch, dim, dtype=x.dtype, device=x.device)
                idx = torch.arange(k, device=x.device)
                units[idx, :, start + idx] = 1.0
                grads = _vjp(v, xg, units.reshape(k, *x.shape), create_graph).reshape(k, batch, dim)
                # ∂v_i/∂x_i for i in this chunk: the diagonal of (unit k, entry start + k)
                parts.append(torch.diagonal(grads[:, :, start:start + k], dim1=0, dim2=2).sum(1))
            div = torch.stack(parts).sum(0)[:, None]
    if not create_graph:
        v, div = v.detach(), div.detach()
    return v, div


def _check_windows(x: Any) -> torch.Tensor:
    check_tensor(x, "x", ndim=3, allow_complex=False)
    if not x.is_floating_point():
        raise ShapeError(f"x: expected floating-point windows (n, N, d), got dtype {x.dtype}")
    return x


def _check_batch_size(batch_size: int) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size: expected a positive integer, got {batch_size!r}")


def _solve_back(solver: Any, f: Any, z: torch.Tensor, steps: int | None, time_power: float) -> Any:
    """Integrate dz/dt = f(t, z) from t = 1 to t = 0 (grid :func:`time_grid` for fixed-step solvers)."""
    if bool(getattr(solver, "is_adaptive", False)):
        if steps is not None:
            raise ValueError(f"steps: solver {getattr(solver, 'name', solver)!r} is adaptive; give it rtol/atol, "
                             "not steps")
        return solver.solve(f, z, 1.0, 0.0)
    if steps is None:
        raise ValueError(f"steps: a fixed-step solver ({getattr(solver, 'name', solver)!r}) needs a number of steps")
    return solver.solve(f, z, grid=time_grid(steps, time_power, dtype=z.dtype, device=z.device))


def encode(field: nn.Module, x: torch.Tensor, solver: Any, steps: int | None, *,
           time_power: float = LIKELIHOOD_TIME_POWER, batch_size: int = 1000) -> tuple[torch.Tensor, int]:
    """The reverse map data → noise: integrate dx/dt = v_t(x) from t = 1 back to t = 0.

    Differentiable in x when grad mode is on and ``x.requires_grad``.

    Args:
        field: ``field(t, x) -> v``.
        x: windows at t = 1 (the field's coordinates).
        solver: a solver object (``ko.solver(name)``); fixed-step ones step over :func:`time_grid`.
        steps: solver steps (None for an adaptive solver).
        time_power: p of the time grid.
        batch_size: windows integrated together.

    Returns:
        the states at t = 0 and the field evaluations per window (largest over the batches).

    Shape:
        x: (n, N, d). returns: (n, N, d).
    """
    x = _check_windows(x)
    _check_batch_size(batch_size)
    keep = torch.is_grad_enabled() and x.requires_grad

    def f(t: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        if keep:
            return field(t, state)
        with torch.no_grad():  # the field takes its own input gradient inside
            return field(t, state)

    out, nfe = [], 0
    with flush_denormals():
        for first in range(0, x.shape[0], batch_size):
            result = _solve_back(solver, f, x[first:first + batch_size], steps, time_power)
            out.append(result.x)
            nfe = max(nfe, int(result.nfe))
    return torch.cat(out), nfe


def log_prob(field: nn.Module, x: torch.Tensor, path: Any, solver: Any, steps: int | None, *,
             exact: bool | None = None, probes: int = LIKELIHOOD_PROBES, exact_max_dim: int = LIKELIHOOD_EXACT_MAX_DIM,
             seed: int = 0, time_power: float = LIKELIHOOD_TIME_POWER, batch_size: int = 256) -> LogProb:
    """log p₁(x) of windows under the flow of ``field`` from ``path``'s source (module docstring).

    Args:
        field: ``field(t, x) -> v``, differentiable in x.
        x: windows at t = 1, in the field's coordinates.
        path: the path; its source q₀ gives log q₀(x₀) (:func:`source_log_prob`).
        solver: a solver object; fixed-step ones step over :func:`time_grid`.
        steps: solver steps (None for an adaptive solver).
        exact: exact divergence (True), Hutchinson (False) or exact when N·d ≤ ``exact_max_dim`` (None).
        probes: Rademacher probes per window for Hutchinson (≥ 2, for a standard error).
        exact_max_dim: the threshold of ``exact=None``.
        seed: seeds the probes (drawn batch after batch from one generator, so a window's probes
            depend on ``batch_size``).
        time_power: p of the time grid.
        batch_size: windows integrated together.

    Returns:
        :class:`LogProb` (log p in nats per window of the field's coordinates).

    Shape:
        x: (n, N, d).
    """
    x = _check_windows(x)
    _check_batch_size(batch_size)
    dim = x[0].numel()
    if exact is None:
        exact = dim <= exact_max_dim
    if not exact and (isinstance(probes, bool) or not isinstance(probes, int) or probes < 2):
        raise ValueError(f"probes: expected an integer >= 2 (the standard error needs two), got {probes!r}")
    keep = torch.is_grad_enabled() and x.requires_grad
    generator = torch.Generator().manual_seed(int(seed))
    values, errors, noise, nfe = [], [], [], 0
    with flush_denormals():
        for first in range(0, x.shape[0], batch_size):
            chunk = x[first:first + batch_size]
            batch = chunk.shape[0]
            eps = None
            if not exact:
                signs = torch.randint(0, 2, (probes, *chunk.shape), generator=generator)
                eps = (2.0 * signs - 1.0).to(dtype=chunk.dtype, device=chunk.device)

            def f(t: torch.Tensor, z: torch.Tensor, eps: torch.Tensor | None = eps, batch: int = batch) -> torch.Tensor:
                state = z[:, :dim].reshape(batch, *x.shape[1:])
                v, div = divergence(field, t, state, eps, create_graph=keep)
                return torch.cat([v.reshape(batch, dim), div], dim=1)

            width = 1 if exact else probes
            z1 = torch.cat([chunk.reshape(batch, dim), chunk.new_zeros(batch, width)], dim=1)
            if keep:
                result = _solve_back(solver, f, z1, steps, time_power)
            else:
                with torch.no_grad():
                    result = _solve_back(solver, f, z1, steps, time_power)
            x0 = result.x[:, :dim].reshape(chunk.shape)
            delta = result.x[:, dim:]
            base = source_log_prob(path, x0)
            values.append(base + delta.mean(1))
            errors.append(torch.zeros_like(base) if exact else delta.std(1) / math.sqrt(probes))
            noise.append(x0)
            nfe = max(nfe, int(result.nfe))
    return LogProb(log_prob=torch.cat(values), stderr=torch.cat(errors), nfe=nfe, exact=bool(exact),
                   probes=0 if exact else probes, values=dim, noise=torch.cat(noise))


__all__ = ["LogProb",
           "divergence", "encode", "log_prob", "source_log_prob", "time_grid"]
