"""2-D pictures of real vs generated windows: PCA and t-SNE (the TimeGAN / Diffusion-TS figures).

Following the reference visualisation, each window (N, d) is first reduced to one vector:
``reduce="mean"`` averages the d channels at every step (a length-N vector, what TimeGAN and
Diffusion-TS plot); ``reduce="flatten"`` keeps all N·d values. Both sets are subsampled to at
most ``max_points`` windows each (seeded). PCA is fitted on the real windows and applied to
both, so generated points that leave the real cloud show up as such. t-SNE embeds the union.

t-SNE is written here (exact O(n²) gradients in torch; affinities in float64, the gradient
loop in float32, which halves memory traffic and is ample for plot coordinates): perplexity
calibration by
bisection on every row's precision, symmetrised affinities, Student-t kernel, early
exaggeration 12 for the first 250 iterations, momentum 0.5 → 0.8, per-coordinate adaptive
gains, learning rate max(n / 48, 50), PCA initialisation scaled to standard deviation 1e-4
(van der Maaten & Hinton 2008; the defaults of common implementations). It is meant for up to
a few thousand points.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kernelops.errors import ShapeError
from kernelops.viz._render import new_figure, save_png
from kernelops.viz.samples import FAKE_COLOR, REAL_COLOR

if TYPE_CHECKING:
    import torch

ArrayLike = Any  # np.ndarray | torch.Tensor


# -- inputs -----------------------------------------------------------------------------------------
def _as_array(x: ArrayLike, name: str) -> np.ndarray:
    """Float64 numpy copy of a (n, N, d) or (n, D) array or tensor; NaN/inf rejected."""
    torch = sys.modules.get("torch")  # a tensor implies torch is imported; never import it here
    if torch is not None and isinstance(x, torch.Tensor):
        x = x.detach().to("cpu", torch.float64).numpy()  # plotting happens on the host
    elif isinstance(x, np.ndarray):
        if not np.issubdtype(x.dtype, np.number):
            raise ShapeError(f"{name}: expected a numeric array, got dtype {x.dtype}")
        x = x.astype(np.float64, copy=False)
    else:
        raise ShapeError(f"{name}: expected a numpy array or torch.Tensor, got {type(x).__name__}")
    if x.ndim not in (2, 3):
        raise ShapeError(f"{name}: expected shape (n, seq_len, features) or (n, dims), got {tuple(x.shape)}")
    if x.shape[0] < 2:
        raise ShapeError(f"{name}: expected at least 2 windows, got shape {tuple(x.shape)}")
    if not np.isfinite(x).all():
        raise ShapeError(f"{name}: contains {int((~np.isfinite(x)).sum())} NaN or infinite value(s)")
    return x


def _pair(real: ArrayLike, fake: ArrayLike, reduce: str, max_points: int | None,
          seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Validate, subsample (seeded, without replacement) and reduce both sets to (n, D) vectors."""
    r, f = _as_array(real, "real"), _as_array(fake, "fake")
    if r.shape[1:] != f.shape[1:]:
        raise ShapeError(f"real and fake must have the same (seq_len, features); got real "
                         f"{tuple(r.shape)} and fake {tuple(f.shape)}")
    if reduce not in ("mean", "flatten"):
        raise ValueError(f"reduce: expected 'mean' or 'flatten', got {reduce!r}")
    rng = np.random.default_rng(seed)
    out = []
    for x in (r, f):
        if max_points is not None and len(x) > max_points:
            x = x[np.sort(rng.choice(len(x), size=int(max_points), replace=False))]
        if x.ndim == 3:
            x = x.mean(axis=2) if reduce == "mean" else x.reshape(len(x), -1)
        out.append(x)
    return out[0], out[1]


# -- PCA --------------------------------------------------------------------------------------------
def _pca_basis(x: np.ndarray, k: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Mean and the top-k principal directions (rows) of x, with a deterministic sign."""
    mean = x.mean(axis=0)
    _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
    comps = vt[:k]
    if comps.shape[0] < k:  # fewer dimensions than k: pad with zero directions
        comps = np.vstack([comps, np.zeros((k - comps.shape[0], x.shape[1]))])
    # SVD signs are arbitrary: make each direction's largest loading positive
    idx = np.abs(comps).argmax(axis=1)
    signs = np.sign(comps[np.arange(k), idx])
    return mean, comps * np.where(signs == 0, 1.0, signs)[:, None]


def pca_2d(real: ArrayLike, fake: ArrayLike, *, reduce: str = "mean", max_points: int | None = None,
           seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Project real and generated windows on the top two principal directions of the real ones.

    Args:
        real: real windows (or already-reduced vectors).
        fake: generated windows, same trailing shape as ``real``.
        reduce: ``"mean"`` (average over channels, the reference) or ``"flatten"``.
        max_points: subsample each set to at most this many (None: use all).
        seed: seed of the subsampling.

    Shape:
        real: (n, N, d) or (n, D). fake: (m, N, d) or (m, D).
        returns: (real_2d (n', 2), fake_2d (m', 2)), n' = min(n, max_points).
    """
    r, f = _pair(real, fake, reduce, max_points, seed)
    mean, comps = _pca_basis(r)
    return (r - mean) @ comps.T, (f - mean) @ comps.T


# -- t-SNE ------------------------------------------------------------------------------------------
def _sq_distances(x: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distances of the rows, clamped at 0 with an exact zero diagonal.

    Shape:
        x: (n, D). returns: (n, n).
    """
    sq = (x * x).sum(dim=1)
    d2 = sq[:, None] + sq[None, :] - 2.0 * (x @ x.T)
    d2 = d2.clamp_min(0.0)
    d2.fill_diagonal_(0.0)
    return d2


def _conditional_probabilities(d2: torch.Tensor, perplexity: float, tol: float = 1e-5,
                               max_iter: int = 100) -> torch.Tensor:
    """Rows P[j | i] = exp(−β_i d²_ij) / Σ_k exp(−β_i d²_ik) with 2^{H(P_i)} = perplexity.

    β_i is found by bisection (doubling/halving while unbounded), all rows at once; entropy
    in nats, so the target is H = log(perplexity).

    Shape:
        d2: (n, n) squared distances. returns: (n, n), rows sum to 1, zero diagonal.
    """
    import torch

    n = d2.shape[0]
    target = float(np.log(perplexity))
    eye = torch.eye(n, dtype=torch.bool, device=d2.device)
    # shift each row by its smallest off-diagonal distance: same P, no underflow
    shifted = d2 - d2.masked_fill(eye, float("inf")).min(dim=1, keepdim=True).values
    beta = torch.ones(n, 1, dtype=d2.dtype, device=d2.device)
    lo = torch.zeros_like(beta)
    hi = torch.full_like(beta, float("inf"))
    for _ in range(max_iter):
        p = torch.exp(-shifted * beta).masked_fill(eye, 0.0)
        s = p.sum(dim=1, keepdim=True)
        entropy = torch.log(s) + beta * (shifted * p).sum(dim=1, keepdim=True) / s
        diff = entropy - target
        if bool((diff.abs() < tol).all()):
            break
        too_flat = diff > 0  # entropy too high: sharpen (raise beta)
        lo = torch.where(too_flat, beta, lo)
        hi = torch.where(too_flat, hi, beta)
        beta = torch.where(torch.isinf(hi), beta * 2.0, (lo + hi) / 2.0)
    p = torch.exp(-shifted * beta).masked_fill(eye, 0.0)
    return p / p.sum(dim=1, keepdim=True)


def tsne(x: ArrayLike, *, perplexity: float = 30.0, iterations: int = 500, seed: int = 0,
         learning_rate: float | None = None, early_exaggeration: float = 12.0) -> np.ndarray:
    """Exact t-SNE of the rows of ``x`` into 2-D (torch, on ``x``'s device if it is a tensor).

    Cost per iteration is O(n²) time and memory, so it suits the few thousand points of an
    evaluation plot, not large sets.

    Args:
        x: points to embed.
        perplexity: effective number of neighbours; clipped to (n − 1) / 3 for small n.
        iterations: gradient steps (the first min(250, iterations/4) are exaggerated).
        seed: seed of the tiny jitter that breaks ties in the PCA initialisation.
        learning_rate: step size; default max(n / early_exaggeration / 4, 50).
        early_exaggeration: factor on P during the first phase.

    Shape:
        x: (n, D). returns: (n, 2) numpy array.
    """
    import torch

    if isinstance(x, torch.Tensor):
        check = x.detach()
        device = check.device
        xt = check.to(torch.float64)
    else:
        device = torch.device("cpu")
        xt = torch.as_tensor(np.asarray(x, dtype=np.float64))
    if xt.ndim != 2 or xt.shape[0] < 4:
        raise ShapeError(f"x: expected shape (n, D) with n >= 4, got {tuple(xt.shape)}")
    if not bool(torch.isfinite(xt).all()):
        raise ShapeError("x: contains NaN or infinite values")
    if not perplexity > 0:
        raise ValueError(f"perplexity: expected a positive number, got {perplexity!r}")
    if int(iterations) != iterations or iterations < 1:
        raise ValueError(f"iterations: expected a positive integer, got {iterations!r}")
    n = xt.shape[0]
    perplexity = min(float(perplexity), (n - 1) / 3.0)
    lr = float(learning_rate) if learning_rate is not None else max(n / early_exaggeration / 4.0, 50.0)

    p_cond = _conditional_probabilities(_sq_distances(xt), perplexity)
    p = ((p_cond + p_cond.T) / (2.0 * n)).clamp_min(1e-12).to(torch.float32)

    # PCA initialisation (stable across runs, keeps global layout), scaled to std 1e-4
    centred = xt - xt.mean(dim=0)
    _, _, v = torch.linalg.svd(centred, full_matrices=False)
    y = centred @ v[:2].T
    if y.shape[1] < 2:
        y = torch.cat([y, torch.zeros(n, 2 - y.shape[1], dtype=y.dtype, device=device)], dim=1)
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    jitter = torch.randn(n, 2, generator=gen, dtype=torch.float64).to(device)
    y = (y / y[:, 0].std().clamp_min(1e-12) * 1e-4 + 1e-6 * jitter).to(torch.float32)

    update = torch.zeros_like(y)
    gains = torch.ones_like(y)
    phase = min(250, max(1, int(iterations) // 4))
    for it in range(int(iterations)):
        exaggeration = early_exaggeration if it < phase else 1.0
        momentum = 0.5 if it < phase else 0.8
        num = torch.cdist(y, y).square_().add_(1.0).reciprocal_()  # Student-t kernel
        num.fill_diagonal_(0.0)
        w = (exaggeration * p - (num / num.sum()).clamp_min_(1e-12)).mul_(num)  # (n, n)
        grad = 4.0 * (w.sum(dim=1, keepdim=True) * y - w @ y)
        same = (grad > 0) == (update > 0)
        gains = torch.where(same, gains * 0.8, gains + 0.2).clamp_min(0.01)
        update = momentum * update - lr * gains * grad
        y = y + update
    return y.to("cpu", torch.float64).numpy()


def tsne_2d(real: ArrayLike, fake: ArrayLike, *, perplexity: float = 30.0, iterations: int = 500,
            seed: int = 0, reduce: str = "mean", max_points: int | None = 500) -> tuple[np.ndarray, np.ndarray]:
    """t-SNE of the union of real and generated windows, split back into the two sets.

    Args:
        real: real windows (or already-reduced vectors).
        fake: generated windows, same trailing shape as ``real``.
        perplexity: t-SNE perplexity.
        iterations: t-SNE gradient steps.
        seed: seed of the subsampling and of the initial jitter.
        reduce: ``"mean"`` (average over channels, the reference) or ``"flatten"``.
        max_points: subsample each set to at most this many (exact t-SNE is O(n²)).

    Shape:
        real: (n, N, d) or (n, D). fake: (m, N, d) or (m, D).
        returns: (real_2d (n', 2), fake_2d (m', 2)).
    """
    r, f = _pair(real, fake, reduce, max_points, seed)
    y = tsne(np.concatenate([r, f]), perplexity=perplexity, iterations=iterations, seed=seed)
    return y[: len(r)], y[len(r):]


# -- plotting ---------------------------------------------------------------------------------------
def plot_embedding(real: ArrayLike, fake: ArrayLike, path: str | os.PathLike[str], method: str = "pca", *,
                   title: str | None = None, seed: int = 0, reduce: str = "mean", max_points: int | None = None,
                   perplexity: float = 30.0, iterations: int = 500) -> Path:
    """Scatter the 2-D PCA or t-SNE embedding of real (blue) and generated (red) windows to a PNG.

    Args:
        real: real windows.
        fake: generated windows.
        path: output PNG.
        method: ``"pca"`` or ``"tsne"``.
        title: figure title (default names the method and the point counts).
        seed: subsampling (and t-SNE) seed.
        reduce: how a window becomes a vector (see the module docstring).
        max_points: at most this many windows of each set (default: 1000 for PCA, 500 for
            t-SNE, whose cost grows as the square).
        perplexity: t-SNE only.
        iterations: t-SNE only.

    Shape:
        real: (n, N, d). fake: (m, N, d).

    Returns:
        The path written.
    """
    if method == "pca":
        r2, f2 = pca_2d(real, fake, reduce=reduce, max_points=max_points or 1000, seed=seed)
        labels = ("PC 1", "PC 2")
    elif method == "tsne":
        r2, f2 = tsne_2d(real, fake, perplexity=perplexity, iterations=iterations, seed=seed,
                         reduce=reduce, max_points=max_points or 500)
        labels = ("t-SNE 1", "t-SNE 2")
    else:
        raise ValueError(f"method: expected 'pca' or 'tsne', got {method!r}")
    fig = new_figure(6.0, 5.5)
    ax = fig.add_subplot(1, 1, 1)
    ax.scatter(r2[:, 0], r2[:, 1], s=6, alpha=0.35, c=REAL_COLOR, label=f"real ({len(r2)})", linewidths=0)
    ax.scatter(f2[:, 0], f2[:, 1], s=6, alpha=0.35, c=FAKE_COLOR, label=f"generated ({len(f2)})", linewidths=0)
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    name = "PCA (fitted on real)" if method == "pca" else "t-SNE"
    ax.set_title(title or f"{name}: real vs generated windows")
    ax.legend(loc="best", markerscale=3, frameon=False)
    return save_png(fig, path)


__all__ = ["pca_2d", "plot_embedding", "tsne", "tsne_2d"]
