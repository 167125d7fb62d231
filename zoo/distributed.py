"""Data-parallel training plumbing: the process group ``torchrun`` or ``zoo train --nproc`` describes, a free port
for spawned workers, and each rank's share of a global batch. ``zoo/train.py`` spawns and runs the workers."""

from __future__ import annotations

import os

import torch

__all__ = ["free_port", "join_process_group", "rank_share"]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (for the workers' rendezvous)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def join_process_group(device: str) -> tuple[int, int, int]:
    """Join the process group ``torchrun`` or ``--nproc`` described in the environment:
    ``(rank, local_rank, world_size)``; ``(0, 0, 1)`` for a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 0, 1
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not torch.distributed.is_initialized():
        backend = "nccl" if device.startswith("cuda") else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(local_rank)
        torch.distributed.init_process_group(backend, rank=rank, world_size=world)
    return rank, local_rank, world


def rank_share(order: torch.Tensor, batch_size: int, rank: int, world: int) -> torch.Tensor:
    """This rank's items: the ``rank``-th contiguous slice of every global batch of ``order``."""
    if world == 1:
        return order
    shares = [batch[rank * len(batch) // world : (rank + 1) * len(batch) // world] for batch in order.split(batch_size)]
    return torch.cat(shares)
