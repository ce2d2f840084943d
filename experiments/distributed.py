"""The process group of a run started by `torchrun`, and the few collectives training needs.

`torchrun --nproc_per_node N -m experiments.train_planner ...` sets RANK, WORLD_SIZE,
MASTER_ADDR and MASTER_PORT in every process; `World.from_env` joins the group then. A plain
`python -m ...` run (no WORLD_SIZE, or WORLD_SIZE=1) is a world of one, and every collective
below is then the identity, so single-process code needs no branches.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1

    @property
    def is_main(self) -> bool:
        """Rank 0 alone logs, validates, checkpoints and exports."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @classmethod
    def from_env(cls, backend: str = "gloo") -> "World":
        """Join the process group when WORLD_SIZE > 1 (torchrun's variables), else a world of
        one. backend: gloo (CPU tensors, which planner training uses) or nccl (CUDA)."""
        size = int(os.environ.get("WORLD_SIZE", "1"))
        if size < 1:
            raise ValueError(f"WORLD_SIZE must be >= 1, got {size}")
        if size == 1:
            return cls()
        if backend not in ("gloo", "nccl"):
            raise ValueError(f"backend must be 'gloo' or 'nccl', got {backend!r}")
        if not dist.is_initialized():
            dist.init_process_group(backend=backend)
        if dist.get_world_size() != size:
            raise RuntimeError(f"the process group has {dist.get_world_size()} processes but "
                               f"WORLD_SIZE is {size}")
        return cls(rank=dist.get_rank(), size=size)

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def broadcast(self, obj):
        """Rank 0's `obj` on every rank (picklable objects)."""
        if not self.distributed:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, obj) -> list:
        """Every rank's `obj`, in rank order, on every rank."""
        if not self.distributed:
            return [obj]
        out = [None] * self.size
        dist.all_gather_object(out, obj)
        return out

    def sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """The elementwise sum of `tensor` over the ranks (a new tensor)."""
        tensor = tensor.clone()
        if self.distributed:
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def close(self) -> None:
        if self.distributed and dist.is_initialized():
            dist.destroy_process_group()
