"""Data parallelism under torchrun: process-group setup and the few collectives the trainer needs.

Under `torchrun --nproc_per_node=N textcnn train ...` every process runs the same `train()`; this
module reads WORLD_SIZE / RANK / LOCAL_RANK, joins the process group (gloo on CPU, nccl on CUDA) and
offers the collectives the loop uses: "did any rank ask to stop", summed statistics, one object
broadcast from rank 0, and a check that every rank ends with rank 0's weights. With one process
every function is a no-op (or the identity), so the trainer never branches on the world size.

Not here: which batches a rank takes (textcnn.data.batching), the DDP wrapper (trainer.py).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    device: torch.device | None = None
    """The device torchrun assigned this rank (None: choose as usual)."""

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup(device_name: str) -> World:
    """Join the torchrun process group when there is one (WORLD_SIZE > 1)."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    import torch.distributed as dist

    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = device_name in ("auto", "cuda") and torch.cuda.is_available()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    device = torch.device(f"cuda:{local}") if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(device)
    return World(rank, size, device)


def any_rank(world: World, flag: bool, device: torch.device) -> bool:
    """True on every rank when `flag` is true on any (a stop request reaches them all at the same step)."""
    if world.size == 1:
        return flag
    import torch.distributed as dist

    x = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(x, op=dist.ReduceOp.MAX)
    return bool(x.item())


def sum_over_ranks(world: World, values: list[float], device: torch.device) -> list[float]:
    """Element-wise sum of `values` over ranks (float64)."""
    if world.size == 1:
        return values
    import torch.distributed as dist

    x = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(x)
    return x.cpu().tolist()


def broadcast(world: World, obj: Any) -> Any:
    """Rank 0's `obj` on every rank (a picklable value)."""
    if world.size == 1:
        return obj
    import torch.distributed as dist

    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier(world: World) -> None:
    if world.size > 1:
        import torch.distributed as dist

        dist.barrier()


def teardown(world: World) -> None:
    if world.size > 1:
        import torch.distributed as dist

        dist.barrier()
        dist.destroy_process_group()


def weight_difference(world: World, model: nn.Module, device: torch.device) -> float | None:
    """Largest absolute difference between any rank's weights and rank 0's (0.0: in sync; None: one rank)."""
    if world.size == 1:
        return None
    import torch.distributed as dist

    flat = torch.cat([p.detach().reshape(-1).float() for p in model.parameters()]).to(device)
    ref = flat.clone()
    dist.broadcast(ref, src=0)
    diff = (flat - ref).abs().max().reshape(1)
    dist.all_reduce(diff, op=dist.ReduceOp.MAX)
    return float(diff)
