"""`netspec weights convert`: weights of one spec from one framework's file to another's.

Every conversion goes through the framework-neutral form (`netspec.weights`), so a PyTorch
run's weights load into the Keras model of the same spec and the other way round. Inputs:
a `.keras` file, a PyTorch state dict in safetensors (a run's `weights.safetensors` or a
checkpoint), or a neutral netspec file. Outputs: neutral, PyTorch or Keras.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from netspec import ir, weights
from netspec.codegen import generate
from netspec.train import atomic
from netspec.train.context import RunContext, TrainError, load_module

KINDS = ("neutral", "torch", "keras")


def kind_of(path: Path) -> str:
    """What a weights file holds: keras, neutral or torch."""
    if path.suffix == ".keras":
        import zipfile

        if not path.is_file():
            raise TrainError(f"cannot read {path}: no such file")
        if not zipfile.is_zipfile(path):  # told before Keras loads, not as its BadZipFile
            raise TrainError(
                f"{path} is not a .keras file (a .keras file is a zip archive; this is not one)",
                hint="pass a run's model.keras, weights.safetensors or a checkpoint",
            )
        return "keras"
    try:
        metadata = weights.read_metadata(path)
    except Exception as error:  # safetensors raises its own error types
        raise TrainError(
            f"cannot read {path} as weights: {error}",
            hint="netspec reads .keras files and safetensors files (no pickle)",
        ) from error
    return "neutral" if metadata.get("format") == weights.FORMAT else "torch"


def _module(model: ir.Model, target: str, folder: Path) -> Any:
    path = folder / f"{model.name}_{target}.py"
    source = generate(model, target)
    path.write_text(source, encoding="utf-8")
    return load_module(path, f"{model.name}_{target}", source)


def _torch_model(model: ir.Model, folder: Path) -> Any:
    return _module(model, "torch", folder).build_model()


def _keras_model(model: ir.Model, folder: Path) -> tuple[Any, Any]:
    """The generated Keras module of the spec and its compiled model."""
    from netspec.train import keras_backend  # sets KERAS_BACKEND before Keras loads

    module = _module(model, "keras", folder)
    built = module.compile_model(module.build_model())
    built.optimizer.build(built.trainable_variables)
    del keras_backend
    return module, built


def read_neutral(
    model: ir.Model, path: Path, folder: Path, partial: bool = False
) -> dict[str, np.ndarray]:
    """The weights of any supported file, in neutral form, checked against the spec.

    `partial` lets a neutral file hold only some of the model's tensors; a .keras file or a
    PyTorch state dict is of a whole model, so it must be of this spec either way.
    """
    kind = kind_of(path)
    try:
        if kind == "neutral":
            return weights.load_weights(path, model, partial=partial)
        if kind == "keras":
            from netspec.train.keras_backend import load_weights

            _, built = _keras_model(model, folder)
            load_weights(built, path)
            return weights.export_weights(model, built)
        from netspec.train.torch_backend import load_weights as load_torch

        built = _torch_model(model, folder)
        load_torch(built, path)
        return weights.export_weights(model, built)
    except weights.WeightsError as error:
        raise TrainError(
            str(error), hint="weights load only into the spec they came from"
        ) from error


def load_into(model: ir.Model, built: Any, path: Path, partial: bool = False) -> list[str]:
    """Loads weights from any supported file into a built Keras or PyTorch model.

    With `partial`, the tensors the file lacks keep their initial values; returns their names.
    """
    with tempfile.TemporaryDirectory() as folder:
        neutral = read_neutral(model, path, Path(folder), partial)
    kept: list[str] = []
    try:
        if partial:
            current = weights.export_weights(model, built)
            kept = [name for name in current if name not in neutral]
            neutral = {**current, **neutral}
        weights.import_weights(model, built, neutral)
    except weights.WeightsError as error:
        raise TrainError(
            str(error), hint="weights load only into the spec they came from"
        ) from error
    return kept


def initialise(ctx: RunContext, built: Any) -> None:
    """`--init-from`: the file's weights into the run's built model (a backend calls this, as
    its `init`); with `--init-partial` it says which layers kept their initial values."""
    assert ctx.init_from is not None
    kept = load_into(ctx.model, built, ctx.init_from, ctx.init_partial)
    if ctx.init_partial:
        ctx.reporter.message(partial_message(ctx.model, kept))


def partial_message(model: ir.Model, kept: list[str]) -> str:
    """What --init-partial left at its initial values, by layer."""
    layers = sorted({name.split(".")[0] for name in kept}, key=[x.name for x in model.layers].index)
    loaded = len(weights.expected_shapes(model)) - len(kept)
    shown = ", ".join(layers) if layers else "none"
    return f"--init-partial: loaded {loaded} tensors; layers left as initialised: {shown}"


def convert(model: ir.Model, source: Path, output: Path, to: str) -> dict[str, Any]:
    if to not in KINDS:
        raise TrainError(f"unknown weights format '{to}'", hint="choose neutral, torch or keras")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        neutral = read_neutral(model, source, folder)
        output.parent.mkdir(parents=True, exist_ok=True)
        # each written whole or not at all (tmp + fsync + rename): a failed write leaves `output` as it was
        if to == "neutral":
            atomic.write_with(output, lambda tmp: weights.save_weights(tmp, neutral, model))
        elif to == "torch":
            from safetensors.torch import save_file

            built = _torch_model(model, folder)
            weights.import_weights(model, built, neutral)
            state = {k: v.detach().contiguous() for k, v in built.state_dict().items()}
            atomic.write_with(output, lambda tmp: save_file(state, str(tmp)))
        else:
            if output.suffix != ".keras":
                raise TrainError(f"a Keras model file must end in .keras, not '{output.name}'")
            module, built = _keras_model(model, folder)
            weights.import_weights(model, built, neutral)
            atomic.write_with(output, module.inference_model(built).save)  # plain Keras loads it
    return {
        "from": kind_of(source),
        "to": to,
        "tensors": len(neutral),
        "values": int(sum(a.size for a in neutral.values())),
        "output": str(output),
    }
