"""kernelops.utils.distributed: the launch environment, and single-process answers without a group."""

from __future__ import annotations

import pytest
import torch

from kernelops.utils import distributed as dist


def test_launch_from_env_reads_torchrun_variables():
    assert dist.launch_from_env({}) is None
    assert dist.launch_from_env({"RANK": "1", "WORLD_SIZE": "4", "LOCAL_RANK": "0"}) == dist.Launch(1, 4, 0)
    assert dist.launch_from_env({"RANK": "2", "WORLD_SIZE": "3"}).local_rank == 2  # LOCAL_RANK defaults to RANK


@pytest.mark.parametrize(("env", "words"), [
    ({"RANK": "0"}, "RANK is set but not WORLD_SIZE"),
    ({"WORLD_SIZE": "2"}, "WORLD_SIZE is set but not RANK"),
    ({"RANK": "x", "WORLD_SIZE": "2"}, "must be integers"),
    ({"RANK": "2", "WORLD_SIZE": "2"}, "0 ≤ RANK < WORLD_SIZE, got RANK=2, WORLD_SIZE=2"),
])
def test_an_inconsistent_launch_is_named(env, words):
    with pytest.raises(ValueError, match=words):
        dist.launch_from_env(env)


def test_without_a_group_everything_answers_for_one_process(monkeypatch):
    for name in dist.LAUNCH_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert not dist.is_active() and dist.rank() == 0 and dist.world_size() == 1 and dist.is_main()
    assert dist.broadcast_object({"a": 1}) == {"a": 1} and dist.all_gather_object(3) == [3]
    dist.barrier()
    with dist.session_from_env(torch.device("cpu")) as device:
        assert device == torch.device("cpu") and not dist.is_active()
    assert dist.backend_for(torch.device("cpu")) == "gloo" and dist.backend_for(torch.device("cuda", 0)) == "nccl"
    launch = dist.Launch(1, 2, 1)
    assert dist.local_device(torch.device("cuda"), launch) == torch.device("cuda", 1)
    assert dist.local_device(torch.device("cpu"), launch) == torch.device("cpu")
