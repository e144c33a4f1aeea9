"""The batches of torch_data.py for a model with several inputs or outputs: copied into it.

x holds a tensor per input and y one per output, in the spec's order; one index selects the
same samples of every tensor. A batch source returns `(x, y)` as tuples of NumPy arrays.
"""

from collections.abc import Iterator

import torch

from netspec.codegen.snippets.torch_data import make_loader
from netspec.codegen.snippets.torch_distributed import shard


def memory_batches(
    x: tuple[torch.Tensor, ...], y: tuple[torch.Tensor, ...], order: torch.Tensor, batch_size: int
) -> Iterator[tuple[list[torch.Tensor], list[torch.Tensor]]]:
    """Batches of tensors already on the device, sliced by index in `order`."""
    order = order.to(x[0].device)
    for start in range(0, len(order), batch_size):
        index = shard(order[start : start + batch_size])
        yield [t[index] for t in x], [t[index] for t in y]


def source_batches(
    source: object, order: torch.Tensor, batch_size: int, device: torch.device
) -> Iterator[tuple[list[torch.Tensor], list[torch.Tensor] | None]]:
    """Batches read from a batch source in the training process, in `order`: with no worker
    processes, a DataLoader's per-batch machinery would cost as much as the reads."""
    order = order.numpy()
    for start in range(0, len(order), batch_size):
        x_batch, y_batch = source[shard(order[start : start + batch_size])]
        x_batch = [torch.from_numpy(a).to(device) for a in x_batch]
        if y_batch is not None:
            y_batch = [torch.from_numpy(a).to(device) for a in y_batch]
        yield x_batch, y_batch


def loader_batches(
    loader: torch.utils.data.DataLoader, device: torch.device
) -> Iterator[tuple[list[torch.Tensor], list[torch.Tensor] | None]]:
    """The loader's batches on `device`; from pinned memory the copies overlap computation."""
    for x_batch, y_batch in loader:
        x_batch = [t.to(device, non_blocking=True) for t in x_batch]
        if y_batch is not None:
            y_batch = [t.to(device, non_blocking=True) for t in y_batch]
        yield x_batch, y_batch


def inference_batches(
    x: object,
    y: tuple[torch.Tensor, ...] | None,
    batch_size: int,
    device: torch.device,
    workers: int = 0,
) -> Iterator[tuple[list[torch.Tensor], list[torch.Tensor] | None]]:
    """Batches in the samples' order (this worker's shard of each): slices of tuples of
    tensors x (and y), or read from a batch source x through a DataLoader (y None)."""
    if isinstance(x, tuple):
        for start in range(0, len(x[0]), batch_size):
            stop = start + batch_size
            x_batch = [shard(t[start:stop]) for t in x]
            yield x_batch, ([shard(t[start:stop]) for t in y] if y is not None else None)
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
