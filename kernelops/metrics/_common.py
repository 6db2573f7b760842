"""Shared plumbing of the metrics: input checks, size matching, devices and seeded randomness.

Every metric takes ``real`` and ``fake`` windows of shape (n, seq_len, features) as numpy arrays
or tensors. They must agree in (seq_len, features); their counts may differ, in which case the
larger set is subsampled (without replacement, by the seed) so that, as in the TimeGAN /
Diffusion-TS protocol, as many generated windows are compared as real ones.

All randomness comes from local :class:`torch.Generator` objects derived from the ``seed``
argument; the global RNG state is never read or advanced (modules are built on the ``meta``
device and then initialised explicitly with a generator).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import numpy as np
import torch
from torch import nn

from kernelops.errors import ShapeError
from kernelops.utils.validation import check_tensor

M = TypeVar("M", bound=nn.Module)

# Streams: independent generators per purpose, so that e.g. the size-matching subsample does not
# shift when a metric later draws more random numbers.
STREAM_MATCH, STREAM_INDEX, STREAM_NOISE, STREAM_INIT = 0, 1, 2, 3


def as_windows(x: object, name: str, *, min_len: int = 1, min_count: int = 1) -> torch.Tensor:
    """Convert ``x`` to a finite real floating tensor of shape (n, seq_len, features).

    numpy arrays keep their dtype when floating (float64 stays float64); integer and boolean
    inputs become the default float dtype. Tensors are used as they are (no copy, same device).

    Raises:
        ShapeError: naming ``name`` if ``x`` is not array-like, not 3-d, empty, complex, has NaN or
            infinite values, has fewer than ``min_len`` steps or fewer than ``min_count`` windows.

    Shape:
        x: (n, seq_len, features). returns: the same shape.
    """
    if isinstance(x, np.ndarray):
        if x.dtype == object or not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
            raise ShapeError(f"{name}: expected a numeric array, got dtype {x.dtype}")
        x = torch.from_numpy(np.ascontiguousarray(x))
    if not isinstance(x, torch.Tensor):
        raise ShapeError(f"{name}: expected a numpy array or torch.Tensor, got {type(x).__name__}")
    if x.dim() != 3:
        raise ShapeError(f"{name}: expected shape (n, seq_len, features), got {tuple(x.shape)}")
    check_tensor(x, name, ndim=3, allow_complex=False)
    if not x.is_floating_point():
        x = x.to(torch.get_default_dtype())
    n, t, d = x.shape
    if d < 1 or t < min_len or n < min_count:
        raise ShapeError(
            f"{name}: expected at least {min_count} window(s) of at least {min_len} step(s) and "
            f"1 feature, got shape {tuple(x.shape)}"
        )
    return x


def check_pair(
    real: object, fake: object, *, min_len: int = 1, min_count: int = 1
) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate ``real`` and ``fake`` and check that they agree in (seq_len, features).

    Raises:
        ShapeError: naming the argument at fault.

    Shape:
        real: (n_real, T, d), fake: (n_fake, T, d). returns: the two tensors.
    """
    r = as_windows(real, "real", min_len=min_len, min_count=min_count)
    f = as_windows(fake, "fake", min_len=min_len, min_count=min_count)
    if r.shape[1:] != f.shape[1:]:
        raise ShapeError(
            f"fake: expected (seq_len, features) = {tuple(r.shape[1:])} to match real "
            f"{tuple(r.shape)}, got {tuple(f.shape)}"
        )
    return r, f


def derive_seed(seed: int, stream: int) -> int:
    """A 63-bit seed for ``stream`` that is independent of the other streams of ``seed``."""
    return int(np.random.SeedSequence([int(seed) & (2**63 - 1), stream]).generate_state(1, np.uint64)[0] >> 1)


def make_generator(seed: int, stream: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A fresh generator on ``device`` seeded from (``seed``, ``stream``)."""
    g = torch.Generator(device=torch.device(device))
    g.manual_seed(derive_seed(seed, stream))
    return g


def match_sizes(real: torch.Tensor, fake: torch.Tensor, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Subsample the larger of ``real`` and ``fake`` to the size of the smaller one.

    The protocol compares as many generated windows as real ones; the subsample is drawn without
    replacement from a generator seeded by ``seed``. Equal sizes are returned unchanged.

    Shape:
        real: (n_real, T, d), fake: (n_fake, T, d). returns: both (min(n_real, n_fake), T, d).
    """
    n = min(real.shape[0], fake.shape[0])
    g = make_generator(seed, STREAM_MATCH)
    if real.shape[0] > n:
        real = real[torch.randperm(real.shape[0], generator=g)[:n].to(real.device)]
    if fake.shape[0] > n:
        fake = fake[torch.randperm(fake.shape[0], generator=g)[:n].to(fake.device)]
    return real, fake


def resolve_device(device: torch.device | str | None, like: torch.Tensor) -> torch.device:
    """``device`` if given, else the device of ``like`` (numpy inputs live on the CPU)."""
    return torch.device(device) if device is not None else like.device


def default_hidden(features: int, hidden: int | None) -> int:
    """The GRU width of the TimeGAN metrics: ``features // 2`` (at least 1) unless given."""
    if hidden is None:
        return max(features // 2, 1)
    if int(hidden) < 1:
        raise ValueError(f"hidden: expected a positive integer, got {hidden!r}")
    return int(hidden)


def check_count(value: int, name: str) -> int:
    """Raise ``ValueError`` unless ``value`` is a positive integer."""
    if isinstance(value, bool) or int(value) != value or value < 1:
        raise ValueError(f"{name}: expected a positive integer, got {value!r}")
    return int(value)


def build_module(
    factory: Callable[[], M],
    init: Callable[[M, torch.Generator], None],
    *,
    seed: int,
    device: torch.device,
    dtype: torch.dtype = torch.float32,
) -> M:
    """Build ``factory()`` without touching the global RNG and initialise it with ``init``.

    The module is created on the ``meta`` device (so its default initialisers draw nothing),
    materialised on the CPU, initialised by ``init(module, generator)`` with a CPU generator
    seeded from ``seed`` (so a seed gives the same weights on every device), then moved to
    ``device`` and ``dtype``.
    """
    with torch.device("meta"):
        module = factory()
    module = module.to_empty(device="cpu")
    with torch.no_grad():
        init(module, make_generator(seed, STREAM_INIT))
    return module.to(device=device, dtype=dtype)


def batch_indices(n: int, batch_size: int, generator: torch.Generator) -> torch.Tensor:
    """A batch as the reference draws it: the first ``batch_size`` entries of a permutation.

    Shape:
        returns: (min(n, batch_size),), int64 on the CPU.
    """
    return torch.randperm(n, generator=generator)[:batch_size]
