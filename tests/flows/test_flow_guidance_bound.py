"""Guidance is bounded by construction: no scale turns a finite field into non-finite draws."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from kernelops.data import make_sines
from kernelops.flows import SpectralMeanFlow
from kernelops.flows.conditional import GUIDANCE_MAX_RATIO, bounded_guidance, check_guidance_scale


def test_the_guidance_term_is_capped_relative_to_the_velocity_and_untouched_below_the_cap():
    g = torch.Generator().manual_seed(0)
    velocity = torch.randn(4, 5, 2, generator=g, dtype=torch.float64)
    grad = torch.randn(4, 5, 2, generator=g, dtype=torch.float64)
    small = torch.tensor([1e-3], dtype=torch.float64)
    assert torch.equal(bounded_guidance(velocity, grad, small), small * grad)
    for weight in (1e3, 1e300):
        term = bounded_guidance(velocity, grad, torch.tensor([weight], dtype=torch.float64))
        ratio = term.flatten(1).norm(dim=1) / velocity.flatten(1).norm(dim=1)
        assert torch.allclose(ratio, torch.full((4,), GUIDANCE_MAX_RATIO, dtype=torch.float64))
    assert torch.equal(bounded_guidance(velocity, torch.zeros_like(grad), torch.tensor([1e300])),
                       torch.zeros_like(grad))


@pytest.mark.parametrize("scale", [math.inf, -math.inf, math.nan, -1.0, True, "1"])
def test_scales_that_are_not_finite_and_non_negative_are_refused(scale):
    with pytest.raises(ValueError, match="guidance_scale: expected a finite number ≥ 0"):
        check_guidance_scale(scale)


def test_a_huge_guidance_scale_still_gives_finite_draws_near_the_observations():
    windows = make_sines(64, seq_len=8, features=2, seed=0).astype(np.float32)
    model = SpectralMeanFlow(seed=0, depth=1, width=16, skip="none", sample_steps=8)
    model.fit(windows, steps=20, batch_size=16, progress=False)
    observed = torch.from_numpy(windows[:4].copy())
    observed[:, ::2] = float("nan")
    for scale in (10.0, 1e3, 1e30):
        draws = model.sample(3, observed=observed, method="guidance", guidance_scale=scale, seed=0)
        assert bool(torch.isfinite(draws).all()), scale
        assert float(draws.abs().max()) < 10.0  # the data lie in [0, 1]
    with pytest.raises(ValueError, match="guidance_scale"):
        model.sample(3, observed=observed, method="guidance", guidance_scale=math.inf, seed=0)
