"""Data-parallel training in a generated PyTorch module, on torchrun: copied into it.

torchrun starts one process per device and tells each its place in the environment (RANK,
WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT), which torch.distributed reads. The module joins that process group,
wraps the model in DistributedDataParallel for training, gives each worker every N-th
sample of each global batch, and sums the figures over the workers, so N workers train on
exactly the batches one process would and report the figures it would. Without torchrun
every function here is the single-process identity.
"""

from datetime import timedelta

import torch
import torch.distributed as dist
from torch import nn


def setup_distributed(device: torch.device, timeout_s: float = 600.0) -> tuple[int, int]:
    """Join torchrun's process group (NCCL on GPUs, gloo on CPUs); returns (rank, workers).

    One process (not started by torchrun) is (0, 1). A collective that waits longer than
    `timeout_s` for a worker fails instead of hanging.
    """
    if dist.is_torchelastic_launched() and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend, timeout=timedelta(seconds=timeout_s))
    return world_position()


def worker_device(device: torch.device) -> torch.device:
    """The device of this worker: under torchrun, GPU number LOCAL_RANK of its machine."""
    if device.type == "cuda" and dist.is_torchelastic_launched():
        return torch.device("cuda", dist.get_node_local_rank(fallback_rank=0))
    return device


def world_position() -> tuple[int, int]:
    """(rank, workers) of this process: (0, 1) outside a process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def distribute(model: nn.Module, sync_batchnorm: bool = False) -> nn.Module:
    """The model as it trains: wrapped in DistributedDataParallel under torchrun (its
    gradients averaged over the workers after each backward pass), else itself.

    With `sync_batchnorm` (GPUs only) BatchNormalization normalizes with the statistics of
    the global batch rather than each worker's share.
    """
    _, workers = world_position()
    if workers == 1:
        return model
    if sync_batchnorm:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    device = next(model.parameters()).device
    device_ids = [device] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)


def shard(batch: torch.Tensor) -> torch.Tensor:
    """This worker's part of a global batch (of samples, or of their indices): every N-th
    one, from its rank."""
    rank, workers = world_position()
    return batch if workers == 1 else batch[rank::workers]


def loss_share(step: int, count: int, batch_size: int, samples: int) -> float:
    """The weight of this worker's mean loss at `step`, so that DDP's average of the workers'
    gradients is the gradient of the global batch's mean loss, also when the last batch
    splits unevenly: workers · count / (samples in the global batch)."""
    _, workers = world_position()
    if workers == 1:
        return 1.0
    in_batch = min(batch_size, samples - step * batch_size)
    return workers * count / in_batch


def all_reduced(sums: torch.Tensor) -> torch.Tensor:
    """Figures summed over the workers (the sums of all the samples); itself for one process."""
    _, workers = world_position()
    if workers == 1:
        return sums
    sums = sums.clone()
    dist.all_reduce(sums, op=dist.ReduceOp.SUM)
    return sums
