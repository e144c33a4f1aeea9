"""Checked IR → a standalone PyTorch module.

The model takes channels-last input, as the spec states shapes. Inside, convolutions and
pooling run channels-first, PyTorch's convention; the generator inserts a `permute` only where
the layout changes, and permutes back before a Flatten or Reshape so that the order of
elements is the spec's (channels-last) order, the same as in the Keras model.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from netspec import __version__, catalogue, ir
from netspec.catalogue.base import Layout, TorchLowering
from netspec.catalogue.losses import CLASS_INDEX, EPSILON, LossEntry, TorchLoss
from netspec.catalogue.merge import MergeEntry
from netspec.catalogue.shapes import channels_first_permutation, channels_last_permutation
from netspec.codegen import torch_loop
from netspec.codegen.common import (
    dtype_constants,
    input_words,
    params_line,
    shape_constants,
    train_settings,
    variables,
    with_docstring,
)
from netspec.codegen.snippets import definition
from netspec.codegen.writer import GeneratedModule, Writer, camel_case, identifier, literal
from netspec.pycode import Code

# Module-level helpers a lowering can ask for, by name.
HELPERS: dict[str, str] = {
    # Layers PyTorch computes otherwise than netspec, real Python in snippets/torch_layers.py
    "SingleBiasLSTM": definition("torch_layers", "SingleBiasLSTM"),
    "SingleBiasRNN": definition("torch_layers", "SingleBiasRNN"),
    "MultiHeadSelfAttention": definition("torch_layers", "MultiHeadSelfAttention"),
    "PositionalEmbedding": definition("torch_layers", "PositionalEmbedding"),
    "SamePaddingAvgPool2d": definition("torch_layers", "SamePaddingAvgPool2d"),
    # Image augmentation (catalogue/preprocessing.py), real Python in snippets/torch_augment.py
    "RandomFlip": definition("torch_augment", "RandomFlip"),
    "RandomCrop": definition("torch_augment", "RandomCrop"),
    "RandomTranslation": definition("torch_augment", "RandomTranslation"),
    "RandomRotation": definition("torch_augment", "RandomRotation"),
    "RandomZoom": definition("torch_augment", "RandomZoom"),
    "RandomContrast": definition("torch_augment", "RandomContrast"),
    "Rescaling": definition("torch_augment", "Rescaling"),
    "affine_transform_images": definition("torch_augment", "affine_transform_images"),
    "map_coordinates": definition("torch_augment", "map_coordinates"),
    "round_half_away": definition("torch_augment", "round_half_away"),
    "uniform_draws": definition("torch_augment", "uniform_draws"),
}


# Names the module defines that a CamelCase model name could spell (camel_case drops '_').
_MODULE_NAMES = frozenset(
    {"Callable", "Iterable", "Iterator", "EPSILON", "TRAIN", "EpochSampler", "NonFiniteLoss"}
)


def _shape_comment(shape: ir.Shape, layout: Layout) -> str:
    dims = list(shape)
    if layout is Layout.CHANNELS_FIRST and len(dims) >= 2:
        dims = [dims[-1], *dims[:-1]]
    return "# (N, " + ", ".join(str(d) for d in dims) + ")"


def _lower(layer: ir.Layer) -> tuple[catalogue.LayerEntry, TorchLowering]:
    entry = catalogue.layer(layer.kind)
    return entry, entry.torch(layer.params, layer)


def generate(model: ir.Model) -> GeneratedModule:
    class_name = camel_case(model.name)
    lowered = [(layer, *_lower(layer)) for layer in model.layers]
    helpers = sorted({h for _, _, lowering in lowered for h in lowering.helpers})
    if class_name in HELPERS or class_name in _MODULE_NAMES:
        class_name += "Model"

    loss_entry = catalogue.loss(model.loss.kind)
    torch_loss = loss_entry.torch(model.loss.params)
    torch_losses = [_torch_loss(loss) for loss in model.losses]

    w = Writer()  # the module after its docstring, which lists what this defines
    if torch_loop.uses_math(model):
        w.line("import math")
    w.line("from collections.abc import Callable, Iterable, Iterator")
    w.line("from datetime import timedelta")
    w.line()
    w.line("import numpy as np")
    w.line("import torch")
    w.line("import torch.distributed as dist")
    w.line("from torch import nn")
    w.line()
    shape_constants(w, model)
    dtype_constants(w, model, "torch.")
    w.value("TRAIN = ", train_settings(model))
    if any(torch_loss.helper for torch_loss in torch_losses):
        w.line(
            f"EPSILON = {literal(EPSILON)}  # probabilities are clipped to [EPSILON, 1 - EPSILON]"
        )
    for helper in helpers:
        w.line()
        w.line()
        w.lines(HELPERS[helper])

    w.line()
    w.line()
    w.line(f"class {class_name}(nn.Module):")
    with w.indent():
        w.docstring(f"The network of the spec: {params_line(model)}.")
        w.line()
        w.line("def __init__(self) -> None:")
        with w.indent():
            w.line("super().__init__()")
            for layer, _, lowering in lowered:
                w.origin(layer.span, f"layer {layer.name}")
                for attribute, constructor in lowering.modules:
                    w.call(f"self.{attribute} = ", constructor)
            w.origin(None)
            w.line("self.reset_parameters()")
            for layer, _, lowering in lowered:  # trainable=false: weights get no gradient
                if not layer.trainable:
                    for attribute, _ in lowering.modules:
                        w.line(f"self.{attribute}.requires_grad_(False)")
        w.line()
        _frozen_statistics(w, class_name, lowered)
        w.line("def reset_parameters(self) -> None:")
        with w.indent():
            w.docstring("Initialise every weight as the spec states (netspec's defaults included).")
            for layer, _, lowering in lowered:  # none: the docstring is the body (no `pass`)
                w.origin(layer.span, f"layer {layer.name}")
                for call in lowering.init:
                    w.call("", call)
            w.origin(None)
        w.line()
        _forward(w, model, lowered)

    w.line()
    w.line()
    w.line(f"def build_model() -> {class_name}:")
    with w.indent():
        w.line(f"return {class_name}()")
    w.line()
    w.line()
    for helper in dict.fromkeys(t.helper for t in torch_losses if t.helper):
        w.lines(definition("torch_losses", helper))
        w.line()
        w.line()
    if model.single_io:
        w.line("def build_loss() -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:")
        with w.indent():
            if model.train.class_weight is None:
                w.docstring(f"{model.loss.kind}: called as loss(y_pred, y_true).")
                w.line(f"return {literal(torch_loss.build)}")
            else:
                _weighted_loss(w, model, torch_loss, loss_entry)
    else:
        _losses(w, model, torch_losses)
    w.line()
    w.line()
    optimizer_entry = catalogue.optimizer(model.optimizer.kind)
    w.line("def build_optimizer(parameters: Iterable[nn.Parameter]) -> torch.optim.Optimizer:")
    with w.indent():
        build = optimizer_entry.torch(model.optimizer.params)
        if model.train.lr_scaling == "linear":
            w.docstring("lr_scaling = linear: the learning rate times the workers (under torchrun).")
            w.call("optimizer = ", build)
            w.line("_, workers = world_position()")
            w.line("for group in optimizer.param_groups:")
            with w.indent():
                w.line('group["lr"] *= workers')
            w.line("return optimizer")
        else:
            w.call("return ", build)
    if model.single_io:
        _metrics(w, model, loss_entry)
        torch_loop.write(w, model)
    else:
        _output_metrics(w, model)
        torch_loop.write(w, model)
    intro = (
        f"{model.name}: a PyTorch model generated by netspec {__version__}.\n\n"
        f"Inputs are channels-last, {input_words(model)}, as the spec states "
        "them; the network runs convolutions channels-first inside."
    )
    return w.module(with_docstring(model, "PyTorch", intro, w.source(), "torch"))


def _torch_loss(loss: ir.Loss) -> TorchLoss:
    return catalogue.loss(loss.kind).torch(loss.params)


def _losses(w: Writer, model: ir.Model, torch_losses: list) -> None:
    """Several outputs: the total loss is the weighted sum of each output's loss (Keras' rule)."""
    outputs = ", ".join(model.outputs)
    w.line("def build_output_losses() -> dict[")  # as ruff format breaks it
    w.line("    str, tuple[int, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]]")
    w.line("]:")
    with w.indent():
        w.docstring(
            "The loss of each output, keyed `<output>_loss` as Keras reports it:\n"
            "(the index of the output, f(y_pred, y_true) → batch mean)."
        )
        w.value(
            "return ",
            {
                f"{identifier(loss.output)}_loss": (index, t.build)
                for index, (loss, t) in enumerate(zip(model.losses, torch_losses, strict=True))
            },
        )
    w.line()
    w.line()
    w.line("def build_loss() -> Callable[[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]], torch.Tensor]:")
    with w.indent():
        w.docstring(
            f"The weighted sum of the losses of the outputs ({outputs}), called as\n"
            "loss(y_pred, y_true) with a tuple of tensors each, in the order of the outputs."
        )
        w.line("losses = [loss for _, loss in build_output_losses().values()]")
        w.line(f"weights = {literal(tuple(loss.weight for loss in model.losses))}")
        w.line()
        w.function(
            "total_loss",
            ["y_pred: tuple[torch.Tensor, ...]", "y_true: tuple[torch.Tensor, ...]"],
            "torch.Tensor",
        )
        with w.indent():
            w.line("return sum(")
            with w.indent():
                w.line("weight * loss(pred, true)")
                w.line("for loss, weight, pred, true in zip(losses, weights, y_pred, y_true, strict=True)")
            w.line(")")
        w.line()
        w.line("return total_loss")


def _output_metrics(w: Writer, model: ir.Model) -> None:
    """Several outputs: a metric function per (output, metric), keyed `<output>_<metric>` as
    Keras names them, each taking that output's prediction and target."""
    names: dict[str, str] = {}
    keys: dict[str, str] = {}  # function → figure: prefixed by the output with several
    for loss in model.losses:
        target = catalogue.loss(loss.kind).target
        from_logits = bool(getattr(loss.params, "from_logits", False))
        for metric in model.metrics:
            if metric.output != loss.output:
                continue
            lowered = catalogue.metric(metric.kind).torch(target, from_logits)
            function = f"{identifier(loss.output)}_{metric.kind}"
            w.line()
            w.line()
            w.line(f"def {function}(y_pred: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:")
            with w.indent():
                w.docstring(f"{lowered.doc}\n\nOf output {loss.output}.")
                w.line(f"return {lowered.expr}")
            names[function] = loss.output
            keys[function] = function if len(model.outputs) > 1 else metric.kind
    w.line()
    w.line()
    w.line(
        "def build_metrics() -> dict[str, tuple[int, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]]]:"
    )
    with w.indent():
        w.docstring(
            "Metric functions by name: (the index of their output, f(y_pred, y_true) → batch mean)."
        )
        w.value(
            "return ",
            {keys[f]: (model.outputs.index(o), Code(f)) for f, o in names.items()},
        )


def _weighted_loss(
    w: Writer, model: ir.Model, torch_loss: TorchLoss, loss_entry: LossEntry
) -> None:
    """The loss with Keras' class_weight rule: scale each sample's loss, then average."""
    w.docstring(
        f"{model.loss.kind} with class weights, called as loss(y_pred, y_true).\n\n"
        "Each sample's loss is scaled by the weight of its class, then the batch is averaged."
    )
    module, expression = torch_loss.per_sample()
    if module is not None:
        w.call("per_sample = ", module)
    w.line(f"class_weight = torch.tensor({literal(model.train.class_weight)})")
    w.line()
    w.line("def weighted_loss(y_pred: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:")
    with w.indent():
        w.line(f"losses = {expression}")
        index = CLASS_INDEX[loss_entry.target]
        w.line(f"weight = class_weight.to(y_pred.device)[{index}]")
        w.line("return (losses.reshape(len(losses), -1).mean(dim=1) * weight).mean()")
    w.line()
    w.line("return weighted_loss")


def _frozen_statistics(
    w: Writer, class_name: str, lowered: list[tuple[ir.Layer, catalogue.LayerEntry, TorchLowering]]
) -> None:
    """A frozen layer with moving statistics (BatchNormalization) runs in inference mode, as
    Keras runs a frozen one; statistics are the weights a layer does not train."""
    frozen = [
        attribute
        for layer, entry, lowering in lowered
        if not layer.trainable and any(not w.trainable for w in entry.weights(layer.params, layer))
        for attribute, _ in lowering.modules
    ]
    if not frozen:
        return
    w.line(f'def train(self, mode: bool = True) -> "{class_name}":')
    with w.indent():
        w.docstring("Frozen BatchNormalization layers keep their moving statistics (Keras' rule).")
        w.line("super().train(mode)")
        for attribute in frozen:
            w.line(f"self.{attribute}.eval()")
        w.line("return self")
    w.line()


def _forward(
    w: Writer,
    model: ir.Model,
    lowered: list[tuple[ir.Layer, catalogue.LayerEntry, TorchLowering]],
) -> None:
    """forward(): every tensor in a variable (`x` along a chain), each with its layout.

    A layer gets its operand in the layout it works in (a permute where that changes); a
    merge gets all its operands in one layout; each output is returned channels-last. With
    mixed precision, the layers that make the model's outputs run in float32, autocast off
    (as Keras runs them with a float32 dtype policy), so softmax outputs, losses and metrics
    are float32.
    """
    names = variables(model, "x")
    arguments = [f"{names[i.name]}: torch.Tensor" for i in model.inputs]
    count = len(model.outputs)
    returns = "torch.Tensor" if count == 1 else f"tuple[{', '.join(['torch.Tensor'] * count)}]"
    mixed = model.train.precision != "fp32"
    w.function("forward", ["self", *arguments], returns)
    layouts = {names[i.name]: Layout.SPEC for i in model.inputs}
    with w.indent():
        for layer, entry, lowering in lowered:
            w.origin(layer.span, f"layer {layer.name}")
            operands = [names[t] for t in layer.inputs]
            target = names[layer.name]
            rank = len(layer.input_shape)
            with ExitStack() as in_float32:
                if isinstance(entry, MergeEntry):
                    merged = {layouts[v] for v in operands}
                    layout = Layout.CHANNELS_FIRST if merged == {Layout.CHANNELS_FIRST} else Layout.SPEC
                    for v in dict.fromkeys(operands):
                        _to_layout(w, v, rank, layout, layouts)
                    if mixed and layer.name in model.outputs:
                        in_float32.enter_context(_float32(w, operands))
                    expression = entry.torch_merge(
                        layer.params, layer, operands, layout is Layout.CHANNELS_FIRST
                    )
                else:
                    source = operands[0]
                    wanted = lowering.layout
                    if wanted is not Layout.ANY and rank >= 2:
                        _to_layout(w, source, rank, wanted, layouts)
                    layout = layouts[source]
                    if mixed and layer.name in model.outputs:
                        in_float32.enter_context(_float32(w, [source]))
                    module = f"self.{layer.name}"
                    if lowering.forward and source != target:  # the statements rebind their operand
                        w.line(f"{target} = {source}")
                        source = target
                    for statement in lowering.forward:
                        w.line(statement.format(x=source, m=module))
                    expression = lowering.expr.format(x=source, m=module)
                    activation = entry.activation(layer.params)
                    if activation and activation != "linear":
                        activation_entry = catalogue.activation(activation)
                        channel_dim = 1 if layout is Layout.CHANNELS_FIRST and rank >= 2 else -1
                        expression = activation_entry.torch(expression, channel_dim)
                out_layout = layout if len(layer.output_shape) >= 2 else Layout.SPEC
                comment = _shape_comment(layer.output_shape, out_layout)
                if expression != target and w.fits(f"{target} = {expression}  {comment}"):
                    w.line(f"{target} = {expression}  {comment}")
                elif expression != target:  # too wide with it: the comment above
                    w.line(comment)
                    w.line(f"{target} = {expression}")
            layouts[target] = out_layout
        w.origin(None)
        results = [names[o] for o in model.outputs]
        for name, v in zip(model.outputs, dict.fromkeys(results), strict=False):
            _to_layout(w, v, len(model.shape_of(name)), Layout.SPEC, layouts)
        w.line(f"return {', '.join(results)}")


@contextmanager
def _float32(w: Writer, operands: list[str]) -> Iterator[None]:
    """`with torch.autocast(…, enabled=False):` with the operands cast to float32 first."""
    w.line(
        f"with torch.autocast({operands[0]}.device.type, enabled=False):  # outputs in float32"
    )
    with w.indent():
        for v in dict.fromkeys(operands):
            w.line(f"{v} = {v}.float()")
        yield


def _to_layout(w: Writer, variable: str, rank: int, wanted: Layout, layouts: dict[str, Layout]) -> None:
    """Permute a variable's tensor to a layout, if it is not in it (and has channels)."""
    if wanted is Layout.ANY or layouts[variable] is wanted or rank < 2:
        return
    if wanted is Layout.CHANNELS_FIRST:
        permutation = channels_first_permutation(rank)
        note = "channels-last -> channels-first"
    else:
        permutation = channels_last_permutation(rank)
        note = "back to channels-last"
    w.line(f"{variable} = {variable}.permute{literal(permutation)}  # {note}")
    layouts[variable] = wanted


def _metrics(w: Writer, model: ir.Model, loss_entry: LossEntry) -> None:
    target = loss_entry.target
    from_logits = bool(getattr(model.loss.params, "from_logits", False))
    names = []
    for metric in model.metrics:
        lowered = catalogue.metric(metric.kind).torch(target, from_logits)
        w.line()
        w.line()
        w.line(f"def {metric.kind}(y_pred: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:")
        with w.indent():
            w.docstring(lowered.doc)
            w.line(f"return {lowered.expr}")
        names.append(metric.kind)
    w.line()
    w.line()
    w.line(
        "def build_metrics() -> dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]]:"
    )
    with w.indent():
        w.docstring("Metric functions of (y_pred, y_true), each giving the batch mean.")
        w.value("return ", {name: Code(name) for name in names})
