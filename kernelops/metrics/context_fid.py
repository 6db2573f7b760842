"""Context-FID: Fréchet distance between Gaussian fits of TS2Vec representations.

Reference: Diffusion-TS ``Utils/context_fid.py`` (after Jeha et al., ICLR 2022, "PSA-GAN"):
a TS2Vec encoder (output 320, batch 8, lr 1e-3, max_train_length 3000, default iteration count)
is trained on the real windows, real and generated windows are encoded with
``encoding_window='full_series'``, and the FID of the two sets of 320-d vectors is reported.
"""

from __future__ import annotations

import numpy as np
import torch

from kernelops.errors import ShapeError
from kernelops.metrics._common import check_pair, match_sizes, resolve_device
from kernelops.metrics.ts2vec import TS2Vec, default_iterations

FAST_FACTOR = 10  # fast mode trains the encoder this many times fewer iterations


def _as_f64(x: object, name: str) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
    if t.is_complex() or t.dtype == torch.bool:
        raise ShapeError(f"{name}: expected a real array, got dtype {t.dtype}")
    t = t.to(torch.float64)
    if not bool(torch.isfinite(t).all()):
        raise ShapeError(f"{name}: contains NaN or infinite values")
    return t


def _psd_sqrt(cov: torch.Tensor) -> torch.Tensor:
    """Symmetric square root of a symmetric positive semi-definite matrix (negative round-off
    eigenvalues are clipped to 0)."""
    evals, evecs = torch.linalg.eigh(cov)
    return (evecs * evals.clamp_min(0).sqrt()) @ evecs.T


def frechet_distance(mu1: object, cov1: object, mu2: object, cov2: object) -> float:
    """Fréchet (2-Wasserstein²) distance between N(mu1, cov1) and N(mu2, cov2).

    d² = ‖mu1 − mu2‖² + tr(cov1) + tr(cov2) − 2 tr((cov1 cov2)^{1/2}).

    The reference evaluates tr((cov1 cov2)^{1/2}) with ``scipy.linalg.sqrtm`` of the (non-
    symmetric) product and drops any imaginary part. We use the equivalent symmetric form
    tr((cov1 cov2)^{1/2}) = Σ sqrt(λ_i(S cov2 S)), S = cov1^{1/2}, computed with ``eigh`` in
    float64: cov1 cov2 is similar to S cov2 S, which is symmetric PSD, so the two agree for PSD
    inputs, and this one stays real and stable for singular covariances (fewer windows than
    dimensions). Round-off can push a distance of 0 to −1e-12; the result is clipped at 0.

    Lower is better; 0 iff the two Gaussians coincide.

    Args:
        mu1, mu2: means. cov1, cov2: symmetric PSD covariances (numpy arrays or tensors).

    Returns:
        The distance as a Python float.

    Raises:
        ShapeError: mismatched or non-square shapes, or non-finite values (naming the argument).

    Shape:
        mu1, mu2: (D,). cov1, cov2: (D, D).
    """
    m1, c1, m2, c2 = (_as_f64(v, n) for v, n in ((mu1, "mu1"), (cov1, "cov1"), (mu2, "mu2"), (cov2, "cov2")))
    if m1.dim() != 1:
        raise ShapeError(f"mu1: expected shape (D,), got {tuple(m1.shape)}")
    d = m1.shape[0]
    for t, name in ((m2, "mu2"), (c1, "cov1"), (c2, "cov2")):
        want = (d,) if name == "mu2" else (d, d)
        if tuple(t.shape) != want:
            raise ShapeError(f"{name}: expected shape {want} (D = {d} from mu1), got {tuple(t.shape)}")
    c2 = c2.to(c1.device)
    s = _psd_sqrt(0.5 * (c1 + c1.T))
    inner = s @ (0.5 * (c2 + c2.T)) @ s
    tr_sqrt = torch.linalg.eigvalsh(0.5 * (inner + inner.T)).clamp_min(0).sqrt().sum()
    diff = m1 - m2.to(m1.device)
    value = diff @ diff + torch.trace(c1) + torch.trace(c2) - 2.0 * tr_sqrt
    return max(float(value), 0.0)


def gaussian_fit(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and unbiased covariance (as ``np.cov(rowvar=False)``) of the rows, in float64.

    Shape:
        x: (n, D), n ≥ 2. returns: (D,) and (D, D).
    """
    x = x.to(torch.float64)
    return x.mean(dim=0), torch.cov(x.T)


def context_fid(
    real: object,
    fake: object,
    *,
    encoder: TS2Vec | None = None,
    seed: int = 0,
    fast: bool = False,
    iterations: int | None = None,
    device: torch.device | str | None = None,
) -> float:
    """Context-FID of generated windows against real ones.

    As in the reference: a TS2Vec encoder (output 320, hidden 64, depth 10; batch 8, lr 1e-3)
    is trained on the real windows for the reference's default number of iterations (200 if
    n·T·d ≤ 100 000, else 600: 600 for Sines 10 000 × 24 × 5); both sets are encoded by
    max-pooling over the whole window; the score is the Fréchet distance between Gaussian fits
    (mean, unbiased covariance) of the two sets of representations. The reference compares
    ``fake[:n_real]``; we subsample the larger set to the smaller size by ``seed``.

    Lower is better: 0 for identical representation statistics; a perfect generator on Sines
    (independent draw, 10 000 windows) scores about 0.003-0.005 (finite-sample noise).

    Args:
        real: real windows (the encoder's training set).
        fake: generated windows of the same (seq_len, features).
        encoder: a trained :class:`TS2Vec` to reuse (then no training happens; ``fast`` and
            ``iterations`` are ignored).
        seed: seeds the subsample and the encoder (initial weights, crops, masks).
        fast: quick mode for tests and smoke runs: 10x fewer training iterations. Not
            comparable with published numbers.
        iterations: training iterations (overrides the default and ``fast``).
        device: where to compute (default: the device of ``real``).

    Returns:
        The Context-FID.

    Raises:
        ShapeError: bad shapes or values, or fewer than 2 windows (naming the argument).

    Shape:
        real: (n_real, seq_len, features). fake: (n_fake, seq_len, features).
    """
    r, f = check_pair(real, fake, min_count=2)
    dev = resolve_device(device, r)
    r, f = match_sizes(r, f, seed)
    if encoder is None:
        if iterations is None:
            iterations = default_iterations(tuple(r.shape))
            if fast:
                iterations = max(iterations // FAST_FACTOR, 1)
        encoder = TS2Vec(r.shape[2], device=dev, seed=seed)
        encoder.fit(r.to(dev), iterations=iterations, batch_size=8, lr=1e-3)
    elif encoder.input_dims != r.shape[2]:
        raise ShapeError(
            f"real: expected {encoder.input_dims} features (the encoder's input_dims), got {tuple(r.shape)}"
        )
    mu_r, cov_r = gaussian_fit(encoder.encode(r))
    mu_f, cov_f = gaussian_fit(encoder.encode(f))
    return frechet_distance(mu_r, cov_r, mu_f, cov_f)
