"""The seeded ODE draw: source noise per window index."""

from __future__ import annotations

import pytest
import torch

import kernelops as ko
from kernelops.flows.config import NOISE_CHUNK
from kernelops.flows.sample.ode import source_noise


def test_noise_depends_on_the_window_index_alone():

    path = ko.path("ot")
    n = 2 * NOISE_CHUNK + 5
    whole = source_noise(path, 4, 0, n, (3, 2))
    pieces = torch.cat([source_noise(path, 4, a, b, (3, 2)) for a, b in ((0, 1), (1, 70), (70, 70), (70, n))])
    assert torch.equal(whole, pieces)
    assert not torch.equal(source_noise(path, 5, 0, n, (3, 2)), whole)  # the seed matters
    # chunks are independent draws: no two chunks repeat each other
    assert not torch.equal(whole[:5], whole[NOISE_CHUNK:NOISE_CHUNK + 5])
    with pytest.raises(ValueError, match="start <= stop"):
        source_noise(path, 4, 5, 2, (3, 2))
