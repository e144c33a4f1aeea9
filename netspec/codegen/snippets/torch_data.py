"""How a generated PyTorch module gets its batches, in memory or streamed: copied into it.

Both pipelines visit the samples of epoch e in `epoch_order(samples, seed, e)`, drawn on the
CPU from (seed, e) alone by NumPy's PCG64 (order.py, shared with the Keras module), so a run
gives the same batches whichever pipeline, device or backend runs it, and a run resumed at
epoch e repeats the uninterrupted one.

Under torchrun each worker takes its `shard` of every global batch (torch_distributed.py),
so N workers together read exactly the batches one process would.

A *batch source* is what the streaming pipeline reads: any object with `len(source)` samples
where `source[indices]` returns the batch `(x, y)` of those samples as NumPy arrays, already
preprocessed (netspec's data splits are such objects; so is a user's own class).
"""

from collections.abc import Iterator

import torch

from netspec.codegen.snippets.order import sample_order
from netspec.codegen.snippets.torch_distributed import shard


def epoch_order(samples: int, seed: int, epoch: int, shuffle: bool = True) -> torch.Tensor:
    """The order epoch `epoch` visits the samples in: `sample_order`'s permutation drawn from
    (seed, epoch), the one the Keras module draws too."""
    return torch.from_numpy(sample_order(samples, seed, epoch, shuffle))


class EpochSampler(torch.utils.data.Sampler):
    """Batches of sample indices in `epoch_order`, this worker's shard of each: a DataLoader
    reads one epoch per pass.

    Call `set_epoch(e)` before the pass of epoch e, as with DistributedSampler.
    """

    def __init__(self, samples: int, batch_size: int, seed: int, shuffle: bool = True) -> None:
        self.samples, self.batch_size, self.seed, self.shuffle = samples, batch_size, seed, shuffle
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return (self.samples + self.batch_size - 1) // self.batch_size

    def __iter__(self) -> Iterator:
        order = epoch_order(self.samples, self.seed, self.epoch, self.shuffle).numpy()
        for start in range(0, self.samples, self.batch_size):
            yield shard(order[start : start + self.batch_size])


def make_loader(
    source: object,
    *,
    batch_size: int,
    seed: int,
    shuffle: bool = True,
    workers: int = 0,
    pin_memory: bool = False,
) -> torch.utils.data.DataLoader:
    """A DataLoader over a batch source: each index of its sampler is a whole batch, read by
    `workers` processes (0: in this one) and converted to tensors, in pinned memory for a GPU.

    It draws its workers' seeds from a generator of its own, so reading batches leaves the
    global random state (dropout, augmentation) as the in-memory pipeline leaves it.
    """
    return torch.utils.data.DataLoader(
        source,
        batch_size=None,
        sampler=EpochSampler(len(source), batch_size, seed, shuffle),
        num_workers=workers,
        pin_memory=pin_memory,
        persistent_workers=workers > 0,
        prefetch_factor=4 if workers > 0 else None,
        generator=torch.Generator().manual_seed(seed),
    )


def memory_batches(
    x: torch.Tensor, y: torch.Tensor, order: torch.Tensor, batch_size: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Batches of tensors already on the device, sliced by index in `order`."""
    order = order.to(x.device)
    for start in range(0, len(order), batch_size):
        index = shard(order[start : start + batch_size])
        yield x[index], y[index]


def source_batches(
    source: object, order: torch.Tensor, batch_size: int, device: torch.device
) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """Batches read from a batch source in the training process, in `order`: with no worker
    processes, a DataLoader's per-batch machinery would cost as much as the reads."""
    order = order.numpy()
    for start in range(0, len(order), batch_size):
        x_batch, y_batch = source[shard(order[start : start + batch_size])]
        x_batch = torch.from_numpy(x_batch).to(device)
        if y_batch is not None:
            y_batch = torch.from_numpy(y_batch).to(device)
        yield x_batch, y_batch


def loader_batches(
    loader: torch.utils.data.DataLoader, device: torch.device
) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """The loader's batches on `device`; from pinned memory the copies overlap computation."""
    for x_batch, y_batch in loader:
        x_batch = x_batch.to(device, non_blocking=True)
        if y_batch is not None:
            y_batch = y_batch.to(device, non_blocking=True)
        yield x_batch, y_batch


def inference_batches(
    x: object, y: torch.Tensor | None, batch_size: int, device: torch.device, workers: int = 0
) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """Batches in the samples' order (this worker's shard of each): slices of tensors x (and
    y), or read from a batch source x through a DataLoader (y None)."""
    if isinstance(x, torch.Tensor):
        for start in range(0, len(x), batch_size):
            stop = start + batch_size
            yield shard(x[start:stop]), (shard(y[start:stop]) if y is not None else None)
        return
    if workers == 0:
        yield from source_batches(x, torch.arange(len(x)), batch_size, device)
        return
    loader = make_loader(
        x,
        batch_size=batch_size,
        seed=0,
        shuffle=False,
        workers=workers,
        pin_memory=device.type == "cuda",
    )
    yield from loader_batches(loader, device)
