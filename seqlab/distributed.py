"""Multi-process training with torchrun and DistributedDataParallel.

    torchrun --nproc_per_node 2 -m seqlab.cli charlm train ...          # one machine
    torchrun --nnodes 2 --node_rank R --master_addr HOST --nproc_per_node 8 -m seqlab.cli ...

Each process trains on its own block of the global batch; DDP averages gradients, so the update
equals a single process's on the whole batch. Rank 0 alone logs, shows progress and writes
checkpoints. gloo on CPU, nccl on GPU. Without torchrun, everything here is a no-op.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from seqlab.errors import UserError
from seqlab.training import resolve_device


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def setup(device: str = "auto") -> tuple[DistInfo, torch.device]:
    """Join the process group when launched by torchrun; pick this process's device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo(), resolve_device(device)
    info = DistInfo(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))
    dev = resolve_device(device)
    if dev.type == "cuda":
        dev = torch.device("cuda", info.local_rank)
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    return info, dev


def wrap(model: nn.Module, info: DistInfo, device: torch.device) -> nn.Module:
    """DDP-wrap ``model`` when distributed; the unwrapped model is what gets saved."""
    if not info.enabled:
        return model
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def check_divisible(batch_size: int, info: DistInfo) -> None:
    if batch_size % info.world_size:
        raise UserError(
            f"--batch-size {batch_size} must be divisible by the number of processes "
            f"({info.world_size})"
        )


def mean(value: float, info: DistInfo) -> float:
    """Average a Python number over all processes (for logging global losses)."""
    if not info.enabled:
        return value
    t = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(t)
    return float(t) / info.world_size


def gather_batch(x: torch.Tensor, info: DistInfo, dim: int) -> torch.Tensor:
    """Concatenate every process's block of a batch along ``dim`` (rank order)."""
    if not info.enabled:
        return x
    parts = [torch.empty_like(x) for _ in range(info.world_size)]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts, dim)


def shard_batch(x: torch.Tensor, info: DistInfo, dim: int) -> torch.Tensor:
    """This process's block of a global batch along ``dim``."""
    if not info.enabled:
        return x
    n = x.size(dim) // info.world_size
    return x.narrow(dim, info.rank * n, n)


def cleanup(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()
