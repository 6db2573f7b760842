"""The potential f_t(x) = Re[TN_s(x) − TN_o(x)] of the spectral mean flow and its velocity.

For a sequence x = (x¹, …, x^N) with per-step complex features hⁿ = φ_t(xⁿ; q) split into
blocks hⁿ = (hⁿ_1, …, hⁿ_L), each block l is an independent chain with heads B_l, L_l, R_l, H_l
and eigenvalues λ_l, and

    TN(x) = Σ_l β_l(x¹)ᵀ Λ_l W_l(x²) Λ_l … W_l(x^{N−1}) Λ_l η_l(x^N),
    β_l = h¹_l B_l,  W_l(x) = L_lᵀ diag(h_l) R_l,  η_l = h^N_l H_l,

the bilinear (no conjugation) tensor-network contraction of DESIGN §2.3. It is evaluated
left to right in matrix–vector form, v ← ((L_l (λ_l ⊙ v)) ⊙ hⁿ_l) R_l, so W is never
materialised: O(N·k·r_b) per sequence and block. (The same contraction is being written as
``kernelops.chains.factored_chain_evaluate``; this module keeps its own copy so the flow does
not depend on its landing, and the tests check both against an explicit product of W matrices.)

The chains of the target (q = o) and current (q = s) embeddings share λ and the heads and
differ only in q, and they are evaluated together in one batch of 2·batch sequences.

For long sequences the raw product's magnitude varies exponentially with x (measured spread
e^{±14} over Sines windows at N = 256), so ``chain_norm="pair"`` divides both chains by their
joint running norm Z(x) > 0 after every step. Z is a smooth function of the sequence shared by
the two chains, so f/Z is still a scalar potential and v = −∇(f/Z) an exact gradient field.
"""

from __future__ import annotations

import torch
from torch import nn

from kernelops.errors import ShapeError
from kernelops.features.spectral_mlp import SpectralMLP
from kernelops.flows.spectral import SpectralHeads
from kernelops.utils.validation import check_tensor

#: "none": the raw chain TN (the paper's potential); "pair": TN/Z(x), Z the joint running norm
CHAIN_NORMS = ("none", "pair")


def block_chain_evaluate(h: torch.Tensor, B: torch.Tensor, L: torch.Tensor, R: torch.Tensor,
                         H: torch.Tensor, eigvals: torch.Tensor, *, log_scale: bool = False,
                         pair_norm: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Sum over blocks of the bilinear chains β_lᵀ Λ_l W_l(x²) … Λ_l η_l (no conjugation).

    Args:
        h: complex features of every step, split into blocks.
        B, L, R, H: block heads; W_l(x) = L_lᵀ diag(h_l) R_l.
        eigvals: λ (complex) or σ (real) per block.
        log_scale: renormalise the running vector every step and return (log_abs, phase) with
            value = phase·exp(log_abs), which stays finite when the value itself underflows.
        pair_norm: the batch holds two halves (sequence i pairs with i + batch/2); after β and
            after every transfer step both running vectors of a pair are divided by their joint
            RMS norm, differentiably. The result is TN(x)/Z(x) with Z(x) > 0 a smooth function
            of the sequence shared by the pair: the normalised chain of
            :class:`SpectralPotential` with ``chain_norm="pair"`` (bounded for any N).

    Shape:
        h: (batch, N, nb, k) with N ≥ 2. B, L, R, H: (nb, k, r). eigvals: (nb, r).
        returns: (batch,) complex, or ((batch,) real, (batch,) complex) with ``log_scale``.
    """
    if h.dim() != 4:
        raise ShapeError(f"h: expected shape (batch, N, blocks, k), got {tuple(h.shape)}")
    batch, n_steps, nb, k = h.shape
    if n_steps < 2:
        raise ShapeError(f"h: a chain needs N >= 2 steps, got shape {tuple(h.shape)}")
    for name, head in (("B", B), ("L", L), ("R", R), ("H", H)):
        if head.dim() != 3 or head.shape[:2] != (nb, k) or head.shape[2] != B.shape[2]:
            raise ShapeError(f"{name}: expected shape ({nb}, {k}, r), got {tuple(head.shape)}")
    r = B.shape[2]
    if tuple(eigvals.shape) != (nb, r):
        raise ShapeError(f"eigvals: expected shape ({nb}, {r}), got {tuple(eigvals.shape)}")
    # (N, nb, batch, k), contiguous, split with unbind: indexing hb[n] in a loop would make
    # every backward allocate and fill a full-size zero tensor per step (O(N²) memory traffic)
    hb = h.permute(1, 2, 0, 3).contiguous().unbind(0)
    lam = eigvals.unsqueeze(1)  # (nb, 1, r)
    Lt = L.transpose(1, 2)  # (nb, r, k)
    if pair_norm and batch % 2:
        raise ShapeError(f"h: pair_norm needs an even batch (two halves), got {batch}")

    def normalise(v: torch.Tensor) -> torch.Tensor:
        sq = v.real.square().sum(dim=(0, 2)) + v.imag.square().sum(dim=(0, 2)) if v.is_complex() else v.square().sum(dim=(0, 2))
        half = sq.shape[0] // 2
        z = ((sq[:half] + sq[half:]) / 2).clamp_min(torch.finfo(sq.dtype).tiny).sqrt()
        return v / torch.cat([z, z]).unsqueeze(-1)

    v = torch.bmm(hb[0], B)  # β: (nb, batch, r)
    if pair_norm:
        v = normalise(v)
    log_abs = torch.zeros(batch, dtype=h.real.dtype, device=h.device) if log_scale else None
    for hn in hb[1:-1]:
        v = torch.bmm(torch.bmm(v * lam, Lt) * hn, R)
        if pair_norm:
            v = normalise(v)
        if log_scale:
            norm = v.abs().square().sum(dim=(0, 2)).sqrt().clamp_min(torch.finfo(log_abs.dtype).tiny)
            v = v / norm.unsqueeze(-1)
            log_abs = log_abs + norm.log()
    eta = torch.bmm(hb[-1], H)
    value = (v * lam * eta).sum(dim=(0, 2))
    if not log_scale:
        return value
    mag = value.abs()
    phase = torch.where(mag > 0, value / mag.clamp_min(torch.finfo(mag.dtype).tiny), torch.ones_like(value))
    return log_abs + mag.clamp_min(torch.finfo(mag.dtype).tiny).log(), phase


class SpectralPotential(nn.Module):
    """Feature network + spectral heads: f_t(x) = Re[TN_s(x) − TN_o(x)], v_t = −∇ₓ f_t.

    Args:
        features: a :class:`SpectralMLP` (or any feature map with ``blocks`` and a ``q`` argument).
        heads: the :class:`SpectralHeads` matching ``features.blocks``.
        chain_norm: "none": f = Re[TN_s − TN_o], the raw chains (the paper's potential; right
            for moderate N, it under/overflows for long N); "pair": f = Re[TN_s − TN_o]/Z(x),
            Z the joint running norm of the two chains (see :func:`block_chain_evaluate`),
            bounded for any N. Both are exact gradient potentials: Z is differentiated.
    """

    def __init__(self, features: SpectralMLP, heads: SpectralHeads, chain_norm: str = "none"):
        super().__init__()
        if chain_norm not in CHAIN_NORMS:
            raise ValueError(f"chain_norm: expected one of {CHAIN_NORMS}, got {chain_norm!r}")
        self.chain_norm = chain_norm
        if tuple(features.blocks) != (heads.num_blocks, heads.block_dim):
            raise ValueError(f"heads: expected blocks {tuple(features.blocks)} to match the features, "
                             f"got ({heads.num_blocks}, {heads.block_dim})")
        self.features, self.heads = features, heads

    def _times(self, t: torch.Tensor | float, x: torch.Tensor) -> torch.Tensor:
        t_t = torch.as_tensor(t, dtype=x.dtype, device=x.device)
        if t_t.dim() == 0:
            t_t = t_t.expand(x.shape[0])
        if tuple(t_t.shape) != (x.shape[0],):
            raise ShapeError(f"t: expected a float, a 0-d tensor or shape ({x.shape[0]},), got {tuple(t_t.shape)}")
        return t_t

    def chains(self, x: torch.Tensor, t: torch.Tensor | float) -> tuple[torch.Tensor, torch.Tensor]:
        """(TN_o(x), TN_s(x)), both complex.

        Shape:
            x: (batch, N, d). t: float or (batch,). returns: two (batch,) complex tensors.
        """
        check_tensor(x, "x", ndim=3, allow_complex=False)
        batch, n_steps, _ = x.shape
        t_b = self._times(t, x)
        x2 = torch.cat([x, x], dim=0)
        t2 = torch.cat([t_b, t_b], dim=0).unsqueeze(-1)  # broadcast over steps
        q = torch.cat([x.new_zeros(batch), x.new_ones(batch)]).unsqueeze(-1)  # 0 = o, 1 = s
        h = self.features(x2, t2, q)
        nb, k = self.features.blocks
        h = h.reshape(2 * batch, n_steps, nb, k)
        heads = self.heads
        cdt = h.dtype
        tn = block_chain_evaluate(h, heads.B.to(cdt), heads.L.to(cdt), heads.R.to(cdt), heads.H.to(cdt),
                                  heads.eigvals().to(cdt), pair_norm=self.chain_norm == "pair")
        return tn[:batch], tn[batch:]

    def log_magnitude(self, x: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
        """log|TN_o(x)| computed in log-scale form (finite even where TN under/overflows).

        Shape:
            x: (batch, N, d). returns: (batch,).
        """
        batch, n_steps, _ = x.shape
        h = self.features(x, self._times(t, x).unsqueeze(-1), "o")
        nb, k = self.features.blocks
        h = h.reshape(batch, n_steps, nb, k)
        hd = self.heads
        log_abs, _ = block_chain_evaluate(h, hd.B, hd.L, hd.R, hd.H, hd.eigvals().to(h.dtype), log_scale=True)
        return log_abs

    def forward(self, x: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
        """The potential f_t(x) = Re[TN_s(x) − TN_o(x)].

        Shape:
            x: (batch, N, d). t: float, 0-d or (batch,). returns: (batch,) real.
        """
        tn_o, tn_s = self.chains(x, t)
        return (tn_s - tn_o).real

    def velocity(self, x: torch.Tensor, t: torch.Tensor | float, *, create_graph: bool | None = None) -> torch.Tensor:
        """v_t(x) = −∇ₓ f_t(x) by autograd (works under ``torch.no_grad``).

        Args:
            x: points (model coordinates).
            t: flow time.
            create_graph: keep the graph of the gradient for a second backward (training);
                default ``self.training``.

        Shape:
            x: (batch, N, d). t: float, 0-d or (batch,). returns: (batch, N, d).
        """
        if create_graph is None:
            create_graph = self.training
        with torch.enable_grad():
            if x.is_inference():
                x = x.clone()
            xg = x if (x.requires_grad and create_graph) else x.detach().requires_grad_(True)
            f = self.forward(xg, t)
            (grad,) = torch.autograd.grad(f.sum(), xg, create_graph=create_graph)
        return -grad if create_graph else -grad.detach()


__all__ = ["SpectralPotential", "block_chain_evaluate"]
