"""Time- and operator-conditioned complex MLP features φ_t(x; q) of the spectral mean flow.

docs/theory.md, "The neural spectral mean flow": one feature network h = MLP(x, q, t) applied to every step xⁿ of a sequence
independently, with q ∈ {o, s} choosing the target (o, μ_ρ) or the current (s, μ_{p_t})
embedding and t the flow time. Layout::

    z₀ = W_in [x, γ(t)] + e_q                       (γ: sinusoidal time embedding, e_q: learned)
    z_l = z_{l-1} + W₂ sqrelu(W₁ RMSNorm(z_{l-1}))  (l = 1..depth, squared ReLU)
    h  = RMSNorm_C( concat_l (z_l[:k] + i·z_l[k:]) ),   k = width / 2

so h ∈ C^{d_f} with d_f = depth·width/2: every layer's hidden state is read as width/2 complex
numbers (real half, imaginary half). Squared ReLU (never plain ReLU) keeps h twice
differentiable in x, hence the velocity v_t = −∇ₓ f_t is C¹ and the double backward of flow
matching is well defined. The final complex RMS normalisation (no gain) makes E|h_k|² = 1 for
every input, which is what the head scaling of :mod:`kernelops.flows.heads` assumes.

Parameters are cast to the input's dtype inside ``forward`` so the map follows the input
dtype (float64 in → complex128 out) without a hidden ``.to()`` of the module.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from kernelops.features.base import FeatureMap


def sqrelu(x: torch.Tensor) -> torch.Tensor:
    """Squared ReLU, relu(x)²: C¹ with a Lipschitz derivative (plain ReLU is not C¹)."""
    return F.relu(x).square()


def time_frequencies(time_features: int, max_frequency: float) -> torch.Tensor:
    """Angular frequencies of the sinusoidal flow-time embedding: geometric from π to π·max_frequency,
    fine enough to resolve fast changes near t = 1.

    Shape:
        returns: (time_features // 2,) in torch's default dtype.
    """
    n_freq = time_features // 2
    return math.pi * torch.logspace(0.0, math.log10(max(max_frequency, 1.0)), n_freq) if n_freq else torch.zeros(0)


def sinusoidal_time_embedding(t: torch.Tensor, freqs: torch.Tensor) -> torch.Tensor:
    """[sin(ω t), cos(ω t)] for the frequencies ω of :func:`time_frequencies`.

    Shape:
        t: (...). freqs: (F,). returns: (..., 2F).
    """
    angles = t.unsqueeze(-1) * freqs.to(t.dtype)
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


def _rms_norm(x: torch.Tensor, eps: float) -> torch.Tensor:
    return x * torch.rsqrt(x.square().mean(-1, keepdim=True) + eps)


class _Linear(nn.Linear):
    """nn.Linear that computes in the input's dtype (parameters are cast, gradients flow)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = None if self.bias is None else self.bias.to(x.dtype)
        return F.linear(x, self.weight.to(x.dtype), bias)


class _Block(nn.Module):
    """Pre-norm residual block z + W₂ sqrelu(W₁ RMSNorm(z))."""

    def __init__(self, width: int, hidden: int, eps: float, dtype: torch.dtype | None = None):
        super().__init__()
        self.eps = eps
        self.gain = nn.Parameter(torch.ones(width, dtype=dtype))
        self.fc1 = _Linear(width, hidden, dtype=dtype)
        self.fc2 = _Linear(hidden, width, dtype=dtype)
        # small output projection: each block starts as a mild perturbation of the identity, so
        # the hidden states of all layers are distinct but none dominates the concatenation
        nn.init.normal_(self.fc2.weight, std=0.5 / math.sqrt(hidden))
        nn.init.zeros_(self.fc2.bias)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        y = _rms_norm(z, self.eps) * self.gain.to(z.dtype)
        return z + self.fc2(sqrelu(self.fc1(y)))


class SpectralMLP(FeatureMap):
    """Complex features h = φ_t(x; q) from the hidden states of a residual squared-ReLU MLP.

    Args:
        in_dim: d, the size of one sequence step xⁿ.
        depth: number of residual blocks L (= number of feature blocks).
        width: hidden width d_h (even); every block contributes width/2 complex features.
        time_features: size of the sinusoidal embedding of t (even; 0 disables t).
        hidden_mult: expansion factor of the block's inner layer (hidden = hidden_mult·width).
        max_frequency: highest angular frequency of the time embedding is π·max_frequency;
            frequencies are geometric from π to it, enough to resolve fast changes near t = 1.
        eps: RMS-norm epsilon.
        input_gains: factors on the input layer's initial weights for x and for γ(t): (4, ¼)
            widens the per-step kernel in x and narrows its dependence on t (the chain potential).
        dtype: parameter dtype (default: torch's default dtype). ``forward`` computes in the
            input's dtype either way.

    Attributes:
        out_dim: d_f = depth·width/2. is_complex: True. blocks: (depth, width/2).
    """

    is_complex = True
    time_freqs: torch.Tensor  # buffer (time_features // 2,)

    def __init__(self, in_dim: int, depth: int = 4, width: int = 64, time_features: int = 16,
                 hidden_mult: int = 2, max_frequency: float = 64.0, eps: float = 1e-6,
                 input_gains: tuple[float, float] = (1.0, 1.0), dtype: torch.dtype | None = None):
        super().__init__()
        for name, value in (("in_dim", in_dim), ("depth", depth), ("width", width), ("hidden_mult", hidden_mult)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected a positive integer, got {value!r}")
        if width % 2:
            raise ValueError(f"width: expected an even number (real and imaginary halves), got {width}")
        if not isinstance(time_features, int) or time_features < 0 or time_features % 2:
            raise ValueError(f"time_features: expected an even non-negative integer, got {time_features!r}")
        self.in_dim, self.depth, self.width = in_dim, depth, width
        self.time_features = time_features
        self.eps = eps
        self.out_dim = depth * width // 2
        self.register_buffer("time_freqs", time_frequencies(time_features, max_frequency), persistent=True)
        self.input = _Linear(in_dim + time_features, width, dtype=dtype)
        with torch.no_grad():  # how strongly the first layer reads xⁿ and γ(t), relative to nn.Linear's draw
            self.input.weight[:, :in_dim].mul_(float(input_gains[0]))
            self.input.weight[:, in_dim:].mul_(float(input_gains[1]))
        # q embedding: row 0 = "o" (target), row 1 = "s" (current); a 0/1 tensor interpolates
        self.q_embed = nn.Parameter(torch.randn(2, width, dtype=dtype) / math.sqrt(width))
        self.blocks_ = nn.ModuleList(_Block(width, hidden_mult * width, eps, dtype) for _ in range(depth))

    @property
    def blocks(self) -> tuple[int, int]:
        """(number of blocks, complex features per block) = (depth, width/2)."""
        return self.depth, self.width // 2

    def time_embedding(self, t: torch.Tensor) -> torch.Tensor:
        """[sin(ω t), cos(ω t)] for the geometric frequencies ω.

        Shape:
            t: (...). returns: (..., time_features).
        """
        return sinusoidal_time_embedding(t, self.time_freqs)

    def _q_weight(self, q: str | torch.Tensor, lead: torch.Size, ref: torch.Tensor) -> torch.Tensor:
        if isinstance(q, str):
            if q not in ("o", "s"):
                raise ValueError(f"q: expected 'o' (target), 's' (current) or a 0/1 tensor, got {q!r}")
            return torch.full((), 1.0 if q == "s" else 0.0, dtype=ref.dtype, device=ref.device)
        if not isinstance(q, torch.Tensor):
            raise ValueError(f"q: expected 'o', 's' or a tensor of 0/1, got {type(q).__name__}")
        try:
            return torch.broadcast_to(q.to(device=ref.device, dtype=ref.dtype), lead)
        except RuntimeError:
            raise ValueError(f"q: expected a tensor broadcastable to x.shape[:-1] = {tuple(lead)}, "
                             f"got shape {tuple(q.shape)}") from None

    def forward(self, x: torch.Tensor, t: torch.Tensor | float | None = None,
                q: str | torch.Tensor = "o") -> torch.Tensor:
        """Complex features of every step.

        Args:
            x: inputs (real).
            t: flow time: None (treated as 0), a float, or a tensor broadcastable to x.shape[:-1].
            q: "o" (target embedding), "s" (current embedding), or a tensor of 0 (o) / 1 (s)
                broadcastable to x.shape[:-1].

        Shape:
            x: (..., d). returns: (..., d_f) complex, d_f = depth·width/2.
        """
        self.check_input(x, "x")
        lead = x.shape[:-1]
        if t is None:
            t = 0.0
        t_t = torch.as_tensor(t, dtype=x.dtype, device=x.device)
        try:
            t_t = torch.broadcast_to(t_t, lead)
        except RuntimeError:
            raise ValueError(f"t: expected a float or a tensor broadcastable to x.shape[:-1] = {tuple(lead)}, "
                             f"got shape {tuple(t_t.shape)}") from None
        inp = torch.cat([x, self.time_embedding(t_t)], dim=-1) if self.time_features else x
        qw = self._q_weight(q, lead, x).unsqueeze(-1)
        emb = self.q_embed.to(x.dtype)
        z = self.input(inp) + (1 - qw) * emb[0] + qw * emb[1]
        k = self.width // 2
        parts = []
        for block in self.blocks_:
            z = block(z)
            parts.append(torch.complex(z[..., :k], z[..., k:]))
        h = torch.cat(parts, dim=-1)
        # complex RMS norm over the whole concatenation: E|h_k|² = 1 for every input
        scale = torch.rsqrt(h.real.square().mean(-1, keepdim=True) + h.imag.square().mean(-1, keepdim=True) + self.eps)
        return h * scale

    def extra_repr(self) -> str:
        return (f"in_dim={self.in_dim}, depth={self.depth}, width={self.width}, "
                f"time_features={self.time_features}, out_dim={self.out_dim}, complex")


__all__ = ["SpectralMLP", "sinusoidal_time_embedding", "sqrelu", "time_frequencies"]
