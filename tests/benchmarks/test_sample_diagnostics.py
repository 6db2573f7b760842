"""benchmarks/sample_diagnostics.py: the two statistics on windows with known answers."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def diag(load_script):
    return load_script("sample_diagnostics")


def test_out_of_range_counts_windows_not_values(diag):
    w = np.full((4, 24, 3), 0.5)
    w[0, 3, 1] = 1.06   # just above 1.05
    w[1, :, :] = -0.2   # every value below
    w[2, 0, 0] = 1.05   # on the boundary: inside
    assert diag.out_of_range_fraction(w) == pytest.approx(0.5)


def test_roughness_is_zero_on_lines_and_exact_on_a_zigzag(diag):
    t = np.linspace(0.0, 1.0, 24)
    lines = np.stack([np.stack([a * t + b for a, b in ((0.3, 0.1), (-0.2, 0.9))], axis=-1)] * 5)
    assert diag.roughness(lines) == pytest.approx(0.0, abs=1e-12)
    zigzag = np.tile(0.5 + 0.01 * (-1.0) ** np.arange(24), (2, 1))[..., None]  # (2, 24, 1)
    assert diag.roughness(zigzag) == pytest.approx(0.04)  # |Δ²| of ±a alternation is 4a


def test_main_names_the_samples_folder_it_read_and_scores_a_copy_of_the_data_as_in_range(diag, tmp_path,
                                                                                            real_datasets):
    import kernelops as ko

    samples = tmp_path / "samples"
    samples.mkdir()
    real = ko.dataset("stocks").windows
    np.save(samples / "stocks.npy", real[:50])
    assert diag.main(["--samples", str(samples), "--out", str(tmp_path)]) == 0
    text = (tmp_path / "sample_diagnostics.md").read_text()
    assert f"from `{samples.resolve()}/`" in text
    assert "| stocks | 50 | [0.00, 1.00] | 0.000 | 0.000 |" in text
