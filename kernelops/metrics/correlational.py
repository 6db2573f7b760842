"""Correlational score: L1 distance between the lag-0 cross-correlation matrices of two sets.

Reference: Diffusion-TS ``Utils/cross_correlation.py`` (``cacf_torch`` with ``max_lag=1`` inside
``CrossCorrelLoss``) and its evaluation notebooks, which call it on random subsets.
"""

from __future__ import annotations

import torch

from kernelops.metrics._common import STREAM_INDEX, check_count, check_pair, make_generator, match_sizes


def lag0_cross_correlation(x: torch.Tensor) -> torch.Tensor:
    """Lower triangle (diagonal included) of the lag-0 cross-correlation of the channels.

    Each channel is standardised with its mean and unbiased standard deviation taken over all
    windows and steps together; entry (i, j), i ≥ j, is the mean over windows and steps of
    z_i · z_j (a constant channel is standardised to 0). Entries are in ``torch.tril_indices``
    order (row-major over the lower triangle).

    Shape:
        x: (n, T, d). returns: (d (d + 1) / 2,).
    """
    mean = x.mean(dim=(0, 1), keepdim=True)
    std = x.std(dim=(0, 1), keepdim=True)
    # A constant channel has no correlation to speak of; the reference would return NaN (or
    # noise from a round-off std), we set its standardised values to 0 (so its entries are 0).
    constant = std <= 16 * torch.finfo(x.dtype).eps * (1 + mean.abs())
    safe_std = torch.where(constant, torch.ones_like(std), std)
    z = torch.where(constant, torch.zeros_like(x), (x - mean) / safe_std)
    rows, cols = torch.tril_indices(x.shape[2], x.shape[2], device=x.device)
    return (z[..., rows] * z[..., cols]).mean(dim=(0, 1))


def correlational_score(
    real: object,
    fake: object,
    *,
    sample_size: int | None = None,
    seed: int = 0,
) -> float:
    """Σ_{i ≥ j} |C^fake_ij − C^real_ij| / 10, C the lag-0 cross-correlations of the channels.

    Formula (as the reference computes it): standardise each channel c of a set X (n, T, d),
    z_c = (x_c − mean_c) / std_c with mean and unbiased std over all n·T values of that channel;
    C_ij = (1 / (n T)) Σ_{windows, steps} z_i z_j for the d(d+1)/2 pairs i ≥ j (the diagonal is
    included; it is (nT − 1)/(nT) for both sets when their sizes agree, so it cancels). The
    score is the sum over those pairs of |C^fake_ij − C^real_ij|, divided by the constant 10
    that the reference hard-codes (it is not the number of pairs).

    With ``sample_size`` set, each set is first replaced by ``sample_size`` windows drawn
    uniformly *with replacement* (independently for real and fake), as the reference's evaluation
    notebooks do in each of their runs (sample_size = n / runs); without it the whole (size-
    matched) sets are compared. The subsampling noise is what sets this metric's floor (a perfect
    generator on Sines scores about 0.015-0.019 with 2000-window subsets).

    Lower is better; 0 means identical cross-correlation structure.

    The computation runs in the inputs' dtype (float64 numpy arrays stay float64) and device.
    If the sizes differ, the larger set is first subsampled (by ``seed``) to the smaller size.

    Args:
        real: real windows.
        fake: generated windows of the same (seq_len, features).
        sample_size: windows drawn with replacement from each set (default: use all).
        seed: seeds the size matching and the draws.

    Returns:
        The score (≥ 0).

    Raises:
        ShapeError: bad shapes or values (naming the argument).

    Shape:
        real: (n_real, seq_len, features). fake: (n_fake, seq_len, features).
    """
    r, f = check_pair(real, fake)
    r, f = match_sizes(r, f, seed)
    f = f.to(device=r.device, dtype=torch.promote_types(r.dtype, f.dtype))
    r = r.to(dtype=f.dtype)
    if sample_size is not None:
        m = check_count(sample_size, "sample_size")
        g = make_generator(seed, STREAM_INDEX)
        r = r[torch.randint(r.shape[0], (m,), generator=g).to(r.device)]
        f = f[torch.randint(f.shape[0], (m,), generator=g).to(f.device)]
    if r.shape[0] * r.shape[1] < 2:
        raise ValueError("real: need at least 2 values per channel (windows x steps) to standardise")
    diff = lag0_cross_correlation(f) - lag0_cross_correlation(r)
    return float(diff.abs().sum() / 10.0)
