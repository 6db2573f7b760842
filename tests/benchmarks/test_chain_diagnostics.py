"""benchmarks/chain_diagnostics.py: its three measurements on fields whose answers are known."""

from __future__ import annotations

import copy

import pytest
import torch


@pytest.fixture
def diag(load_script):
    return load_script("chain_diagnostics")


def _windows(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    freq = 0.05 + 0.1 * torch.rand(n, 1, 2, generator=g)
    phase = 6.3 * torch.rand(n, 1, 2, generator=g)
    return torch.sin(freq * torch.arange(8.0)[None, :, None] + phase)


@pytest.fixture
def chain_field(diag):
    """A chain field whose end heads (zero at initialisation) are random, so its learned part is not zero."""
    windows = _windows()
    return diag.randomize_end(diag.build_field("chain", windows, seed=0), seed=1), windows


def test_a_student_that_is_its_teacher_has_zero_error(diag, chain_field):
    """A copy of the teacher regresses on itself: its relative error starts at exactly 0."""
    field, windows = chain_field
    errors = diag.teacher_regression(copy.deepcopy(field), field, windows, 1, fixed_t=0.5, batch=8)
    assert errors[0] == pytest.approx(0.0, abs=1e-12)


def test_a_zero_student_has_relative_error_one(diag, chain_field):
    """The window potential starts at zero (read-out 0): its first error is exactly ‖F*‖²/‖F*‖² = 1."""
    teacher, windows = chain_field
    student = diag.build_field("window", windows, seed=1)
    errors = diag.teacher_regression(student, teacher, windows, 1, fixed_t=None, batch=8)
    assert errors[0] == pytest.approx(1.0, rel=1e-6)


def test_coherence_of_a_field_whose_gradient_does_not_depend_on_the_window(diag, chain_field):
    """A potential linear in y with a t-independent weight: ∂⟨F, p⟩/∂θ is the same for every window and
    every t, so both cosines are 1."""
    _, windows = chain_field
    field = diag.build_field("window", windows, seed=0)

    class Linear(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.randn(windows.shape[1], windows.shape[2]))

        def forward(self, y, t):
            return (y * self.w).sum(dim=(1, 2))

    field.potential_net = Linear()
    out = diag.gradient_coherence(field, windows, pairs=4)
    assert out["across_windows"] == pytest.approx(1.0, abs=1e-6)
    assert out["across_time"] == pytest.approx(1.0, abs=1e-6)


def test_sensitivity_profile_of_a_potential_of_the_last_step_only(diag, chain_field):
    """f(y) = Σ yᴺ²: F vanishes on every step but the last, so the profile is (0, …, 0, 1)."""
    _, windows = chain_field
    field = diag.build_field("window", windows, seed=0)

    class LastStep(torch.nn.Module):
        def forward(self, y, t):
            return y[:, -1].square().sum(-1)

    field.potential_net = LastStep()
    profile = diag.step_sensitivity(field, windows, n=16)
    assert profile[-1] == pytest.approx(1.0)
    assert max(profile[:-1]) == 0.0


def test_coherence_of_a_window_with_itself_is_one_for_the_chain(diag, chain_field):
    """dt = 0 compares a window's gradient with itself: cosine 1 (complex heads flattened as real pairs)."""
    field, windows = chain_field
    out = diag.gradient_coherence(field, windows, pairs=2, dt=0.0)
    assert out["across_time"] == pytest.approx(1.0, abs=1e-4)  # float32 rounding of the cosine
    assert -1.0 - 1e-4 <= out["across_windows"] <= 1.0 + 1e-4
