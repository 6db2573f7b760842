"""benchmarks/sample_diagnostics.py: the table it writes (the statistics: tests/metrics/test_metrics_diagnostics.py)."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def diag(load_script):
    return load_script("sample_diagnostics")


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
