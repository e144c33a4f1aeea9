"""Checked IR → a standalone Keras 3 module (functional API, TensorFlow backend)."""

from __future__ import annotations

from netspec import __version__, catalogue, ir
from netspec.codegen import keras_loop
from netspec.codegen.common import (
    input_words,
    params_line,
    shape_constants,
    train_settings,
    variables,
    with_docstring,
)
from netspec.codegen.snippets import definition
from netspec.codegen.writer import GeneratedModule, Writer, literal
from netspec.pycode import Code, PyCall

# Module-level layer classes a lowering can ask for, by name: what Keras has no layer for
# (each with a `standard_call` for inference_model; real Python in snippets/).
HELPERS: dict[str, str] = {
    "SelfAttention": definition("keras_layers", "SelfAttention"),
    "PositionalEmbedding": definition("keras_layers", "PositionalEmbedding"),
    "StableLayerNormalization": definition("keras_layers", "StableLayerNormalization"),
    "CenteredRandomCrop": definition("keras_augment", "CenteredRandomCrop"),
}


def generate(model: ir.Model) -> GeneratedModule:
    # The class of netspec's update rule, where Keras' own optimizer computes another.
    optimizer_helper = _optimizer_class(model)
    w = Writer()  # the module after its docstring, which lists what this defines
    w.line("import math")  # the training loop uses math, numpy and tensorflow
    if model.train.on_nan == "skip":
        w.line("from collections.abc import Callable")  # fit's on_skip
    w.line()
    w.line("import keras")
    w.line("import numpy as np")
    w.line("import tensorflow as tf")
    w.line("from keras import layers, ops" if optimizer_helper else "from keras import layers")
    w.line()
    shape_constants(w, model)
    w.value("TRAIN = ", train_settings(model))
    policy = keras_loop.dtype_policy(model.train)
    if policy is not None:
        w.line(
            f"DTYPE_POLICY = {literal(policy)}  # float32 weights, "
            f"{'bfloat16' if policy == 'mixed_bfloat16' else 'float16'} computation"
        )
    for helper in _helpers(model):
        w.line()
        w.line()
        w.lines(HELPERS[helper])
    w.line()
    w.line()
    w.line("def build_model() -> keras.Model:")
    with w.indent():
        w.docstring(f"The network of the spec: {params_line(model)}.")
        names = variables(model, "inputs")
        for source in model.inputs:
            w.call(
                f"{names[source.name]} = ",
                PyCall("keras.Input", (), {"shape": source.shape, "name": source.name}),
            )
        for layer in model.layers:
            w.origin(layer.span, f"layer {layer.name}")
            lowering = catalogue.layer(layer.kind).keras(layer.params, layer)
            frozen = {} if layer.trainable else {"trainable": False}
            dtype = {}
            if policy is not None:  # the layers that make the outputs compute in float32
                dtype = {"dtype": "float32" if layer.name in model.outputs else Code("DTYPE_POLICY")}
            named = PyCall(
                lowering.func,
                lowering.args,
                {**lowering.kwargs, **frozen, **dtype, "name": layer.name},
            )
            operands = [names[t] for t in layer.inputs]
            argument = f"([{', '.join(operands)}])" if len(operands) > 1 else f"({operands[0]})"
            w.call(f"{names[layer.name]} = ", named, argument)
        w.origin(None)
        w.call(
            "return ",
            PyCall(
                # on_nan = skip: Keras' model with a training step that can leave a step out
                "SkipNonFiniteSteps" if model.train.on_nan == "skip" else "keras.Model",
                (),
                {
                    "inputs": _tensors([names[i.name] for i in model.inputs]),
                    "outputs": _outputs(model, names),
                    "name": model.name,
                },
            ),
        )
    w.line()
    w.line()
    if model.single_io:
        w.line("def build_loss() -> keras.losses.Loss:")
        with w.indent():
            w.call("return ", catalogue.loss(model.loss.kind).keras(model.loss.params))
    else:
        _losses(w, model)
    w.line()
    w.line()
    if optimizer_helper:
        w.lines(optimizer_helper)
        w.line()
        w.line()
    w.line("def build_optimizer() -> keras.optimizers.Optimizer:")
    with w.indent():
        optimizer_entry = catalogue.optimizer(model.optimizer.kind)
        optimizer = optimizer_entry.keras(model.optimizer.params, model.train.clip_norm)
        if model.train.lr_scaling == "linear":
            w.docstring("lr_scaling = linear: the learning rate times the replicas of the strategy.")
            w.call("optimizer = ", optimizer)
            w.line("replicas = tf.distribute.get_strategy().num_replicas_in_sync")
            w.line("optimizer.learning_rate = optimizer.learning_rate * replicas")
            w.line("return optimizer")
        else:
            w.call("return ", optimizer)
    w.line()
    w.line()
    if model.single_io:
        w.line("def build_metrics() -> list[keras.metrics.Metric]:")
        with w.indent():
            w.value("return ", _metric_calls(model, model.loss))
        keras_loop.write(w, model)
    else:
        w.line("def build_metrics() -> dict[str, list[keras.metrics.Metric]]:")
        with w.indent():
            w.docstring("The metrics of each output, by output name.")
            w.value("return ", {loss.output: _metric_calls(model, loss) for loss in model.losses})
        keras_loop.write(w, model)
    for name in ("standard_layer_call", "inference_model"):
        w.line()
        w.line()
        w.lines(definition("keras_inference", name))
    intro = (
        f"{model.name}: a Keras model generated by netspec {__version__}.\n\n"
        f"Inputs are channels-last, {input_words(model)}. netspec runs it on "
        "the TensorFlow backend (KERAS_BACKEND=tensorflow, Keras' default)."
    )
    return w.module(with_docstring(model, "Keras", intro, w.source(), "keras"))


def _losses(w: Writer, model: ir.Model) -> None:
    """A model with several outputs: a loss per output and the weights of their sum."""
    w.line("def build_loss() -> dict[str, keras.losses.Loss]:")
    with w.indent():
        w.docstring("The loss of each output, by output name; the total is their weighted sum.")
        calls = {}
        for loss in model.losses:
            calls[loss.output] = catalogue.loss(loss.kind).keras(loss.params)
        w.value("return ", calls)
    w.line()
    w.line()
    w.value("LOSS_WEIGHTS = ", {loss.output: loss.weight for loss in model.losses})


def _metric_calls(model: ir.Model, loss: ir.Loss) -> list[PyCall]:
    """The Keras metrics of one output, for the targets its loss takes."""
    target = catalogue.loss(loss.kind).target
    from_logits = bool(getattr(loss.params, "from_logits", False))
    calls = []
    for metric in model.metrics:
        if metric.output != loss.output:
            continue
        calls.append(catalogue.metric(metric.kind).keras(target, from_logits))
    return calls


def _tensors(names: list[str]) -> catalogue.Code:
    """One tensor as itself, several as a list."""
    return catalogue.Code(names[0] if len(names) == 1 else "[" + ", ".join(names) + "]")


def _outputs(model: ir.Model, names: dict[str, str]) -> catalogue.Code:
    """The model's outputs: one tensor, or a list of several; the one output of a model of
    several inputs is a dict by its name, as its targets come to `fit` (a bare tensor there
    made Keras read the dict's keys as targets)."""
    if len(model.outputs) == 1 and not model.single_io:
        output = model.outputs[0]
        return catalogue.Code("{" + f"{literal(output)}: {names[output]}" + "}")
    return _tensors([names[o] for o in model.outputs])


def _helpers(model: ir.Model) -> list[str]:
    """The helper classes the model's layers use, each once, in name order."""
    names: set[str] = set()
    for layer in model.layers:
        names.update(catalogue.layer(layer.kind).keras_helpers(layer.params))
    return sorted(names)


def _optimizer_class(model: ir.Model) -> str | None:
    """The source of the optimizer class the module defines (snippets/keras_optimizers.py),
    with PyTorch's gradient clipping when clip_norm is set; None for Keras' own optimizer."""
    clip_norm = model.train.clip_norm
    name = catalogue.optimizer(model.optimizer.kind).keras_defines(model.optimizer.params, clip_norm)
    if name is None:
        return None
    source = definition("keras_optimizers", name)
    if clip_norm is not None:
        source += "\n\n" + definition("keras_optimizers", "TorchClipping._clip_gradients")
    return source
