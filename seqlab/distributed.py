"""Multi-process training with torchrun and DistributedDataParallel.

    torchrun --nproc_per_node 2 -m seqlab.cli charlm train ...          # one machine
    torchrun --nnodes 2 --node_rank R --master_addr HOST --nproc_per_node 8 -m seqlab.cli ...

Each process trains on its own block of the global batch; DDP averages gradients, so the update
equals a single process's on the whole batch. Rank 0 alone logs, shows progress and writes
checkpoints. gloo on CPU, nccl on GPU. Without torchrun, everything here is a no-op.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from seqlab.errors import UserError
from seqlab.rnn import RNNBase
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

    @classmethod
    def from_env(cls) -> DistInfo:
        """This process's place from torchrun's RANK/WORLD_SIZE/LOCAL_RANK (none: one process)."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        return cls(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))


def setup(device: str = "auto") -> tuple[DistInfo, torch.device]:
    """Join the process group when launched by torchrun; pick this process's device."""
    info = DistInfo.from_env()
    if not info.enabled:
        return info, resolve_device(device)
    dev = resolve_device(device)
    if dev.type == "cuda":
        dev = torch.device("cuda", info.local_rank)
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        # nccl for CUDA tensors, gloo for the CPU ones (``mean`` all-reduces a CPU number)
        dist.init_process_group("cpu:gloo,cuda:nccl" if dev.type == "cuda" else "gloo")
    return info, dev


def print_main(text: str) -> None:
    """Print on rank 0 only: under torchrun every process runs the command to its end."""
    if DistInfo.from_env().is_main:
        print(text)


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


def training_module(
    model: nn.Module, info: DistInfo, device: torch.device, compile: bool = False
) -> nn.Module:
    """The module a training step calls: DDP-wrapped when distributed, torch.compile'd when asked
    (a scratch-backend RNN compiles its step function instead; the loop over time stays Python).
    ``model`` itself stays unwrapped and uncompiled: it is what gets evaluated and saved."""
    fwd = wrap(model, info, device)
    if not compile:
        return fwd
    scratch = [m for m in model.modules() if isinstance(m, RNNBase) and m.backend == "scratch"]
    for rnn in scratch:
        rnn.compile_step()
    return fwd if scratch else torch.compile(fwd)


def shard_indices(idx: list[int], info: DistInfo) -> tuple[list[int], int]:
    """This process's block of a global batch of example indices, and how many of them count.

    Blocks are ceil(N / world) long, so the last may be short. A process left with nothing takes
    the batch's first example with count 0: it must still run forward and backward, since DDP
    all-reduces the gradients of every step, but its loss is weighted 0 (see ``share``).
    """
    if not info.enabled:
        return idx, len(idx)
    n = math.ceil(len(idx) / info.world_size)
    block = idx[info.rank * n : (info.rank + 1) * n]
    return (block, len(block)) if block else (idx[:1], 0)


def share(local: float, total: float, info: DistInfo) -> float:
    """The factor that turns a mean over this process's ``local`` items (examples or tokens) into
    its part of the mean over the global batch's ``total``: DDP averages the gradients over the
    processes, so sum_r mean_r * local_r * world / total / world = the global mean. 1 alone."""
    return local * info.world_size / total if info.enabled else 1.0


def from_main(value, info: DistInfo):
    """Rank 0's ``value`` (any picklable object) in every process; the others wait for it. All
    processes then agree on validation results, early stopping and time budgets."""
    if not info.enabled:
        return value
    box = [value if info.is_main else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def cleanup(info: DistInfo) -> None:
    """Leave the process group together: the barrier keeps a rank from tearing down its gloo
    connections while another still uses them (a rank once aborted at exit in a 2-process test)."""
    if info.enabled and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
