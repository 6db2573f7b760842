"""benchmarks/field_diagnostics.py: its figures on fields whose answers are known."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture
def diag(load_script):
    return load_script("field_diagnostics")


def _windows(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    freq = 0.05 + 0.1 * torch.rand(n, 1, 2, generator=g, dtype=torch.float64)
    phase = 6.3 * torch.rand(n, 1, 2, generator=g, dtype=torch.float64)
    return torch.sin(freq * torch.arange(24, dtype=torch.float64)[None, :, None] + phase)


def test_exact_field_of_the_windows_denoises_them_exactly(diag):
    """The OT field that carries every noised point back to its own window: x̂₁ = x₁."""
    x1 = _windows()

    def exact(x, t):  # v = (x₁ − x)/(1 − t), the conditional target of the clean windows
        return (x1 - x) / (1 - t)[:, None, None]

    rows = diag.field_report(exact, x1, times=(0.5, 0.99))
    for row in rows:
        assert row["rmse"] < 1e-12
        assert row["rough_denoised"] == pytest.approx(1.0, abs=1e-9)
        assert row["rough_input"] > 2  # the input itself was rougher (3× at t = 0.99)
        # v = x₁ − z: its component along −z is 1 − ⟨x₁, z⟩/⟨z, z⟩ ≈ 1
        assert abs(row["contraction"] - 1) < 0.1


def test_zero_field_removes_nothing(diag):
    x1 = _windows(seed=1)
    rows = diag.field_report(lambda x, t: torch.zeros_like(x), x1, times=(0.3, 0.9))
    for row in rows:
        assert row["contraction"] == 0
        assert row["rough_denoised"] == pytest.approx(row["rough_input"])
        # x̂₁ = x_t: the error is that of the noisy input, (1 − t)·z − (1 − t)·x₁ per entry
        assert row["rmse"] > 0.05
    with pytest.raises(ValueError, match="times"):
        diag.field_report(lambda x, t: x, x1, times=(1.0,))


def test_sines_ablation_settings(load_script):
    ablation = load_script("sines_ablation")
    assert ablation.parse_settings(["lr=4e-3", "skip=channel", "rank=None"]) == {
        "lr": 4e-3, "skip": "channel", "rank": None}
    with pytest.raises(SystemExit, match="key=value"):
        ablation.parse_settings(["lr"])


def test_learned_share_is_the_rms_ratio_of_the_part(diag):
    x1 = _windows(seed=2)
    rows = diag.field_report(lambda x, t: 4 * x, x1, times=(0.5,), learned=lambda x, t: x)
    assert rows[0]["learned_share"] == pytest.approx(0.25)


def test_excess_loss_is_zero_for_the_exact_field_and_the_square_of_a_constant_offset(diag):
    import kernelops as ko

    path = ko.path("ot")
    train = _windows(40, seed=2)
    exact = lambda x, t: path.posterior_velocity(x, t, train)  # noqa: E731
    rows = diag.excess_loss(exact, path, train, n=256)
    assert set(rows) == {"0-0.5", "0.5-0.8", "0.8-0.9", "0.9-1", "all"}
    assert max(rows.values()) < 1e-20
    shifted = diag.excess_loss(lambda x, t: exact(x, t) + 0.3, path, train, n=256)
    for value in shifted.values():
        assert value == pytest.approx(0.09, rel=1e-9)
