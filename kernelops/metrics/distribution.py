"""Scores that see what the four protocol metrics miss: marginals, spectra, range and copies.

The protocol scores (Context-FID, correlational, discriminative, predictive) look at windows
through a learned encoder, a lag-0 correlation or a small GRU. None of them compares the value
distribution of a channel, its power spectrum, or whether a sample leaves the data's range, and
none asks whether a sample is new. These four do; nothing is trained and each is exact:

* :func:`marginal_wasserstein`: per channel, the 1-Wasserstein distance between the pooled values
  of the real and of the generated windows (a marginal that is too wide, shifted or bimodal);
* :func:`spectral_distance`: per channel, the total variation between the normalised mean power
  spectra along time (power at the wrong frequencies: wandering amplitude, missing periods, noise);
* :func:`value_range_share`: the share of generated values outside the real per-channel range;
* :func:`copy_test`: the nearest-training-window distance of generated windows beside that of
  held-out real windows, or of training windows to the rest of the training period (a memorising
  model copies; a generalising one is as far from the training set as new real data are).

:func:`distribution_scores` bundles the first three. Inputs are windows (n, seq_len, features) as
numpy arrays or tensors on the [0, 1] scale of the metrics; everything is computed in float64.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from kernelops.errors import ShapeError
from kernelops.metrics._common import as_windows, check_pair

#: entries of one (rows × training windows) distance block of :func:`copy_test`: bounds its memory
COPY_BLOCK_ENTRIES = 2**24
#: the held-out distance quantile that :func:`copy_test` counts generated windows below
COPY_QUANTILE = 0.01


def _channel_values(x: torch.Tensor) -> torch.Tensor:
    """All values of each channel, sorted: (features, n * seq_len), float64."""
    return x.double().reshape(-1, x.shape[-1]).T.contiguous().sort(dim=1).values


def marginal_wasserstein(real: object, fake: object) -> dict[str, Any]:
    """Per-channel 1-Wasserstein distance between the value distributions of ``real`` and ``fake``.

    All values of a channel are pooled over windows and steps. For two empirical distributions
    with CDFs F and G the distance is ∫ |F(x) − G(x)| dx, computed exactly on the merged sorted
    values (the CDFs are step functions between them), so unequal counts need no resampling.
    A shift of every value by c gives exactly |c|; identical sets give 0.

    Returns:
        ``{"per_channel": [W1 of each channel], "mean": their mean}``, on the scale of the inputs.

    Raises:
        ShapeError: bad inputs, or (seq_len, features) that differ, naming the argument.

    Shape:
        real: (n_real, seq_len, features). fake: (n_fake, seq_len, features).
    """
    r, f = check_pair(real, fake)
    a, b = _channel_values(r), _channel_values(f.to(r.device))  # (d, n_a), (d, n_b)
    merged = torch.cat([a, b], dim=1).sort(dim=1).values  # (d, n_a + n_b)
    points = merged[:, :-1].contiguous()
    # F(x) on each interval [merged[k], merged[k+1]): the share of values ≤ merged[k]
    cdf_a = torch.searchsorted(a, points, right=True).double() / a.shape[1]
    cdf_b = torch.searchsorted(b, points, right=True).double() / b.shape[1]
    per_channel = ((cdf_a - cdf_b).abs() * merged.diff(dim=1)).sum(dim=1)
    values = [float(v) for v in per_channel.cpu()]
    return {"per_channel": values, "mean": float(np.mean(values))}


def mean_power_spectrum(windows: object) -> torch.Tensor:
    """Mean power spectrum along time of each channel, without the zero frequency.

    Each window is centred on its own mean per channel (so the level of a window does not enter),
    its |rfft|² taken along time and averaged over windows.

    Shape:
        windows: (n, seq_len, features), seq_len ≥ 2. returns: (seq_len // 2, features), float64.
    """
    w = as_windows(windows, "windows", min_len=2).double()
    centred = w - w.mean(dim=1, keepdim=True)
    power = torch.fft.rfft(centred, dim=1).abs().square().mean(dim=0)  # (seq_len // 2 + 1, d)
    return power[1:]  # the zero-frequency bin is 0 up to rounding after centring


def spectral_distance(real: object, fake: object) -> dict[str, Any]:
    """Per-channel total variation between the normalised mean power spectra of ``real`` and ``fake``.

    The mean power spectrum of each set (:func:`mean_power_spectrum`) is normalised to sum 1 over
    the non-zero frequencies, p for real and q for fake, and the score is TV = ½ Σ_k |p_k − q_k|.
    Total variation rather than e.g. the Hellinger distance because it reads directly as the share
    of the power that sits at the wrong frequencies, weighs every frequency by its power (a weak
    noise floor counts by its size, not more), and is bounded: 0 for equal spectra, 1 for spectra
    with disjoint support (a pure sine against a sine of another frequency). The normalisation
    makes it blind to amplitude (the marginal score sees that) and to the window level.

    A channel constant within every window has no power; it scores 0 against another such
    channel and 1 (the maximum) against a channel that has power.

    Returns:
        ``{"per_channel": [TV of each channel], "mean": their mean}``, each in [0, 1].

    Raises:
        ShapeError: bad inputs, seq_len < 2, or (seq_len, features) that differ.

    Shape:
        real: (n_real, seq_len, features). fake: (n_fake, seq_len, features).
    """
    r, f = check_pair(real, fake, min_len=2)
    p, q = mean_power_spectrum(r), mean_power_spectrum(f).to(r.device)  # (seq_len // 2, d)
    values = []
    for k in range(p.shape[1]):
        sp, sq = float(p[:, k].sum()), float(q[:, k].sum())
        if sp == 0.0 or sq == 0.0:
            values.append(0.0 if sp == sq else 1.0)
        else:
            values.append(0.5 * float((p[:, k] / sp - q[:, k] / sq).abs().sum()))
    return {"per_channel": values, "mean": float(np.mean(values))}


def value_range_share(real: object, fake: object) -> float:
    """Share of generated *values* outside the real windows' per-channel [min, max].

    The bounds themselves are inside, so real windows score 0 against themselves. Counted over
    every value of every window and channel (not windows: a sample that leaves the range at one
    step out of many counts by that one value).

    Shape:
        real: (n_real, seq_len, features). fake: (n_fake, seq_len, features).
    """
    r, f = check_pair(real, fake)
    flat_r = r.double().reshape(-1, r.shape[-1])
    low, high = flat_r.min(dim=0).values, flat_r.max(dim=0).values  # (d,)
    flat_f = f.to(r.device).double().reshape(-1, f.shape[-1])
    return float(((flat_f < low) | (flat_f > high)).double().mean())


def distribution_scores(real: object, fake: object) -> dict[str, Any]:
    """:func:`marginal_wasserstein`, :func:`spectral_distance` and :func:`value_range_share` at once.

    Returns:
        ``{"marginal_wasserstein": {...}, "spectral_distance": {...}, "value_range_share": float}``.

    Shape:
        real: (n_real, seq_len, features), fake: (n_fake, seq_len, features), seq_len ≥ 2.
    """
    return {"marginal_wasserstein": marginal_wasserstein(real, fake),
            "spectral_distance": spectral_distance(real, fake),
            "value_range_share": value_range_share(real, fake)}


def nearest_distances(queries: torch.Tensor, reference: torch.Tensor, *,
                      block_entries: int = COPY_BLOCK_ENTRIES) -> torch.Tensor:
    """Euclidean distance of each flattened query window to its nearest reference window.

    ``torch.cdist`` runs on row blocks of at most ``block_entries`` distances, so memory holds one
    block at a time, never the whole query × reference matrix. Its fast matrix-product
    form loses the digits of near-zero distances; the distance to the nearest neighbour it finds is
    therefore computed again directly, so that an exact copy has distance exactly 0.

    Shape:
        queries: (m, seq_len, features), reference: (n, seq_len, features). returns: (m,), float64.
    """
    q = queries.double().reshape(queries.shape[0], -1)
    ref = reference.double().reshape(reference.shape[0], -1).to(q.device)
    rows = max(1, int(block_entries) // max(ref.shape[0], 1))
    out = torch.empty(q.shape[0], dtype=torch.float64, device=q.device)
    for start in range(0, q.shape[0], rows):
        block = q[start:start + rows]
        nearest = torch.cdist(block, ref).argmin(dim=1)
        out[start:start + rows] = (block - ref[nearest]).norm(dim=1)
    return out


def within_training_distances(train: torch.Tensor, gap: int, queries: int, *,
                              block_entries: int = COPY_BLOCK_ENTRIES) -> torch.Tensor:
    """Distance of training windows to the nearest training window that shares no time step with them.

    ``queries`` windows evenly spaced through ``train`` (in time order) are the queries; window i's
    neighbours j with |i − j| ≤ ``gap`` (for sliding windows of N steps at stride 1, gap = N − 1)
    are left out of its search, itself included. The result is how far real windows of the training
    period lie from the rest of it: a reference for :func:`copy_test` that a drift of the series
    after the training period cannot inflate.

    Shape:
        train: (n, seq_len, features) in time order, n > 2·gap + 1. returns: (queries,), float64.
    """
    n = train.shape[0]
    flat = train.double().reshape(n, -1)
    idx = torch.from_numpy(np.unique(np.linspace(0, n - 1, min(queries, n)).round().astype(np.int64))).to(flat.device)
    positions = torch.arange(n, device=flat.device)
    rows = max(1, int(block_entries) // max(n, 1))
    out = torch.empty(idx.shape[0], dtype=torch.float64, device=flat.device)
    for start in range(0, idx.shape[0], rows):
        block_idx = idx[start:start + rows]
        block = flat[block_idx]
        dist = torch.cdist(block, flat)
        dist[(positions[None, :] - block_idx[:, None]).abs() <= gap] = math.inf
        nearest = dist.argmin(dim=1)
        out[start:start + rows] = (block - flat[nearest]).norm(dim=1)
    return out


def _against(d_fake: np.ndarray, d_ref: np.ndarray) -> dict[str, float]:
    """Median ratio and share of generated distances below the reference's 1st percentile."""
    med_fake, med_ref = float(np.median(d_fake)), float(np.median(d_ref))
    if med_ref > 0:
        ratio = med_fake / med_ref
    else:
        ratio = math.inf if med_fake > 0 else math.nan
    threshold = float(np.quantile(d_ref, COPY_QUANTILE))
    return {"median_ref": med_ref, "ratio": ratio, "share_below": float((d_fake < threshold).mean()),
            "quantile_value": threshold}


def copy_test(train: object, fake: object, held_out: object | None = None, *, gap: int | None = None,
              block_entries: int = COPY_BLOCK_ENTRIES) -> dict[str, Any]:
    """Are generated windows copies of training windows? Compare with real windows the model did not copy.

    For each generated window, the Euclidean distance (windows flattened) to its nearest training
    window, against the same distance of real windows. New real data sit at some typical distance
    from the training set; a generator that memorises sits much closer. Two references:

    * ``held_out`` (held-out real windows): their distance to the nearest training window. Reported
      at the top level: ``median_fake``, ``median_held_out``, ``ratio`` = median_fake /
      median_held_out (about 1 for windows as new as held-out data, ≪ 1 for copies, 0 for exact
      copies, > 1 for windows farther from the data than real ones), ``share_below`` (the share of
      generated windows closer than the 1st percentile of the held-out distances: about 0.01 for new
      windows, 1 for copies) and ``held_out_quantile`` (that percentile). On a series that drifts
      after the training period, held-out windows lie far from every training window and the ratio
      reads small for any generator that stays in the training period's range.
    * ``gap`` (``train`` in time order): training windows' distance to the nearest training window
      that shares no time step with them (:func:`within_training_distances`; gap = seq_len − 1 for
      windows at stride 1, 0 for independent draws), as many as there are generated windows. Reported
      under ``within``: ``gap``, ``windows``, ``median`` (of those distances), ``ratio``,
      ``share_below`` and ``quantile_value``, read as above: the reference is real windows of the
      training period itself, which drift after it cannot move.

    ``median_fake``, ``quantile`` and ``windows`` (the counts) are always reported.

    Raises:
        ShapeError: bad inputs or shapes that differ, naming the argument.
        ValueError: neither ``held_out`` nor ``gap`` given, a negative ``gap``, or too few training
            windows to leave any out of reach of ``gap``.

    Shape:
        train: (n_train, seq_len, features), fake: (n_fake, ...), held_out: (n_held, ...).
    """
    tr = as_windows(train, "train")
    f = as_windows(fake, "fake")
    h = None if held_out is None else as_windows(held_out, "held_out")
    for name, x in (("fake", f), ("held_out", h)):
        if x is not None and x.shape[1:] != tr.shape[1:]:
            raise ShapeError(f"{name}: expected (seq_len, features) = {tuple(tr.shape[1:])} to match train "
                             f"{tuple(tr.shape)}, got {tuple(x.shape)}")
    if int(block_entries) < 1:
        raise ValueError(f"block_entries: expected a positive integer, got {block_entries!r}")
    if h is None and gap is None:
        raise ValueError("copy_test: expected held-out windows, a gap for the within-training reference, or both")
    if gap is not None and (isinstance(gap, bool) or not isinstance(gap, int) or gap < 0):
        raise ValueError(f"gap: expected a non-negative integer (seq_len − 1 for sliding windows), got {gap!r}")
    if gap is not None and tr.shape[0] <= 2 * gap + 1:
        raise ValueError(f"gap: {tr.shape[0]} training windows leave none more than {gap} windows away from "
                         f"the middle one; expected more than {2 * gap + 1}")
    d_fake = nearest_distances(f.to(tr.device), tr, block_entries=block_entries).cpu().numpy()
    out: dict[str, Any] = {"median_fake": float(np.median(d_fake)), "quantile": COPY_QUANTILE,
                           "windows": {"train": int(tr.shape[0]), "fake": int(f.shape[0])}}
    if h is not None:
        d_held = nearest_distances(h.to(tr.device), tr, block_entries=block_entries).cpu().numpy()
        held = _against(d_fake, d_held)
        out |= {"median_held_out": held["median_ref"], "ratio": held["ratio"], "share_below": held["share_below"],
                "held_out_quantile": held["quantile_value"]}
        out["windows"]["held_out"] = int(h.shape[0])
    if gap is not None:
        d_within = within_training_distances(tr, gap, int(f.shape[0]), block_entries=block_entries).cpu().numpy()
        within = _against(d_fake, d_within)
        out["within"] = {"gap": gap, "windows": int(d_within.shape[0]), "median": within.pop("median_ref"), **within}
    return out


__all__ = ["COPY_BLOCK_ENTRIES", "COPY_QUANTILE", "copy_test", "distribution_scores", "marginal_wasserstein",
           "mean_power_spectrum", "nearest_distances", "spectral_distance", "value_range_share",
           "within_training_distances"]
