"""Learned potentials f_t(y) of the velocity field: the MMD witness between the data and the current law.

The field (:mod:`kernelops.flows.field`) learns F_t = −∇_y f_t, so v is an exact gradient field
whatever f is. Both potentials are witnesses f = ⟨μ_o − μ_s, Φ_t(y)⟩ of a feature map Φ_t on
windows; they differ in the kernel that Φ_t spans:

* :class:`ChainPotential` (``potential="chain"``, the spectral mean flow): the product kernel over
  steps, Φ_t(y) = φ̃_t(y¹) ⊗ ⋯ ⊗ φ̃_t(y^N) of per-step features with a constant coordinate,
  φ̃ = (1, g·φ), whose embeddings are spectral chains (tensor trains of the hidden chain's
  eigen-decomposition, cost linear in N, any length N ≥ 1; at N = 1 the chain is β̃(y)ᵀ Λ η̃(y),
  docs/theory.md "One step").
* :class:`WindowPotential` (``potential="window"``): a learned kernel on whole windows, Φ_t(y) the
  last hidden layer of an MLP on the flattened window; the difference of the two embeddings is
  the read-out vector. Fixed to the training length.

Each module takes (y (batch, N, d), t (batch,)) and returns f (batch,), and has ``scale_(factor)``
(multiply f exactly by ``factor``).
"""

from __future__ import annotations

import torch
from torch import nn

from kernelops.chains import identity_plus_chain_evaluate
from kernelops.errors import ShapeError
from kernelops.features.spectral_mlp import SpectralMLP, sinusoidal_time_embedding, time_frequencies
from kernelops.flows.config import (
    CHAIN_EIGEN_ANGLE,
    CHAIN_EIGEN_RING,
    CHAIN_INPUT_GAINS,
    CHAIN_MAX_FREQUENCY,
    LOCAL_WIDTH,
    FieldConfig,
)
from kernelops.flows.heads import SpectralHeads


class ChainPotential(nn.Module):
    """f_t(y) = Re[TN_s(y) − TN_o(y)], the witness of two identity-plus spectral chains over shared per-step features.

    TN_q(y) = β̃_q(y¹)ᵀ Λ_q W̃_q(y²) Λ_q ⋯ Λ_q η̃_q(y^N) with β̃_q = b₀_q + g_q·hB_q,
    W̃_q(y) = I + g_q·L_qᵀ diag(h) R_q, η̃_q = e₀_q + g_q·hH_q and h = φ_t(yⁿ): the spectral chain over
    the features (1, g·h) (:func:`kernelops.chains.identity_plus_chain_evaluate`), whose per-step
    kernel 1 + g²k₀ keeps the product over steps smooth in the window. The two chains run as one
    contraction with twice the blocks (the o chain's end negated). The end heads start at zero, so
    f ≡ 0 and the field starts as its skip's Gaussian field.

    Args:
        features: a :class:`SpectralMLP` (per-step complex features, ``blocks`` = (L, k)).
        heads_s, heads_o: the spectral heads of the current (s) and data (o) embeddings.
    """

    def __init__(self, features: SpectralMLP, heads_s: SpectralHeads, heads_o: SpectralHeads):
        super().__init__()
        for name, heads in (("heads_s", heads_s), ("heads_o", heads_o)):
            if tuple(features.blocks) != (heads.num_blocks, heads.block_dim):
                raise ValueError(f"{name}: expected blocks {tuple(features.blocks)} to match the features, "
                                 f"got ({heads.num_blocks}, {heads.block_dim})")
        self.features, self.heads_s, self.heads_o = features, heads_s, heads_o

    def forward(self, y: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The potential of every sequence.

        Shape:
            y: (batch, N, d) with N ≥ 1. t: (batch,). returns: (batch,) real.
        """
        batch, steps, _ = y.shape
        # the feature map's q input is left at its default: both chains read the same features
        h = self.features(y, t[:, None])
        nb, k = self.features.blocks
        h = h.reshape(batch, steps, nb, k)
        s, o = self.heads_s, self.heads_o
        cdt = h.dtype
        heads = [torch.cat([a, b]).to(cdt) for a, b in ((s.start, o.start), (s.B, o.B), (s.L, o.L), (s.R, o.R),
                                                       (s.end, -o.end), (s.H, -o.H))]
        eigvals = torch.cat([s.eigvals(), o.eigvals()]).to(cdt)
        gain = torch.cat([s.gain(), o.gain()])
        start, b, lh, rh, end, hh = heads
        value = identity_plus_chain_evaluate(torch.cat([h, h], dim=2), start, b, lh, rh, end, hh, eigvals, gain,
                                             check_finite=False)
        return value.real

    @torch.no_grad()
    def scale_(self, factor: float) -> None:
        """Multiply f by ``factor`` (f is linear in the end, e₀ and H)."""
        for heads in (self.heads_s, self.heads_o):
            heads.H.mul_(factor)
            heads.end.mul_(factor)


class WindowPotential(nn.Module):
    """f_t(y) = wᵀ ψ_t(y) + Σₙ uᵀ χ_t(y^{n−k} … y^{n+k}): a kernel on whole windows plus a local one.

    ψ_t(y) = SiLU-MLP([vec(y), γ(t)]) with ``depth`` hidden layers of ``width`` units, γ the
    sinusoidal time embedding of the spectral features (frequencies π … 64π). χ_t is a second,
    smaller SiLU-MLP (two layers of ``local_width`` units) shared by every step n: it reads the
    2k + 1 steps around n (the window's ends repeated beyond its edges) and γ(t), so the local
    term is a convolution over steps. The whole-window MLP must learn a structure that holds at
    every step (a bounded range, levels, a grid of values) once per step, the shared local one
    once for all steps (docs/spectral_mean_flow.md, "Data far from Gaussian"). Both read-outs
    start at zero: the field starts as its skip's own Gaussian field. SiLU is smooth, so F = −∇f is too.

    Args:
        seq_len, in_dim: the window shape (N, d) it is built for.
        depth: hidden layers (≥ 1) of the whole-window MLP.
        width: units per hidden layer of the whole-window MLP.
        time_features: size of γ(t) (even; 0 disables t).
        max_frequency: highest angular frequency of γ is π·max_frequency.
        conditional: also read a condition (mask, observed values): both MLPs read them beside the
            window (the mask-conditioned field, :mod:`kernelops.flows.masked_field`).
        local_context: k, the steps on each side that the local term reads (0 disables the local term).
        local_width: units per hidden layer of the local MLP.
        dtype: parameter dtype.
    """

    def __init__(self, seq_len: int, in_dim: int, depth: int, width: int, time_features: int,
                 max_frequency: float = 64.0, conditional: bool = False, local_context: int = 0,
                 local_width: int = LOCAL_WIDTH, dtype: torch.dtype = torch.float32):
        super().__init__()
        self.seq_len, self.in_dim = int(seq_len), int(in_dim)
        self.conditional = bool(conditional)
        self.local_context = int(local_context)
        self.register_buffer("time_freqs", time_frequencies(time_features, max_frequency).to(dtype))
        inputs = 3 if self.conditional else 1  # per value: y, and the mask and observed value
        time_width = 2 * (time_features // 2)
        layers: list[nn.Module] = []
        fan_in = inputs * self.seq_len * self.in_dim + time_width
        for _ in range(depth):
            layers += [nn.Linear(fan_in, width, dtype=dtype), nn.SiLU()]
            fan_in = width
        self.body = nn.Sequential(*layers)
        # no bias: a constant in f changes no velocity
        self.readout = nn.Linear(width, 1, bias=False, dtype=dtype)
        nn.init.zeros_(self.readout.weight)
        self.local: nn.Sequential | None = None
        self.local_readout: nn.Linear | None = None
        if self.local_context > 0:
            span = 2 * self.local_context + 1
            self.local = nn.Sequential(nn.Linear(inputs * span * self.in_dim + time_width, local_width, dtype=dtype),
                                       nn.SiLU(), nn.Linear(local_width, local_width, dtype=dtype), nn.SiLU())
            self.local_readout = nn.Linear(local_width, 1, bias=False, dtype=dtype)
            nn.init.zeros_(self.local_readout.weight)

    def _neighbourhoods(self, values: torch.Tensor) -> torch.Tensor:
        """The 2k + 1 steps around every step, the ends repeated beyond the window's edges.

        Shape:
            values: (batch, N, c). returns: (batch, N, (2k + 1)·c).
        """
        k, steps = self.local_context, values.shape[1]
        # slices and concatenation only (no gather): the exact divergence of log p batches this
        # function's double backward with vmap, which has no fast rule for advanced indexing
        padded = torch.cat([values[:, :1].expand(-1, k, -1), values, values[:, -1:].expand(-1, k, -1)], dim=1)
        return torch.cat([padded[:, j:j + steps] for j in range(2 * k + 1)], dim=-1)

    def forward(self, y: torch.Tensor, t: torch.Tensor,
                condition: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """The potential of every window.

        Args:
            y: the (scaled) state.
            t: flow times.
            condition: for a conditional potential, (m, v): the mask (1 = observed) and the
                observed values (0 elsewhere), both in y's dtype; None means nothing observed.

        Shape:
            y, m, v: (batch, N, d) with (N, d) the built shape. t: (batch,). returns: (batch,).
        """
        if tuple(y.shape[1:]) != (self.seq_len, self.in_dim):
            raise ShapeError(f"x: the window potential was built for windows of shape (N, d) = ({self.seq_len}, "
                             f"{self.in_dim}), got {tuple(y.shape[1:])}; sample that length, or train with "
                             "potential='chain' and skip='channel' to sample any length")
        parts = [y]
        if self.conditional:
            parts += [torch.zeros_like(y)] * 2 if condition is None else [condition[0], condition[1]]
        elif condition is not None:
            raise ValueError("condition: this window potential was built without conditional=True")
        gamma = sinusoidal_time_embedding(t, self.get_buffer("time_freqs"))
        f = self.readout(self.body(torch.cat([*(p.flatten(1) for p in parts), gamma], dim=-1))).squeeze(-1)
        if self.local is None:
            return f
        return f + self.local_terms(torch.cat(parts, dim=-1), gamma).sum(1)

    def local_terms(self, values: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
        """uᵀχ_t of every step's neighbourhood: the local term before its sum over steps.

        Args:
            values: the window, with the mask and observed values beside it for a conditional potential.
            gamma: the time embedding γ(t).

        Shape:
            values: (batch, N, c), c = d or 3d. gamma: (batch, time_features). returns: (batch, N).
        """
        if self.local is None or self.local_readout is None:
            raise ValueError("local_terms: this window potential was built without a local term (local_context=0)")
        near = self._neighbourhoods(values)
        hidden = self.local(torch.cat([near, gamma[:, None].expand(-1, values.shape[1], -1)], dim=-1))
        return self.local_readout(hidden).squeeze(-1)

    @torch.no_grad()
    def scale_(self, factor: float) -> None:
        """Multiply f by ``factor`` (f is linear in the two read-outs)."""
        self.readout.weight.mul_(factor)
        if self.local_readout is not None:
            self.local_readout.weight.mul_(factor)

    def extra_repr(self) -> str:
        return (f"seq_len={self.seq_len}, in_dim={self.in_dim}, local_context={self.local_context}"
                + (", conditional=True" if self.conditional else ""))


def build_potential(config: FieldConfig, in_dim: int, seq_len: int, *, seed: int = 0,
                    dtype: torch.dtype = torch.float32) -> ChainPotential | WindowPotential:
    """The potential ``config.potential`` names, at its sizes, with weights drawn from ``seed``.

    The network weights are drawn from torch's global generator (``nn.Linear``'s default
    initialisation) seeded with ``seed`` inside a forked RNG state, so the caller's random state
    is untouched; the chain's spectral heads come from their own generator seeded alike.
    """
    depth, width = config.depth, config.width
    local_context, local_width = config.local_context, config.local_width
    # FieldConfig fills them from the potential
    assert depth is not None and width is not None and local_context is not None and local_width is not None
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if config.potential == "window":
            return WindowPotential(seq_len, in_dim, depth, width, config.time_features,
                                   conditional=config.conditional, local_context=local_context,
                                   local_width=local_width, dtype=dtype)
        features = SpectralMLP(in_dim, depth, width, config.time_features, hidden_mult=config.hidden_mult,
                               max_frequency=CHAIN_MAX_FREQUENCY, input_gains=CHAIN_INPUT_GAINS, dtype=dtype)
    gen = torch.Generator().manual_seed(seed)
    heads = [SpectralHeads(depth, width // 2, config.chain_rank // depth, ring=CHAIN_EIGEN_RING,
                           angle=CHAIN_EIGEN_ANGLE, dtype=dtype, generator=gen) for _ in range(2)]
    return ChainPotential(features, *heads)


__all__ = ["ChainPotential", "WindowPotential", "build_potential"]
