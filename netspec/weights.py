"""Weights in netspec's framework-neutral form: export, import, and safetensors files.

The Keras and the PyTorch model generated from one spec compute the same function; this
module moves their weights between them. A model's weights are a dict
`{"<layer>.<name>": array}` with one entry per `WeightMap` the catalogue states for each
layer (`dense.kernel`, `conv2d.bias`, `lstm.recurrent_kernel`, `bn.moving_mean`, …), each
array in the neutral layout, which is Keras' (a Dense kernel is (in, out), a Conv2D kernel
(kh, kw, in, out), recurrent gates in Keras' order). The transforms only move values, so
torch → neutral → Keras → neutral → torch is bit-exact.

    weights = export_weights(model, torch_module)      # or a keras.Model
    save_weights("w.safetensors", weights, model)
    import_weights(model, keras_model, load_weights("w.safetensors", model))

Importing checks every name and shape first and changes nothing on a mismatch: it raises
`WeightsError` naming each offending tensor. Files are safetensors (no pickle), with the
model's name and the netspec version in their metadata. Frameworks are imported lazily.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from netspec import __version__, catalogue, ir
from netspec.catalogue.layer import WeightMap

FORMAT = "netspec-weights"
FORMAT_VERSION = "1"


class WeightsError(ValueError):
    """Weights that do not fit a model. `problems` holds (tensor name, what is wrong)."""

    def __init__(self, message: str, problems: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []

    @property
    def tensor(self) -> str | None:
        """The first offending tensor, if any."""
        return self.problems[0][0] if self.problems else None


# --------------------------------------------------------------------------- the model's tensors


def weight_maps(model: ir.Model) -> dict[str, tuple[ir.Layer, WeightMap]]:
    """Every weight tensor of a checked model, by its neutral name `<layer>.<name>`, in order."""
    result: dict[str, tuple[ir.Layer, WeightMap]] = {}
    for layer in model.layers:
        for weight in catalogue.layer(layer.kind).weights(layer.params, layer):
            result[f"{layer.name}.{weight.name}"] = (layer, weight)
    return result


def expected_shapes(model: ir.Model) -> dict[str, tuple[int, ...]]:
    """`{name: neutral shape}` of every weight tensor of the model."""
    return {name: tuple(w.shape) for name, (_, w) in weight_maps(model).items()}


def check_weights(
    model: ir.Model, weights: Mapping[str, Any], source: str = "the weights", partial: bool = False
) -> None:
    """Raises WeightsError unless `weights` has exactly the model's tensors, shapes and all.

    With `partial`, tensors may be missing (transfer learning: a pretrained base, a new head),
    but every tensor given must be one of the model's, of its shape, and at least one is given.
    """
    expected = expected_shapes(model)
    problems: list[tuple[str, str]] = []
    if partial and not any(name in expected for name in weights):
        known = ", ".join(list(expected)[:3])
        problems.append(
            ("", f"no tensor has the name of a weight of model '{model.name}' (such as {known})")
        )
    for name, shape in expected.items():
        if name not in weights:
            if not partial:
                problems.append((name, f"tensor '{name}' {shape} is missing"))
            continue
        array = np.asarray(weights[name])
        if tuple(array.shape) != shape:
            problems.append(
                (name, f"tensor '{name}' has shape {tuple(array.shape)}, the model needs {shape}")
            )
        elif not np.issubdtype(array.dtype, np.floating):
            problems.append(
                (name, f"tensor '{name}' holds {array.dtype}, not floating-point values")
            )
    for name in weights:
        if name not in expected:
            problems.append((name, f"tensor '{name}' is not a weight of model '{model.name}'"))
    if problems:
        lines = "\n".join(f"  - {text}" for _, text in problems)
        raise WeightsError(
            f"{source} do not fit model '{model.name}' ({len(problems)} problem"
            f"{'s' if len(problems) > 1 else ''}; first: tensor '{problems[0][0]}'):\n{lines}",
            problems,
        )


# --------------------------------------------------------------------------- Keras


def _keras_variables(keras_model: Any, layer: ir.Layer) -> dict[str, Any]:
    try:
        keras_layer = keras_model.get_layer(layer.name)
    except ValueError as error:
        raise WeightsError(
            f"the Keras model has no layer '{layer.name}': was it generated from this spec?"
        ) from error
    # By name (`kernel`), and by path within the layer for a wrapper whose inner layers reuse
    # names (Bidirectional: `forward_lstm/lstm_cell/kernel`, `backward_lstm/lstm_cell/kernel`).
    variables: dict[str, Any] = {}
    prefix = f"{layer.name}/"
    for variable in keras_layer.weights:
        variables.setdefault(variable.name, variable)
        path = str(getattr(variable, "path", ""))
        if path.startswith(prefix) and path[len(prefix):] != variable.name:
            variables[path[len(prefix):]] = variable
    return variables


def _keras_variable(variables: dict[str, Any], layer: ir.Layer, weight: WeightMap) -> Any:
    variable = variables.get(weight.keras)
    if variable is None:
        name = f"{layer.name}.{weight.name}"
        raise WeightsError(
            f"the Keras layer '{layer.name}' has no variable '{weight.keras}' for tensor "
            f"'{name}' (it has {sorted(variables)}): was it generated from this spec?",
            [(name, "no such Keras variable")],
        )
    return variable


def export_keras(model: ir.Model, keras_model: Any) -> dict[str, np.ndarray]:
    """The weights of a Keras model generated from `model`, neutral names and layout."""
    result: dict[str, np.ndarray] = {}
    variables: dict[str, dict[str, Any]] = {}
    for name, (layer, weight) in weight_maps(model).items():
        if layer.name not in variables:
            variables[layer.name] = _keras_variables(keras_model, layer)
        variable = _keras_variable(variables[layer.name], layer, weight)
        array = np.array(variable.numpy())  # a copy, never a view of the variable
        _check_exported(name, array, weight)
        result[name] = array
    return result


def import_keras(model: ir.Model, keras_model: Any, weights: Mapping[str, Any]) -> None:
    """Sets a Keras model's weights from a neutral dict; checks everything before changing anything."""
    check_weights(model, weights)
    assignments = []
    variables: dict[str, dict[str, Any]] = {}
    for name, (layer, weight) in weight_maps(model).items():
        if layer.name not in variables:
            variables[layer.name] = _keras_variables(keras_model, layer)
        variable = _keras_variable(variables[layer.name], layer, weight)
        if tuple(variable.shape) != tuple(weight.shape):
            raise WeightsError(
                f"the Keras variable of tensor '{name}' has shape {tuple(variable.shape)}, "
                f"the spec states {tuple(weight.shape)}: was the model generated from this spec?",
                [(name, "Keras variable of another shape")],
            )
        assignments.append((variable, np.asarray(weights[name], dtype=variable.dtype)))
    for variable, array in assignments:
        variable.assign(array)


# --------------------------------------------------------------------------- PyTorch


def _torch_tensors(module: Any) -> dict[str, Any]:
    tensors = dict(module.named_parameters())
    tensors.update(module.named_buffers())
    return tensors


def _torch_tensor(tensors: dict[str, Any], layer: ir.Layer, weight: WeightMap, path: str) -> Any:
    key = f"{layer.name}.{path}"
    if key not in tensors:
        name = f"{layer.name}.{weight.name}"
        raise WeightsError(
            f"the PyTorch module has no tensor '{key}' for '{name}': "
            "was it generated from this spec?",
            [(name, f"no PyTorch tensor {key}")],
        )
    return tensors[key]


def export_torch(model: ir.Model, module: Any) -> dict[str, np.ndarray]:
    """The weights of a PyTorch module generated from `model`, neutral names and layout."""
    tensors = _torch_tensors(module)
    result: dict[str, np.ndarray] = {}
    for name, (layer, weight) in weight_maps(model).items():
        arrays = [
            _torch_tensor(tensors, layer, weight, path).detach().cpu().numpy()
            for path in weight.torch
        ]
        array = np.ascontiguousarray(weight.transform.from_torch(*arrays)).copy()
        _check_exported(name, array, weight)
        result[name] = array
    return result


def import_torch(model: ir.Model, module: Any, weights: Mapping[str, Any]) -> None:
    """Sets a PyTorch module's weights from a neutral dict; checks everything before changing anything."""
    import torch

    check_weights(model, weights)
    tensors = _torch_tensors(module)
    copies = []
    for name, (layer, weight) in weight_maps(model).items():
        arrays = weight.transform.to_torch(np.asarray(weights[name]))
        for path, array in zip(weight.torch, arrays, strict=True):
            tensor = _torch_tensor(tensors, layer, weight, path)
            if tuple(tensor.shape) != tuple(array.shape):
                raise WeightsError(
                    f"the PyTorch tensor '{layer.name}.{path}' of '{name}' has shape "
                    f"{tuple(tensor.shape)}, the spec makes it {tuple(array.shape)}: "
                    "was the module generated from this spec?",
                    [(name, "PyTorch tensor of another shape")],
                )
            copies.append((tensor, torch.from_numpy(np.ascontiguousarray(array))))
    with torch.no_grad():
        for tensor, value in copies:
            tensor.copy_(value.to(dtype=tensor.dtype))


# --------------------------------------------------------------------------- either framework


def _is_torch(built: Any) -> bool:
    return any(
        cls.__module__.startswith("torch.") and cls.__name__ == "Module"
        for cls in type(built).__mro__
    )


def export_weights(model: ir.Model, built: Any) -> dict[str, np.ndarray]:
    """The weights of a generated Keras model or PyTorch module, neutral names and layout."""
    return export_torch(model, built) if _is_torch(built) else export_keras(model, built)


def import_weights(model: ir.Model, built: Any, weights: Mapping[str, Any]) -> None:
    """Sets the weights of a generated Keras model or PyTorch module from a neutral dict."""
    if _is_torch(built):
        import_torch(model, built, weights)
    else:
        import_keras(model, built, weights)


def _check_exported(name: str, array: np.ndarray, weight: WeightMap) -> None:
    if tuple(array.shape) != tuple(weight.shape):
        raise WeightsError(
            f"tensor '{name}' came out with shape {tuple(array.shape)}, the spec states "
            f"{tuple(weight.shape)}: was the model generated from this spec?",
            [(name, "exported shape differs")],
        )


# --------------------------------------------------------------------------- files


def save_weights(
    path: str | Path, weights: Mapping[str, np.ndarray], model: ir.Model, partial: bool = False
) -> None:
    """Writes neutral weights to a safetensors file, after checking that they fit `model`
    (with `partial`, some of its tensors: e.g. a pretrained base for `--init-partial`)."""
    from safetensors.numpy import save_file

    check_weights(model, weights, partial=partial)
    names = [name for name in expected_shapes(model) if name in weights]
    arrays = {name: np.ascontiguousarray(weights[name]) for name in names}
    metadata = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "layout": "keras",
        "model": model.name,
        "netspec_version": __version__,
    }
    save_file(arrays, str(path), metadata=metadata)


def read_metadata(path: str | Path) -> dict[str, str]:
    """The metadata of a safetensors file (empty when it has none)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as handle:
        return dict(handle.metadata() or {})


def load_weights(
    path: str | Path, model: ir.Model | None = None, partial: bool = False
) -> dict[str, np.ndarray]:
    """Reads neutral weights from a safetensors file; with `model`, checks that they fit it
    (all of its tensors, or with `partial` some of them)."""
    from safetensors.numpy import load_file

    metadata = read_metadata(path)
    weights = load_file(str(path))
    if model is not None:
        if metadata.get("format") != FORMAT:
            source = (
                f"the weights in '{path}' (not a netspec weights file: no '{FORMAT}' "
                "metadata; a PyTorch state dict or another tool's file?)"
            )
        else:
            source = f"the weights in '{path}' (model '{metadata.get('model', '?')}')"
        check_weights(model, weights, source=source, partial=partial)
    return weights
