"""benchmarks/checkerboard.py (the paper's Fig. 3): the target, the scores, the MMD flow loop, and a tiny run."""

from __future__ import annotations

import json

import pytest
import torch


@pytest.fixture(scope="module")
def cb(load_script):
    return load_script("checkerboard")


def test_the_checkerboard_lies_on_its_eight_dark_squares_in_equal_shares(cb):
    x = cb.checkerboard(8000, torch.Generator().manual_seed(0))
    assert x.shape == (8000, 2) and x.abs().max() < 2
    assert cb.on_dark_squares(x) == 1.0
    cells = torch.floor(x).long()
    assert bool(((cells[:, 0] + cells[:, 1]) % 2 == 0).all())
    counts = torch.unique(cells, dim=0, return_counts=True)[1]
    assert len(counts) == 8 and counts.min() > 0.85 * 1000 and counts.max() < 1.15 * 1000
    # the light squares and the outside are off the board
    assert cb.on_dark_squares(torch.tensor([[0.5, -0.5], [2.5, 0.5], [-1.5, -1.5], [0.2, 0.3]])) == 0.5
    with pytest.raises(ValueError, match="n: expected a positive integer"):
        cb.checkerboard(0, torch.Generator())


def test_the_mmd_of_the_target_to_itself_is_zero_and_a_fresh_sample_is_far_closer_than_the_source(cb):
    gen = torch.Generator().manual_seed(1)
    x, y = cb.checkerboard(1500, gen), cb.checkerboard(1500, gen)
    assert cb.mmd_to(x, x) == pytest.approx(0.0, abs=1e-6)
    source = torch.randn(1500, 2, generator=gen, dtype=torch.float64)
    assert cb.mmd_to(x, y) < 0.5 * cb.mmd_to(source, y)


def test_the_mmd_flow_loop_is_the_library_flow_step_for_step(cb):
    from kernelops.flows import MMDFlow

    gen = torch.Generator().manual_seed(2)
    target, x0 = cb.checkerboard(300, gen), torch.randn(100, 2, generator=gen, dtype=torch.float64)
    states, dt = cb.mmd_flow_trajectory(x0, target, 6, [0, 2, 6], 0.0, seed=0)
    reference = MMDFlow("rbf", bandwidth=1.0, step_size=1.0).fit(target).transport(x0, 6, return_trajectory=True)
    assert dt == 1.0 and sorted(states) == [0, 2, 6]
    for k in (0, 2, 6):
        torch.testing.assert_close(states[k], reference.trajectory[k])


def test_log_steps_start_at_zero_end_at_the_total_and_grow(cb):
    steps = cb.log_steps(1000)
    assert steps[:3] == [0, 1, 2] and steps[-1] == 1000 and steps == sorted(set(steps))
    assert cb.log_steps(1) == [0, 1]


@pytest.mark.slow
def test_a_tiny_run_writes_the_page_and_both_flows_end_closer_to_the_target_than_the_source(cb, tmp_path):
    args = ["--steps", "40", "--batch-size", "64", "--data", "300", "--eval", "400", "--particles", "150",
            "--solver-steps", "4", "--mmd-flow-steps", "12", "--out", str(tmp_path)]
    assert cb.main(args) == 0
    result = json.loads((tmp_path / "checkerboard.json").read_text())
    ours, classical = result["rows"]
    source = result["meta"]["source_mmd"]
    assert ours["flow"].startswith("spectral mean flow") and classical["flow"].startswith("MMD flow")
    assert ours["curve"]["times"] == pytest.approx([0, 0.25, 0.5, 0.75, 1.0])
    assert ours["curve"]["mmd"][0] == pytest.approx(source) == classical["curve"]["mmd"][0]  # the same source draws
    assert ours["mmd"] < source and classical["mmd"] < source
    assert result["meta"]["floor"] < source
    text = (tmp_path / "checkerboard.md").read_text()
    assert f"| spectral mean flow (ours), N = 1 | 1 | 8 | {ours['mmd_at_t1']:.4f} |" in text
    assert (tmp_path / "checkerboard.png").stat().st_size > 10_000
    with pytest.raises(SystemExit):
        cb.main(["--particles", "0", "--out", str(tmp_path)])
