"""benchmarks/learned_spectrum.py: the data's eigenvalues, the model's, the statistics, and a tiny run (trained, then loaded)."""

from __future__ import annotations

import json

import numpy as np
import pytest


@pytest.fixture(scope="module")
def ls(load_script):
    return load_script("learned_spectrum")


def test_the_data_eigenvalues_are_the_unit_rotations_of_the_sampled_frequencies(ls):
    from kernelops.data import sines_parameters

    lam = ls.data_eigenvalues(40, 3, seed=5)
    freq = sines_parameters(40, 3, seed=5)[0].reshape(-1)
    assert lam.shape == (240,)
    np.testing.assert_allclose(np.abs(lam), 1.0, atol=1e-12)
    np.testing.assert_allclose(np.sort(np.angle(lam)), np.sort(np.concatenate([freq, -freq])), atol=1e-12)
    assert np.abs(np.angle(lam)).max() <= 0.1


def test_chain_eigenvalues_are_the_heads_eigenvalues_inside_the_unit_disk_and_a_window_field_is_refused(ls):
    import kernelops as ko
    from kernelops.flows import FieldConfig, SpectralVelocityField

    field = SpectralVelocityField(ko.path("ot"), 2, 3, FieldConfig(depth=2, width=8, potential="chain"))
    lam = ls.chain_eigenvalues(field)
    assert lam["s"].shape == lam["o"].shape == (8,)
    np.testing.assert_allclose(lam["o"], field.potential_net.heads_o.eigvals().detach().reshape(-1).numpy())
    assert np.abs(np.concatenate([lam["s"], lam["o"]])).max() < 1.0  # λ = exp(−exp(ν) + iθ)
    window = SpectralVelocityField(ko.path("ot"), 2, 3, FieldConfig(depth=1, width=8, potential="window"))
    with pytest.raises(ValueError, match="expected a chain potential"):
        ls.chain_eigenvalues(window)


def test_spectrum_stats_and_movement_on_hand_made_eigenvalues(ls):
    data = np.exp(1j * np.array([0.0, 0.05, -0.05]))
    lam = np.array([1.0 + 0j, 0.95 * np.exp(0.08j), 0.5j, 0.95 * np.exp(0.2j)])
    stats = ls.spectrum_stats(lam, data)
    assert stats["count"] == 4 and stats["in_data_region"] == 2  # 1 and 0.95·e^{0.08i}; not 0.5i, not angle 0.2
    assert stats["max_modulus"] == pytest.approx(1.0) and stats["median_modulus"] == pytest.approx(0.95)
    assert stats["nearest_median"] == pytest.approx(abs(np.exp(0.05j) - 1.0))
    initial = np.array([0.5 + 0j, 0.4j])
    moved = ls.movement(initial * 1.2 * np.exp(0.1j), initial)
    assert moved["median_abs_angle_change"] == pytest.approx(0.1)
    assert moved["median_modulus_change"] == pytest.approx(0.2 * 0.45)
    assert moved["max_abs_change"] == pytest.approx(abs(0.5 * 1.2 * np.exp(0.1j) - 0.5))


@pytest.mark.slow
def test_a_tiny_run_trains_saves_and_reads_back_the_same_spectrum(ls, tmp_path):
    ckpt = tmp_path / "model.pt"
    out1, out2 = tmp_path / "trained", tmp_path / "loaded"
    assert ls.main(["--steps", "3", "--num", "64", "--save", str(ckpt), "--out", str(out1)]) == 0
    assert ls.main(["--run", str(ckpt), "--num", "64", "--out", str(out2)]) == 0
    first, second = (json.loads((o / "learned_spectrum.json").read_text()) for o in (out1, out2))
    assert first["rows"] == second["rows"] and second["meta"]["source"].startswith("loaded")
    by = {(r["chain"], r["when"]): r for r in first["rows"]}
    from kernelops.flows.config import FieldConfig

    rank = FieldConfig(potential="chain").chain_rank
    for chain in ("s", "o"):
        assert by[(chain, "trained")]["max_modulus"] < 1.0 and by[(chain, "trained")]["count"] == rank
        # three steps move the eigenvalues, but only a little: the initial model is the trained one's start
        assert 0 < by[(chain, "moved")]["max_abs_change"] < 0.01
    text = (out1 / "learned_spectrum.md").read_text()
    assert "| current law (s) | trained |" in text and "![learned eigenvalues" in text
    assert text.count("the spectrum is still its initialisation") == 2  # three steps cannot move it
    assert (out1 / "learned_spectrum.png").stat().st_size > 10_000
    with pytest.raises(SystemExit):
        ls.main(["--steps", "0", "--out", str(tmp_path)])
