"""Arrays in memory as a generated PyTorch module's fit, evaluate and predict take them.

They accept tensors, NumPy arrays or lists, and cast them to what the network and the loss
take (the module's INPUT_DTYPE(S) and TARGET_DTYPE(S)): float32 inputs, int64 token ids for an
input only Embeddings read, int64 class indices for a sparse loss, float32 other targets;
each on the model's device. A tensor of that dtype on that device is used as it is.
"""

import numpy as np
import torch


def as_tensor(data: object, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """A tensor of `dtype` on `device` from a tensor, a NumPy array or (nested) lists."""
    if not isinstance(data, torch.Tensor):
        data = torch.from_numpy(np.ascontiguousarray(data))
    return data.to(device=device, dtype=dtype)


def is_array(data: object) -> bool:
    """Whether `data` is an array in memory (a tensor, a NumPy array, a list), not a batch
    source."""
    return isinstance(data, (torch.Tensor, list)) or hasattr(data, "__array__")


def memory_tensors(
    x: object,
    y: object,
    device: torch.device,
    input_dtype: torch.dtype,
    target_dtype: torch.dtype,
) -> tuple[object, object]:
    """x and y as tensors of the dtypes the network and the loss take, on `device`; a batch
    source x (y None) as it is."""
    if not is_array(x):
        return x, y
    x = as_tensor(x, device, input_dtype)
    return x, None if y is None else as_tensor(y, device, target_dtype)
