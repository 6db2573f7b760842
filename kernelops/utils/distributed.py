"""The process group of a data-parallel run, on PyTorch's own ``torch.distributed``.

``torchrun`` (or any launcher that sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``
and ``MASTER_PORT``) starts one process per worker; :func:`session_from_env` joins them into a
process group — gloo on the CPU, nccl on CUDA, where each process takes the GPU of its local
rank — and leaves it on exit. Without those variables it does nothing and every helper here
answers as for a single process, so the same code runs alone or in a group.

The helpers are collectives when a group is active: every rank must call them, in the same
order (:func:`barrier`, :func:`broadcast_object`, :func:`all_gather_object`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch

#: the variables a launcher sets for every worker
LAUNCH_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def is_active() -> bool:
    """True when a torch.distributed process group is initialised in this process."""
    return torch.distributed.is_available() and torch.distributed.is_initialized()


def rank() -> int:
    """This process's rank (0 without a process group)."""
    return torch.distributed.get_rank() if is_active() else 0


def world_size() -> int:
    """Processes in the group (1 without a process group)."""
    return torch.distributed.get_world_size() if is_active() else 1


def is_main() -> bool:
    """True on rank 0, the one process that writes files."""
    return rank() == 0


def is_parallel() -> bool:
    """True when more than one process trains together."""
    return world_size() > 1


def barrier() -> None:
    """Wait for every rank (no-op alone)."""
    if is_parallel():
        torch.distributed.barrier()


def broadcast_object(value: Any) -> Any:
    """Rank 0's ``value`` on every rank (picklable objects; no-op alone)."""
    if not is_parallel():
        return value
    box = [value]
    torch.distributed.broadcast_object_list(box, src=0)
    return box[0]


def all_gather_object(value: Any) -> list[Any]:
    """Every rank's ``value``, indexed by rank (``[value]`` alone)."""
    if not is_parallel():
        return [value]
    out: list[Any] = [None] * world_size()
    torch.distributed.all_gather_object(out, value)
    return out


#: words of the errors gloo and nccl raise when a peer process died or its connection broke
_PEER_WORDS = ("connection closed", "connection reset", "connection refused", "broken pipe", "peer",
               "timed out", "timeout", "gloo", "nccl", "socket", "rendezvous", "store")


def peer_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is how a collective fails when another rank died or its connection broke."""
    if type(exc).__name__ in ("DistBackendError", "DistNetworkError", "DistStoreError"):
        return True
    return isinstance(exc, RuntimeError) and any(word in str(exc).lower() for word in _PEER_WORDS)


@dataclass(frozen=True)
class Launch:
    """What the launcher asked for: this worker's rank, the world size, its local rank."""

    rank: int
    world_size: int
    local_rank: int


def launch_from_env(environ: dict[str, str] | None = None) -> Launch | None:
    """The launch described by ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``, or None when not launched.

    Raises:
        ValueError: some but not all of the variables are set, or they are not integers.
    """
    env = os.environ if environ is None else environ
    present = [name for name in ("RANK", "WORLD_SIZE") if name in env]
    if not present:
        return None
    if len(present) < 2:
        missing = "WORLD_SIZE" if present[0] == "RANK" else "RANK"
        raise ValueError(f"distributed launch: {present[0]} is set but not {missing}; "
                         "start the workers with torchrun (or set RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT)")
    try:
        launch = Launch(int(env["RANK"]), int(env["WORLD_SIZE"]), int(env.get("LOCAL_RANK", env["RANK"])))
    except ValueError as exc:
        raise ValueError(f"distributed launch: RANK, WORLD_SIZE and LOCAL_RANK must be integers ({exc})") from None
    if launch.world_size < 1 or not 0 <= launch.rank < launch.world_size:
        raise ValueError(f"distributed launch: expected 0 ≤ RANK < WORLD_SIZE, got RANK={launch.rank}, "
                         f"WORLD_SIZE={launch.world_size}")
    return launch


def backend_for(device: torch.device) -> str:
    """nccl for CUDA devices, gloo otherwise."""
    return "nccl" if device.type == "cuda" else "gloo"


def local_device(device: torch.device, launch: Launch | None) -> torch.device:
    """The device this worker uses: ``cuda:LOCAL_RANK`` when training on CUDA in a group."""
    if device.type == "cuda" and launch is not None and device.index is None:
        return torch.device("cuda", launch.local_rank)
    return device


@contextlib.contextmanager
def session_from_env(device: torch.device) -> Iterator[torch.device]:
    """Join the process group a launcher describes (if any) and leave it on exit.

    Yields the device this worker should use (``cuda:LOCAL_RANK`` on CUDA, else ``device``).
    A group that is already initialised (the caller made it) is used as it is and left open.

    Raises:
        ValueError: an inconsistent launch environment, or a backend this torch lacks.
    """
    launch = launch_from_env()
    if launch is None or is_active():
        yield local_device(device, launch) if is_active() else device
        return
    dev = local_device(device, launch)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)  # nccl collectives and all_gather_object use the current device
    backend = backend_for(dev)
    available = {"gloo": torch.distributed.is_gloo_available, "nccl": torch.distributed.is_nccl_available}[backend]
    if not (torch.distributed.is_available() and available()):
        raise ValueError(f"distributed launch: this torch build has no {backend} backend (needed for {dev.type})")
    torch.distributed.init_process_group(backend=backend, rank=launch.rank, world_size=launch.world_size,
                                         device_id=dev if dev.type == "cuda" else None)
    try:
        yield dev
    finally:
        torch.distributed.destroy_process_group()


__all__ = ["LAUNCH_VARIABLES", "Launch", "all_gather_object", "backend_for", "barrier", "broadcast_object", "peer_failure",
           "is_active", "is_main", "is_parallel", "launch_from_env", "local_device", "rank", "session_from_env",
           "world_size"]
