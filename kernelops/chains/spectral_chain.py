"""Spectral chains: the tensor-train form of a sequence embedding (docs/theory.md, "Spectral chains").

Conventions
-----------
A chain of rank r over features φ ∈ C^D is given by

- ``start`` (r, D), ``transfer`` (D, r, r), ``end`` (r, D) and ``eigvals`` λ (r,),

real or complex. For per-step features ``phi`` of shape (batch, N, D) (step n holds φ(xⁿ)) let

- β(x)ᵢ = Σ_k conj(φ_k(x)) start[i, k],
- W(x)ᵢⱼ = Σ_k conj(φ_k(x)) transfer[k, i, j],
- η(x)ᵢ = Σ_k conj(φ_k(x)) end[i, k],   Λ = diag(λ).

Then, for N ≥ 2 (N = 2 is βᵀΛη),

    inner(phi) = β(x¹)ᵀ Λ W(x²) Λ W(x³) ⋯ Λ W(x^{N−1}) Λ η(x^N),

which is the Hermitian inner product ⟨φ(x¹) ⊗ ⋯ ⊗ φ(x^N), μ⟩ (⟨a, b⟩ = Σ conj(a) b) with the
D^N tensor

    μ[k₁…k_N] = Σ start[i₂, k₁] λ_{i₂} transfer[k₂, i₂, i₃] λ_{i₃} ⋯ λ_{i_N} end[i_N, k_N].

:meth:`SpectralChain.evaluate` is the same contraction *without* the conjugation (a bilinear
form in the features), which neural models use directly; for real features the two agree.

Methods
-------
- ``"sequential"``: left-to-right row-vector × matrix products. O(N·r²·batch) for the products
  plus O(N·D·r²·batch) for the feature contraction, and O(r²·chunk) extra memory per sequence
  (the W(xⁿ) are formed ``chunk_size`` steps at a time, never all N at once).
- ``"scan"``: all step matrices Mₙ = ΛW(xⁿ) at once, then their ordered product by a pairwise
  tree reduction (:mod:`kernelops.chains.scan`): O(log N) depth, O(N·r³) work, O(N·r²) memory.
- ``"logscale"``: the sequential pass renormalising the running vector at every step and
  accumulating the log of the norms; :meth:`SpectralChain.log_inner` returns the
  (log|value|, phase) pair, finite for any N (the plain product under- or overflows for long
  N whenever the typical per-step gain differs from 1).

Results have the dtype torch's type promotion gives to the chain's and the features' dtypes
and live on their device.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch

from kernelops.chains._checks import check_chain_tensor, check_sequence_features, common_dtype
from kernelops.chains.contract import cached_contract
from kernelops.chains.scan import tree_matmul, tree_matmul_logscale
from kernelops.errors import ShapeError

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["METHODS", "SpectralChain"]

METHODS = ("sequential", "scan", "logscale")
LOG_METHODS = ("sequential", "scan")


def _safe_phase(val: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Split ``val`` into (log|val|, phase) with phase of modulus 1 (1 where val == 0)."""
    mag = val.abs()
    safe = torch.where(mag > 0, mag, torch.ones_like(mag))
    phase = torch.where(mag > 0, val / safe.to(val.dtype), torch.ones_like(val))
    return torch.log(mag), phase


def _safe_normalise(v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Scale the rows of ``v`` to unit norm; return them and the log of the removed norm."""
    norm = torch.linalg.vector_norm(v, dim=-1)
    safe = torch.where(norm > 0, norm, torch.ones_like(norm))
    return v / safe[..., None].to(v.dtype), torch.log(norm)


class SpectralChain:
    """A rank-r tensor-train embedding of length-N sequences over features φ ∈ C^D.

    A plain container of four tensors (not an ``nn.Module``): wrap its tensors as parameters
    yourself if you train them; every method is differentiable (also twice) in the features and
    in the chain tensors. See the module docstring for the exact contraction.

    Args:
        start: start elements, ``start[i, k]``.
        transfer: transfer elements, ``transfer[k, i, j]``.
        end: end elements, ``end[i, k]``.
        eigvals: the diagonal of Λ.

    Shape:
        start: (r, D). transfer: (D, r, r). end: (r, D). eigvals: (r,).

    Raises:
        ShapeError: a tensor has the wrong shape, a non-float dtype or NaN/inf entries, or the
            tensors are on different devices; the message names the argument.
    """

    def __init__(self, start: torch.Tensor, transfer: torch.Tensor, end: torch.Tensor, eigvals: torch.Tensor):
        check_chain_tensor(start, "start", ("r", "D"), (None, None))
        r, d = start.shape
        check_chain_tensor(transfer, "transfer", ("D", "r", "r"), (d, r, r))
        check_chain_tensor(end, "end", ("r", "D"), (r, d))
        check_chain_tensor(eigvals, "eigvals", ("r",), (r,))
        devices = {t.device for t in (start, transfer, end, eigvals)}
        if len(devices) > 1:
            raise ShapeError(
                "start, transfer, end, eigvals: expected tensors on one device, got "
                f"{start.device}, {transfer.device}, {end.device}, {eigvals.device}"
            )
        dtype = common_dtype(start, transfer, end, eigvals)
        # .to keeps the autograd graph, so gradients reach the caller's tensors.
        self.start = start.to(dtype)
        self.transfer = transfer.to(dtype)
        self.end = end.to(dtype)
        self.eigvals = eigvals.to(dtype)

    # ------------------------------------------------------------------ properties / plumbing
    @property
    def rank(self) -> int:
        """Bond dimension r."""
        return self.start.shape[0]

    @property
    def dim(self) -> int:
        """Feature dimension D."""
        return self.start.shape[1]

    @property
    def dtype(self) -> torch.dtype:
        return self.start.dtype

    @property
    def device(self) -> torch.device:
        return self.start.device

    @property
    def is_complex(self) -> bool:
        return self.start.is_complex()

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(start, transfer, end, eigvals)``."""
        return self.start, self.transfer, self.end, self.eigvals

    def __iter__(self) -> Iterator[torch.Tensor]:
        return iter(self.tensors())

    def to(self, *args: Any, **kwargs: Any) -> SpectralChain:
        """A chain with every tensor passed through ``Tensor.to(*args, **kwargs)`` (device/dtype)."""
        return SpectralChain(*(t.to(*args, **kwargs) for t in self.tensors()))

    def detach(self) -> SpectralChain:
        """A chain whose tensors are detached from the autograd graph."""
        return SpectralChain(*(t.detach() for t in self.tensors()))

    def __repr__(self) -> str:
        return f"SpectralChain(rank={self.rank}, dim={self.dim}, dtype={self.dtype}, device={self.device})"

    # ------------------------------------------------------------------ public contractions
    def inner(self, phi: torch.Tensor, method: str = "sequential", *, chunk_size: int = 64) -> torch.Tensor:
        """⟨φ(x¹) ⊗ ⋯ ⊗ φ(x^N), μ⟩ for each sequence (features conjugated).

        Args:
            phi: per-step features φ(xⁿ).
            method: ``"sequential"``, ``"scan"`` or ``"logscale"`` (see the module docstring).
            chunk_size: steps whose W(xⁿ) the sequential passes form at once.

        Shape:
            phi: (batch, N, D), N ≥ 2. returns: (batch,).
        """
        self._check_features(phi, "phi")
        return self._contract(phi.conj(), method, chunk_size)

    def evaluate(self, feats: torch.Tensor, method: str = "sequential", *, chunk_size: int = 64) -> torch.Tensor:
        """The chain contraction with ``feats`` used as they are (bilinear, no conjugation).

        Shape:
            feats: (batch, N, D), N ≥ 2. returns: (batch,).
        """
        self._check_features(feats, "feats")
        return self._contract(feats, method, chunk_size)

    def log_inner(
        self, phi: torch.Tensor, method: str = "sequential", *, chunk_size: int = 64
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`inner` as ``(log_abs, phase)`` with inner = phase · exp(log_abs), finite for any N.

        Args:
            phi: per-step features.
            method: ``"sequential"`` (renormalised vector pass) or ``"scan"`` (log-scaled tree).
            chunk_size: steps whose W(xⁿ) the sequential pass forms at once.

        Shape:
            phi: (batch, N, D). returns: log_abs (batch,) real (-inf where the value is 0);
            phase (batch,) of modulus 1, complex for complex chains/features, ±1 for real ones.
        """
        self._check_features(phi, "phi")
        return self._log_contract(phi.conj(), method, chunk_size)

    def log_evaluate(
        self, feats: torch.Tensor, method: str = "sequential", *, chunk_size: int = 64
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`evaluate` as ``(log_abs, phase)``; see :meth:`log_inner`."""
        self._check_features(feats, "feats")
        return self._log_contract(feats, method, chunk_size)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def random(
        cls,
        rank: int,
        dim: int,
        complex: bool = True,  # noqa: A002 - the name the public API promises
        generator: torch.Generator | None = None,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
        modulus: tuple[float, float] = (0.5, 0.95),
    ) -> SpectralChain:
        """A random chain scaled so that long contractions neither explode nor vanish fast.

        Entries are i.i.d. (complex) Gaussians: ``transfer`` with variance 1/(r·D), so that for
        features with i.i.d. unit-variance entries E‖vᵀW(x)‖² = ‖v‖²; ``start`` and ``end``
        with variance 1/D (β(x), η(x) then have unit-variance entries). The eigenvalues have
        modulus uniform in ``modulus`` and, for complex chains, a uniform phase (random sign
        for real ones), so the typical per-step gain is |λ| < 1.

        Args:
            rank: r ≥ 1.
            dim: D ≥ 1.
            complex: draw complex tensors (``dtype`` defaults to complex128, else float64).
            generator: a ``torch.Generator`` for reproducible draws (on ``device``).
            dtype: the chain's dtype; must be complex iff ``complex``.
            device: where to create the tensors.
            modulus: (low, high) range of |λ|.
        """
        if not isinstance(rank, int) or rank < 1:
            raise ValueError(f"rank: expected a positive int, got {rank!r}")
        if not isinstance(dim, int) or dim < 1:
            raise ValueError(f"dim: expected a positive int, got {dim!r}")
        lo, hi = modulus
        if not 0 <= lo <= hi:
            raise ValueError(f"modulus: expected 0 <= low <= high, got {modulus!r}")
        if dtype is None:
            dtype = torch.complex128 if complex else torch.float64
        if dtype.is_complex != bool(complex):
            raise ValueError(f"dtype: expected a {'complex' if complex else 'real'} dtype (complex={complex}), got {dtype}")
        real = torch.empty((), dtype=dtype).real.dtype
        kw: dict[str, Any] = {"generator": generator, "dtype": real, "device": device}

        def gauss(*shape: int, var: float) -> torch.Tensor:
            if complex:
                z = torch.complex(torch.randn(*shape, **kw), torch.randn(*shape, **kw))
                return z * math.sqrt(var / 2)
            return torch.randn(*shape, **kw) * math.sqrt(var)

        start = gauss(rank, dim, var=1.0 / dim)
        transfer = gauss(dim, rank, rank, var=1.0 / (rank * dim))
        end = gauss(rank, dim, var=1.0 / dim)
        mod = lo + (hi - lo) * torch.rand(rank, **kw)
        if complex:
            angle = (2 * torch.rand(rank, **kw) - 1) * math.pi
            eigvals = torch.polar(mod, angle)
        else:
            eigvals = mod * torch.where(torch.rand(rank, **kw) < 0.5, -1.0, 1.0).to(real)
        return cls(start.to(dtype), transfer.to(dtype), end.to(dtype), eigvals.to(dtype))

    @classmethod
    def from_heads(
        cls,
        B: torch.Tensor,  # noqa: N803 - the paper's names
        Lh: torch.Tensor,  # noqa: N803
        Rh: torch.Tensor,  # noqa: N803
        H: torch.Tensor,  # noqa: N803
        eigvals: torch.Tensor,
    ) -> SpectralChain:
        """The dense chain of factored read-out heads (see :func:`kernelops.chains.factored_chain_evaluate`).

        start = Bᵀ, transfer[k, i, j] = Lh[k, i]·Rh[k, j], end = Hᵀ, so that
        ``from_heads(...).evaluate(h)`` equals ``factored_chain_evaluate(h, B, Lh, Rh, H, eigvals)``.
        Block heads (L, k, r_b) are assembled block-diagonally (features then concatenate the
        blocks: h.reshape(batch, N, L·k)). Meant for tests and small cases: transfer has K·r² entries.

        Shape:
            B, Lh, Rh, H: (K, r) or (L, k, r_b). eigvals: (r,), or (L, r_b) / (L·r_b,) for blocks.
        """
        heads = [B, Lh, Rh, H]
        for name, head in zip(("B", "Lh", "Rh", "H"), heads):
            if not isinstance(head, torch.Tensor) or head.dim() not in (2, 3):
                got = tuple(head.shape) if isinstance(head, torch.Tensor) else type(head).__name__
                raise ShapeError(f"{name}: expected shape (K, r) or block shape (L, k, r), got {got}")
        if B.dim() == 3:
            heads = [torch.block_diag(*head.unbind(0)) if head.dim() == 3 else head for head in heads]
            eigvals = eigvals.reshape(-1)
        b, lh, rh, hh = heads
        return cls(b.T, lh[:, :, None] * rh[:, None, :], hh.T, eigvals)

    # ------------------------------------------------------------------ internals
    def _check_features(self, feats: torch.Tensor, name: str) -> None:
        check_sequence_features(feats, name, self.dim, device=self.device)

    def _ends(self, feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        beta = cached_contract("bk,ik->bi", feats[:, 0], self.start)
        eta = cached_contract("bk,ik->bi", feats[:, -1], self.end)
        return beta, eta

    def _scaled_transfer(self) -> torch.Tensor:
        """λᵢ·transfer[k, i, j]: folding Λ in once (D·r² work) saves an N·r² pass and buffer."""
        return self.eigvals[:, None] * self.transfer

    @staticmethod
    def _step_matrices(feats: torch.Tensor, lam_transfer: torch.Tensor) -> torch.Tensor:
        """Mₙ = ΛW(xⁿ) for the given steps; (batch, m, D) -> (batch, m, r, r)."""
        return cached_contract("bnk,kij->bnij", feats, lam_transfer)

    def _sequential(self, feats: torch.Tensor, chunk: int, log: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Run the vector pass; returns (final value, accumulated log-norm or None)."""
        beta, eta = self._ends(feats)
        v, logacc = (beta, None)
        if log:
            v, logacc = _safe_normalise(v)
        n_mid = feats.shape[1] - 2
        lam_transfer = self._scaled_transfer() if n_mid else None
        for s in range(0, n_mid, chunk):
            mats = self._step_matrices(feats[:, 1 + s : 1 + min(s + chunk, n_mid)], lam_transfer)
            for t in range(mats.shape[1]):
                v = (v.unsqueeze(-2) @ mats[:, t]).squeeze(-2)
                if log:
                    v, dlog = _safe_normalise(v)
                    logacc = logacc + dlog
        val = (v * self.eigvals.to(v.dtype) * eta).sum(-1)
        return val, logacc

    def _contract(self, feats: torch.Tensor, method: str, chunk: int) -> torch.Tensor:
        _check_method(method, METHODS)
        _check_chunk(chunk)
        if method == "sequential":
            return self._sequential(feats, chunk, log=False)[0]
        if method == "logscale":
            log_abs, phase = self._log_contract(feats, "sequential", chunk)
            return phase * torch.exp(log_abs).to(phase.dtype)
        beta, eta = self._ends(feats)
        lam_eta = self.eigvals.to(eta.dtype) * eta
        if feats.shape[1] == 2:
            return (beta * lam_eta).sum(-1)
        prod = tree_matmul(self._step_matrices(feats[:, 1:-1], self._scaled_transfer()))
        return cached_contract("bi,bij,bj->b", beta, prod, lam_eta)

    def _log_contract(self, feats: torch.Tensor, method: str, chunk: int) -> tuple[torch.Tensor, torch.Tensor]:
        if method == "logscale":
            method = "sequential"
        _check_method(method, LOG_METHODS)
        _check_chunk(chunk)
        if method == "sequential":
            val, logacc = self._sequential(feats, chunk, log=True)
            log_abs, phase = _safe_phase(val)
            return log_abs + logacc, phase
        beta, eta = self._ends(feats)
        beta, log_beta = _safe_normalise(beta)
        lam_eta = self.eigvals.to(eta.dtype) * eta
        if feats.shape[1] == 2:
            log_abs, phase = _safe_phase((beta * lam_eta).sum(-1))
            return log_abs + log_beta, phase
        unit, log_prod = tree_matmul_logscale(self._step_matrices(feats[:, 1:-1], self._scaled_transfer()))
        log_abs, phase = _safe_phase(cached_contract("bi,bij,bj->b", beta, unit, lam_eta))
        return log_abs + log_beta + log_prod, phase


def _check_method(method: str, allowed: tuple[str, ...]) -> None:
    if method not in allowed:
        raise ValueError(f"method: expected one of {', '.join(map(repr, allowed))}, got {method!r}")


def _check_chunk(chunk: int) -> None:
    if not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"chunk_size: expected a positive int, got {chunk!r}")
