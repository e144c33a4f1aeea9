"""The intermediate representations, as pydantic models.

Two layers of nodes live here:

* the **syntax tree** (`SpecFile` and friends): what the parser read, every node with its
  source span, nothing resolved yet;
* the **checked IR** (`Model` and friends): names resolved against the catalogue, every
  hyper-parameter default written out explicitly, shapes and parameter counts inferred.
  It is what the code generators read and what `netspec check --emit-ir` prints.

Both are frozen and forbid unknown fields, so a stage can only build what this module allows.
"""

from __future__ import annotations

import typing

from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny
from pydantic.json_schema import SkipJsonSchema

from netspec.diagnostics import Related, Span

IR_VERSION = 2  # 2: graphs (layer inputs, several inputs and outputs, a loss per output)


class Node(BaseModel):
    # Every model here and in the catalogue builds its validator on first use
    # (`defer_build`), not at import: a run builds the few it makes (a check of a seed spec
    # about 16 of the ~100), a tenth of `netspec check` before. Forward references
    # (`Value`, `Statement`) resolve then, from this module, so no model_rebuild is needed.
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    span: Span


# --------------------------------------------------------------------------- syntax tree


class Symbol(Node):
    """A bare identifier used as a value, e.g. `relu` in `activation=relu`."""

    name: str


class ListValue(Node):
    items: list[Value]


class Arg(Node):
    """One argument of a call; `span` covers the value, `keyword_span` the `name=` part."""

    keyword: str | None = None
    keyword_span: Span | None = None
    value: Value


class Call(Node):
    """`Name` or `Name(args…)`: a layer, loss, optimizer or data source as written."""

    name: str
    name_span: Span
    args: list[Arg] = Field(default_factory=list)


class Literal(Node):
    """A number, string, boolean or `none` as written."""

    value: int | float | bool | str | None


class BinaryOp(Node):
    """`left OP right`: OP is + - * / //, a comparison (== != < > <= >=), `and` or `or`;
    folded to a Literal before checking."""

    op: str
    left: Value
    right: Value


class UnaryOp(Node):
    """`-operand` or `+operand` on something that is not a plain number, e.g. `-filters`,
    or `not operand`."""

    op: str
    operand: Value


Value = Literal | Symbol | ListValue | Call | BinaryOp | UnaryOp

SEARCH_FUNCTIONS = frozenset({"choice", "range", "log_range", "int_range"})
"""Value calls that write a dimension of a search space (`netspec/space/`), reserved in value
position: no data source, schedule or other value call may take these names."""


class BlockUse(Node):
    """One block instance a layer came from: `name` is the instance's name (the prefix of its
    layers' names, e.g. `residual_1`), `block` the block's, `span` the use site's call."""

    name: str
    block: str


BlockPath = tuple[BlockUse, ...]
"""The block instances a layer came from, outermost first; () for a layer the model writes."""


class LayerStmt(Node):
    """`[name =] Call[(tensor, …)]`; `inputs` is None when the statement names no tensors,
    so it reads the previous statement's output (the first one reads the first input)."""

    name: str | None = None
    name_span: Span | None = None
    call: Call
    inputs: list[Symbol] | None = None
    origin: list[Related] = Field(default_factory=list)
    """Where a statement from a block was instantiated: use sites, innermost first (netspec/expand/)."""
    blocks: BlockPath = Field(default=(), exclude=True)
    """The same instances as data, outermost first: one tuple shared by the statements of an
    instance (netspec/expand/). Provenance, not syntax: left out of dumps, like `Layer.blocks`."""


class RepeatStmt(Node):
    """`repeat N { statements }`: the statements N times over, chained."""

    count: Value
    body: list[Statement]


class IfStmt(Node):
    """`if CONDITION { then } else { otherwise }`: one branch, chosen when blocks expand.

    `otherwise` is empty when there is no `else`; `else if` is an `IfStmt` alone in it.
    """

    condition: Value
    then: list[Statement]
    otherwise: list[Statement] = Field(default_factory=list)


Statement = LayerStmt | RepeatStmt | IfStmt


class Use(Node):
    """`use "path"`: import the blocks another file defines; `span` covers the path."""

    path: str


class Param(Node):
    """A block parameter, `name` or `name = default`."""

    name: str
    default: Value | None = None


class BlockDef(Node):
    """`block NAME(params)(inputs) { statements }`; `inputs` is None when not written."""

    name: str
    name_span: Span
    params: list[Param] = Field(default_factory=list)
    inputs: list[Symbol] | None = None
    body: list[Statement]


class InputStmt(Node):
    """`input NAME [shape]`, or `input [shape]` for the one input named "input"."""

    name: str | None = None
    name_span: Span | None = None
    shape: ListValue


class OutputLoss(Node):
    """`output = loss` in a `loss { … }` section: the loss of one model output."""

    output: str
    output_span: Span
    call: Call


class OutputWeight(Node):
    """`output = 0.5` in a `loss_weights { … }` section; `value` is checked to be a number."""

    output: str
    output_span: Span
    value: Value


class OutputMetrics(Node):
    """`output = [metric, …]` in a `metrics { … }` section."""

    output: str
    output_span: Span
    metrics: list[Symbol]


class Setting(Node):
    key: str
    key_span: Span
    value: Value


class SpecFile(Node):
    """One `model NAME { … }` block as parsed. A section left out is None.

    `loss` and `losses` are the two forms of the one `loss` section (one loss, or one per
    output), as are `metrics` and `output_metrics`; at most one of each pair is set.
    """

    model_name: str
    name_span: Span
    inputs: list[InputStmt] | None = None
    layers: list[Statement] | None = None
    layers_span: Span | None = None
    outputs: list[Symbol] | None = None
    outputs_span: Span | None = None
    loss: Call | None = None
    losses: list[OutputLoss] | None = None
    loss_span: Span | None = None
    loss_weights: list[OutputWeight] | None = None
    loss_weights_span: Span | None = None
    optimizer: Call | None = None
    metrics: list[Symbol] | None = None
    output_metrics: list[OutputMetrics] | None = None
    train: list[Setting] | None = None
    train_span: Span | None = None
    uses: list[Use] = Field(default_factory=list)
    blocks: list[BlockDef] = Field(default_factory=list)


class Library(Node):
    """A file imported with `use`: imports and block definitions, no model."""

    uses: list[Use] = Field(default_factory=list)
    blocks: list[BlockDef] = Field(default_factory=list)




# --------------------------------------------------------------------------- checked IR

Shape = tuple[int, ...]
"""A per-sample tensor shape, channels-last; the batch dimension is implicit."""


class Params(BaseModel):
    """Base of every catalogue entry's parameter model: every field has an explicit value."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, defer_build=True)


class Input(Node):
    name: str
    shape: Shape


class Layer(Node):
    """One layer of the graph. `inputs` name the tensors it reads (model inputs or layers),
    `input_shapes` their shapes in the same order; `input_shape` is the first of them, the
    only one for every layer but a merge (Add, Concatenate, …)."""

    name: str
    kind: str
    params: SerializeAsAny[Params]
    inputs: list[str]
    input_shape: Shape
    input_shapes: list[Shape]
    output_shape: Shape
    trainable: bool = True
    """False freezes the layer: its weights are not trained (all count as non-trainable)."""
    trainable_params: int
    non_trainable_params: int
    blocks: SkipJsonSchema[BlockPath] = Field(default=(), exclude=True)
    """The block instances the layer came from, outermost first (its statement's, shared):
    for `netspec graph`, the run folder's model.svg and the language server. Provenance,
    not part of the model: left out of the IR's JSON and schema, so a block's layers dump
    exactly as the same layers written out (and ir.json stays small at 100,000 layers)."""


class Loss(Node):
    """The loss of one model output, and its weight in the total (1.0 unless stated)."""

    kind: str
    params: SerializeAsAny[Params]
    output: str
    weight: float = 1.0


class Optimizer(Node):
    kind: str
    params: SerializeAsAny[Params]


class Metric(Node):
    """A metric of one model output."""

    kind: str
    output: str


class DataSource(Node):
    """Where training data comes from, as named in the spec (`digits`, `idx("dir")`, …)."""

    kind: str
    params: SerializeAsAny[Params]


class Schedule(Node):
    """A learning-rate schedule, applied once per epoch."""

    kind: str
    params: SerializeAsAny[Params]


class TrainConfig(Node):
    """The `train { … }` block with netspec's defaults for what it leaves out."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, defer_build=True)

    data: DataSource | None = Field(None, description="where the training data comes from")
    epochs: int = Field(10, gt=0, description="passes over the training data")
    batch_size: int = Field(32, gt=0, description="samples per optimizer step")
    validation_split: float = Field(
        0.0, ge=0.0, lt=1.0, description="fraction of the training data held out for validation"
    )
    test_split: float = Field(
        0.2, ge=0.0, lt=1.0,
        description="fraction held out for the final test, for sources without a test set",
    )
    shuffle: bool = Field(True, description="reshuffle the training data every epoch")
    seed: int = Field(0, description="seed for weights, shuffling, splits and synthetic data")
    divide_by: float | None = Field(
        None, gt=0, description="divide every input by this (255 for 8-bit images)"
    )
    standardize: bool = Field(
        False, description="scale each input feature to mean 0, std 1, fitted on the training split"
    )
    one_hot: bool = Field(False, description="turn class-index labels into one-hot vectors")
    reshape: bool = Field(False, description="reshape each sample to the declared input shape")
    lr_schedule: Schedule | None = Field(None, description="learning-rate schedule, per epoch")
    early_stopping: int | None = Field(
        None, gt=0, description="stop after this many epochs without improvement"
    )
    monitor: str | None = Field(
        None,
        description="the figure early stopping, reduce_on_plateau and the best checkpoint watch "
        "(loss, val_accuracy, …): val_loss with validation data, else loss, when left out",
    )
    min_delta: float = Field(
        0.0,
        ge=0,
        description="the least change of the monitored figure that counts as an improvement",
    )
    restore_best: bool = Field(
        False, description="the final weights are the best epoch's by `monitor`, not the last's"
    )
    keep_checkpoints: int = Field(
        2, gt=0, description="the last epochs whose checkpoints stay (besides the best epoch's)"
    )
    clip_norm: float | None = Field(
        None, gt=0, description="rescale gradients whose global norm exceeds this"
    )
    class_weight: tuple[float, ...] | None = Field(
        None, description="a weight per class that scales each sample's loss (Keras' class_weight)"
    )
    threads: int | None = Field(
        None, gt=0, description="CPU threads for PyTorch; all available cores when left out"
    )
    pipeline: typing.Literal["auto", "memory", "stream"] = Field(
        "auto",
        description="memory: the whole set as tensors on the device; stream: batches read "
        "while training; auto: memory when it fits the budget",
    )
    workers: int | None = Field(
        None, ge=0, description="processes that read streamed batches; chosen by source when left out"
    )
    precision: typing.Literal["fp32", "bf16", "fp16"] = Field(
        "fp32", description="fp32, or mixed precision: bf16 or fp16 compute, fp32 weights and loss"
    )
    compile: bool = Field(
        False, description="compile the model (PyTorch torch.compile, Keras jit_compile)"
    )
    tf32: bool = Field(
        True, description="TensorFloat-32 matrix products on GPUs that have them (Ampere and newer)"
    )
    sync_batchnorm: bool = Field(
        False,
        description="data-parallel runs: BatchNormalization uses the statistics of the global "
        "batch (SyncBatchNorm) instead of each worker's share",
    )
    on_nan: typing.Literal["stop", "skip"] = Field(
        "stop",
        description="a step whose loss is NaN or infinite: stop the run there (its last "
        "checkpoint kept), or skip that step's update and go on",
    )
    lr_scaling: typing.Literal["none", "linear"] = Field(
        "none",
        description="data-parallel runs: linear multiplies the learning rate by the number of "
        "workers, for a global batch grown with them",
    )

    @property
    def has_validation(self) -> bool:
        """Whether training reports val_ figures: a validation split, or a source's own set."""
        own = self.data is not None and getattr(self.data.params, "validation", None) is not None
        return self.validation_split > 0 or own


class Model(Node):
    """A checked model: what both code generators lower, with nothing left implicit.

    The layers are a graph in topological order (each reads only inputs and earlier
    layers); a chain is the graph where each layer reads the one before. `losses` holds one
    loss per output, in the order of `outputs`.
    """

    ir_version: int = IR_VERSION
    name: str
    source: str
    inputs: list[Input]
    layers: list[Layer]
    outputs: list[str]
    losses: list[Loss]
    optimizer: Optimizer
    metrics: list[Metric]
    train: TrainConfig

    @property
    def loss(self) -> Loss:
        """The loss of the first output: the model's one loss unless it has several outputs."""
        return self.losses[0]

    @property
    def single_io(self) -> bool:
        """One input and one output: data as arrays, not tuples, in the generated loops."""
        return len(self.inputs) == 1 and len(self.outputs) == 1

    @property
    def is_chain(self) -> bool:
        """One input, one output, and each layer reads the one before it (or the input)."""
        previous = self.inputs[0].name
        for layer in self.layers:
            if layer.inputs != [previous]:
                return False
            previous = layer.name
        return len(self.inputs) == 1 and self.outputs == [previous]

    def shape_of(self, tensor: str) -> Shape:
        """The per-sample shape of a model input or a layer's output."""
        for source in self.inputs:
            if source.name == tensor:
                return source.shape
        return next(layer.output_shape for layer in self.layers if layer.name == tensor)

    @property
    def figures(self) -> list[str]:
        """The figures training reports each epoch, named as both targets name them: the loss,
        each output's loss (several outputs), each metric (prefixed by its output's name with
        several outputs, as Keras names them); validation adds each with `val_`."""
        if len(self.outputs) == 1:
            return ["loss", *(metric.kind for metric in self.metrics)]
        return [
            "loss",
            *(f"{output}_loss" for output in self.outputs),
            *(f"{metric.output}_{metric.kind}" for metric in self.metrics),
        ]

    @property
    def trainable_params(self) -> int:
        return sum(layer.trainable_params for layer in self.layers)

    @property
    def non_trainable_params(self) -> int:
        return sum(layer.non_trainable_params for layer in self.layers)

    @property
    def output_shape(self) -> Shape:
        """The shape of the first output: the model's one output unless it has several."""
        return self.shape_of(self.outputs[0])
