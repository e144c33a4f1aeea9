"""memory_tensors of torch_arrays.py for a model with several inputs or outputs: copied into it.

x holds an array per input and y one per output: tuples (or lists) in the spec's order, or
dicts by input and output name; a model with one input also takes that input's array alone.
"""

import torch

from netspec.codegen.snippets.torch_arrays import as_tensor, is_array


def tensors(
    arrays: object, dtypes: dict[str, torch.dtype], device: torch.device, what: str
) -> tuple[torch.Tensor, ...]:
    """A tensor per name of `dtypes`, in its order, from a tuple, list or dict of arrays."""
    if isinstance(arrays, dict):
        missing = [name for name in dtypes if name not in arrays]
        if missing:
            raise ValueError(f"no array for the {what} {', '.join(missing)}")
        arrays = [arrays[name] for name in dtypes]
    elif not isinstance(arrays, (tuple, list)):  # one input's (or output's) array alone
        arrays = [arrays]
    if len(arrays) != len(dtypes):
        raise ValueError(
            f"{len(arrays)} arrays for the {len(dtypes)} {what}s ({', '.join(dtypes)})"
        )
    pairs = zip(arrays, dtypes.values(), strict=True)
    return tuple(as_tensor(array, device, dtype) for array, dtype in pairs)


def memory_tensors(
    x: object,
    y: object,
    device: torch.device,
    input_dtypes: dict[str, torch.dtype],
    target_dtypes: dict[str, torch.dtype],
) -> tuple[object, object]:
    """x and y as tuples of tensors of the dtypes the network and the losses take, on
    `device`; a batch source x (y None) as it is."""
    if not isinstance(x, (tuple, list, dict)) and not is_array(x):
        return x, y
    x = tensors(x, input_dtypes, device, "input")
    return x, None if y is None else tensors(y, target_dtypes, device, "output")
