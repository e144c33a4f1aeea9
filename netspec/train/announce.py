"""What `netspec train` says before it imports a framework, so that the first answer comes
in well under a second and a mistake in the data in about one, not after the framework's
several seconds of loading.

First the model (right after the spec is checked), then, once the data is loaded and
checked against it, the data, the settings and the run folder. The device, the data
pipeline and the threads need the framework: progress.plan_lines says them afterwards.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from netspec import ir
from netspec.catalogue.shapes import fmt

if TYPE_CHECKING:
    from netspec.data import Prepared

FRAMEWORKS = {"torch": "PyTorch", "keras": "Keras on TensorFlow"}


def model_info(model: ir.Model) -> dict[str, Any]:
    return {
        "model": model.name,
        "parameters": model.trainable_params + model.non_trainable_params,
        "trainable_parameters": model.trainable_params,
        "inputs": {source.name: list(source.shape) for source in model.inputs},
        "outputs": {name: list(model.shape_of(name)) for name in model.outputs},
    }


def model_lines(info: dict[str, Any]) -> list[str]:
    """`model digits_mlp: 8,970 parameters, [64] → [10]`; several inputs and outputs by name."""
    def shapes(named: dict[str, list[int]]) -> str:
        if len(named) == 1:
            return fmt(tuple(next(iter(named.values()))))
        return ", ".join(f"{name} {fmt(tuple(shape))}" for name, shape in named.items())

    total, trainable = info["parameters"], info["trainable_parameters"]
    frozen = f" ({trainable:,} trainable)" if trainable != total else ""
    return [
        f"model {info['model']}: {total:,} parameters{frozen}, "
        f"{shapes(info['inputs'])} → {shapes(info['outputs'])}"
    ]


def _source(source: ir.DataSource | None) -> str:
    if source is None:
        return "data"
    path = getattr(source.params, "path", None)
    return f"{source.kind}({str(path)!r})" if path is not None else source.kind


def _targets(prepared: Prepared) -> str:
    """What the model learns to output, per output: class indices or values of a shape."""
    words = []
    for rule in prepared.train.targets:
        if rule.form == "indices":
            words.append("class indices")
        elif rule.form == "one_hot_from_indices":
            words.append(f"class indices as one-hot {fmt(rule.out_shape)}")
        else:
            words.append(fmt(rule.out_shape))
    return ", ".join(words)


def plan_info(
    model: ir.Model, prepared: Prepared, backend: str, device: str, run_dir: str
) -> dict[str, Any]:
    config = model.train
    return {
        "data": _source(config.data),
        "train_samples": len(prepared.train),
        "validation_samples": len(prepared.validation) if prepared.validation is not None else 0,
        "test_samples": len(prepared.test) if prepared.test is not None else 0,
        "input_shapes": [list(rule.shape) for rule in prepared.train.inputs],
        "targets": _targets(prepared),
        "backend": backend,
        "device_requested": device,
        "epochs": config.epochs,
        "batch_size": config.batch_size,
        "precision": config.precision,
        "run_dir": run_dir,
    }


def plan_lines(info: dict[str, Any]) -> list[str]:
    splits = f"{info['train_samples']:,} training"
    if info["validation_samples"]:
        splits += f", {info['validation_samples']:,} validation"
    if info["test_samples"]:
        splits += f", {info['test_samples']:,} test"
    inputs = ", ".join(fmt(tuple(shape)) for shape in info["input_shapes"])
    return [
        f"data {info['data']}: {splits} samples; inputs {inputs}, targets {info['targets']}",
        f"training on {info['backend']} (--device {info['device_requested']}): "
        f"{info['epochs']} epoch{'s' if info['epochs'] != 1 else ''}, "
        f"batch {info['batch_size']}, {info['precision']}",
        f"run folder: {info['run_dir']}",
    ]


def loading_text(backend: str) -> str:
    return f"loading {FRAMEWORKS.get(backend, backend)}…"
