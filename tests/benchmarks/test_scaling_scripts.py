"""benchmarks/ddp_throughput.py and long_sequences.py: the arithmetic behind their tables."""

from __future__ import annotations

import pytest


def test_throughput_is_taken_after_the_warmup(load_script):
    ddp = load_script("ddp_throughput")
    # 2 warm-up steps of 10 s each, then one step per 0.5 s
    stamps = [10.0, 20.0, 20.5, 21.0, 21.5]
    assert ddp.summarise(stamps, warmup=2, batch=64) == {"steps_per_s": 2.0, "windows_per_s": 128.0, "timed_steps": 2}
    with pytest.raises(ValueError, match="--steps"):
        ddp.summarise(stamps[:3], warmup=2, batch=64)


def test_log_log_slopes(load_script):
    rows = [{"N": 16, "t": 1.0}, {"N": 64, "t": 4.0}, {"N": 256, "t": 64.0}]
    assert load_script("long_sequences").slopes(rows, "t") == [None, pytest.approx(1.0), pytest.approx(2.0)]
