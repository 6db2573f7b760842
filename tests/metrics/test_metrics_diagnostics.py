"""kernelops.metrics.diagnostics: out-of-range windows and roughness on windows with known answers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kernelops.errors import ShapeError
from kernelops.metrics.diagnostics import out_of_range_fraction, roughness, sample_diagnostics


def test_out_of_range_counts_windows_not_values():
    w = np.full((4, 24, 3), 0.5)
    w[0, 3, 1] = 1.06   # just above 1.05
    w[1, :, :] = -0.2   # every value below
    w[2, 0, 0] = 1.05   # on the boundary: inside
    assert out_of_range_fraction(w) == pytest.approx(0.5)
    assert out_of_range_fraction(torch.from_numpy(w), low=-0.3, high=1.1) == 0.0
    with pytest.raises(ValueError, match="low <= high"):
        out_of_range_fraction(w, low=1.0, high=0.0)


def test_roughness_is_zero_on_lines_and_exact_on_a_zigzag():
    t = np.linspace(0.0, 1.0, 24)
    lines = np.stack([np.stack([a * t + b for a, b in ((0.3, 0.1), (-0.2, 0.9))], axis=-1)] * 5)
    assert roughness(lines) == pytest.approx(0.0, abs=1e-12)
    zigzag = np.tile(0.5 + 0.01 * (-1.0) ** np.arange(24), (2, 1))[..., None]  # (2, 24, 1)
    assert roughness(zigzag) == pytest.approx(0.04)  # |Δ²| of a ±a alternation is 4a
    with pytest.raises(ShapeError, match="windows"):
        roughness(np.zeros((3, 2, 1)))  # fewer than 3 steps: no second difference


def test_sample_diagnostics_against_a_copy_and_a_noisy_overshooting_sample():
    gen = np.random.default_rng(0)
    t = np.linspace(0.0, 2 * np.pi, 24)
    real = (0.5 + 0.5 * np.sin(t[None, :, None] + gen.uniform(0, 6, (200, 1, 2)))).astype(np.float32)
    same = sample_diagnostics(real, real)
    assert same["windows"] == 200 and same["roughness_ratio"] == pytest.approx(1.0)
    assert same["out_of_range"] == {0.05: 0.0, 0.5: 0.0}
    assert same["real_range"][0] == pytest.approx(0.0, abs=1e-3) and same["real_range"][1] == pytest.approx(1.0, abs=1e-3)
    noisy = real[:50] + 0.1 * gen.standard_normal((50, 24, 2)).astype(np.float32)
    noisy[:10] += 2.0  # ten windows far above the data
    report = sample_diagnostics(noisy, real)
    assert report["out_of_range"][0.5] == pytest.approx(10 / 50)
    assert report["out_of_range"][0.05] >= 10 / 50
    assert report["roughness_ratio"] > 5  # noise of 0.1 per step against a smooth sine


def test_sample_diagnostics_checks_its_inputs():
    w = np.zeros((4, 24, 2))
    with pytest.raises(ShapeError, match="fake"):
        sample_diagnostics(np.zeros((4, 24, 3)), w)
    with pytest.raises(ValueError, match="margins"):
        sample_diagnostics(w, w, margins=(-0.1,))
    flat = sample_diagnostics(w + 0.5, w)  # both perfectly straight: no ratio
    assert np.isnan(flat["roughness_ratio"])
