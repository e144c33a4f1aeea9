"""The training loop written into a generated PyTorch module.

It is the loop a careful person writes. `train_epoch` runs the steps over an iterable of
batches; `fit` feeds it from one of two pipelines that visit the samples in one order,
`epoch_order(samples, seed, epoch)`:

* in memory — the whole dataset lives on the device as tensors; each epoch slices batches
  by index (`memory_batches`): no copies, no workers;
* streamed — a batch source is read by a `DataLoader` (`make_loader`) with worker
  processes and pinned memory; batches reach the device with non-blocking copies
  (`loader_batches`).

The loss and metric sums stay on the device, so the host waits once per epoch rather than
once per step. With mixed precision (`precision = bf16 | fp16`) the forward pass runs under
`torch.autocast`, the loss and metrics in float32 (the layers that make the outputs run
with autocast off), and fp16 scales the loss with a `GradScaler`. `netspec train` runs
exactly this code.

Under torchrun the same functions train data-parallel (`setup_distributed`, `distribute`,
`shard`, `loss_share`, `all_reduced`, copied from snippets/torch_distributed.py): the spec's
batch_size is the global batch, worker k takes every N-th sample of each, DDP averages the
gradients and the figures are summed over the workers, so N workers take the steps and report
the figures one process would.

A model with several inputs or outputs gets the same loop over tuples: x holds a tensor per
input, y one per output (in the spec's order); batches index every tensor with one index,
and the figures are the total loss, each output's loss (`<output>_loss`) and each metric
(`<output>_<metric>`), as Keras reports them.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

from netspec import catalogue, ir
from netspec.codegen.snippets import definition
from netspec.codegen.training import TrainingPlan, plan, write_schedule_factor
from netspec.codegen.writer import LINE_LENGTH, Writer, literal
from netspec.pycode import Code, PyCall

# torch dtypes of the mixed precisions; fp32 has none (no autocast)
AUTOCAST_DTYPES = {"bf16": "torch.bfloat16", "fp16": "torch.float16"}

@dataclass(frozen=True)
class _Shapes:
    """The words of the loop that differ between one input and output and several."""

    tuples: bool
    arrays: str  # the type of x and y
    call: str  # the forward call on a batch
    count: str  # the number of samples of a batch
    figures: str  # the figure functions' dict, and how each is called
    loss_type: str
    outputs: int = 1

    @classmethod
    def of(cls, model: ir.Model) -> _Shapes:
        if model.single_io:
            return cls(
                False,
                "torch.Tensor",
                "model(x_batch)",
                "len(y_batch)",
                "metrics",
                "Callable[[torch.Tensor, torch.Tensor], torch.Tensor]",
            )
        # forward() returns a tensor for one output: the loop takes a tuple of one
        call = "model(*x_batch)" if len(model.outputs) > 1 else "(model(*x_batch),)"
        return cls(
            True,
            "tuple[torch.Tensor, ...]",
            call,
            "len(y_batch[0])",
            "figures_of",
            "Callable[[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]], torch.Tensor]",
            len(model.outputs),
        )


def _optional(parameter: str) -> str:
    """`parameter | None = None`, on two lines where ruff format breaks it (too wide)."""
    if len(f"    {parameter} | None = None,") <= LINE_LENGTH:
        return f"{parameter} | None = None"
    return f"{parameter}\n| None = None"


def uses_math(model: ir.Model) -> bool:
    """Whether the loop's code calls `math` (a cosine schedule does, and on_nan = skip)."""
    factor = plan(model).schedule_factor
    return (factor is not None and "math." in factor) or model.train.on_nan == "skip"


def autocast_dtype(config: ir.TrainConfig) -> str | None:
    """The torch dtype of the spec's mixed precision; None for fp32."""
    return AUTOCAST_DTYPES.get(config.precision)


def write(w: Writer, model: ir.Model) -> None:
    training = plan(model)
    config = model.train
    shapes = _Shapes.of(model)
    w.line()
    w.line()
    _write_prepare(w, training, config)
    if training.schedule is not None:
        _write_scheduler(w, training)
    if training.early_stopping is not None or training.restore_best:
        w.line()
        w.line()
        w.lines(definition("monitor", "best_epoch"))
    _write_distributed(w)
    w.line()
    w.line()
    w.lines(definition("nonfinite", "NonFiniteLoss"))
    _write_data(w, shapes)
    _write_arrays(w, shapes)
    _write_train_epoch(w, training, config, shapes)
    _write_evaluate(w, config, shapes)
    _write_predict(w, config, shapes)
    _write_fit(w, training, config, shapes)


def _write_prepare(w: Writer, training: TrainingPlan, config: ir.TrainConfig) -> None:
    memory = training.has_convolutions
    w.line('def prepare(model: nn.Module, device: torch.device | str = "cpu") -> nn.Module:')
    with w.indent():
        notes = ["Move the model to `device`"]
        if memory:
            notes.append("convolutions run faster with channels-last memory on CPUs")
        notes.append(
            "on a GPU, float32 products use TF32 tensor cores"
            if config.tf32
            else "on a GPU, float32 products stay IEEE float32 (no TF32)"
        )
        if config.compile:
            notes.append("the model is compiled (torch.compile)")
        w.docstring("\n".join(textwrap.wrap("; ".join(notes) + ".", 88)))
        w.line("device = torch.device(device)")
        w.line('if device.type == "cuda":')
        with w.indent():
            precision = literal("tf32" if config.tf32 else "ieee")
            w.line(f"torch.backends.cuda.matmul.fp32_precision = {precision}")
            w.line(f"torch.backends.cudnn.conv.fp32_precision = {precision}")
        if memory:
            w.line("model = model.to(device=device, memory_format=torch.channels_last)")
        else:
            w.line("model = model.to(device)")
        if config.compile:
            w.line("model.compile()")
        w.line("return model")


DISTRIBUTED = (
    "setup_distributed",
    "worker_device",
    "world_position",
    "distribute",
    "shard",
    "loss_share",
    "all_reduced",
)


def _write_distributed(w: Writer) -> None:
    """The data-parallel functions: the identity for one process."""
    for name in DISTRIBUTED:
        w.line()
        w.line()
        w.lines(definition("torch_distributed", name))


def _write_data(w: Writer, shapes: _Shapes) -> None:
    """sample_order (shared with Keras), epoch_order, the sampler and the loader, then the batches of both pipelines."""
    w.line()
    w.line()
    w.lines(definition("order", "sample_order"))
    for name in ("epoch_order", "EpochSampler", "make_loader"):
        w.line()
        w.line()
        w.lines(definition("torch_data", name))
    source = "torch_data_tuples" if shapes.tuples else "torch_data"
    for name in ("memory_batches", "source_batches", "loader_batches", "inference_batches"):
        w.line()
        w.line()
        w.lines(definition(source, name))


def _write_arrays(w: Writer, shapes: _Shapes) -> None:
    """memory_tensors: NumPy arrays, lists or tensors as fit, evaluate and predict take them."""
    definitions = [("torch_arrays", "as_tensor"), ("torch_arrays", "is_array")]
    if shapes.tuples:
        definitions += [("torch_arrays_tuples", "tensors"), ("torch_arrays_tuples", "memory_tensors")]
    else:
        definitions.append(("torch_arrays", "memory_tensors"))
    for file, name in definitions:
        w.line()
        w.line()
        w.lines(definition(file, name))


def _cast(shapes: _Shapes, data: str) -> str:
    """`memory_tensors(x, y, device, …)` of `data` ("x, y"), with the module's dtypes."""
    dtypes = "INPUT_DTYPES, TARGET_DTYPES" if shapes.tuples else "INPUT_DTYPE, TARGET_DTYPE"
    return f"memory_tensors({data}, device, {dtypes})"


def _forward(w: Writer, config: ir.TrainConfig, shapes: _Shapes, into: str = "y_pred") -> None:
    """`y_pred = model(x_batch)`, under autocast with mixed precision."""
    dtype = autocast_dtype(config)
    if dtype is None:
        w.line(f"{into} = {shapes.call}")
        return
    device = "x_batch[0].device.type" if shapes.tuples else "x_batch.device.type"
    w.line(f"with torch.autocast({device}, dtype={dtype}):")
    with w.indent():
        w.line(f"{into} = {shapes.call}")


def _write_train_epoch(
    w: Writer, training: TrainingPlan, config: ir.TrainConfig, shapes: _Shapes
) -> None:
    fp16 = config.precision == "fp16"
    w.line()
    w.line()
    parameters = [
        "model: nn.Module",
        "optimizer: torch.optim.Optimizer",
        f"loss_fn: {shapes.loss_type}",
        f"batches: Iterable[tuple[{shapes.arrays}, {shapes.arrays}]]",
        "on_step: Callable[[int, torch.Tensor], None] | None = None",
    ]
    if fp16:
        parameters.append("scaler: torch.amp.GradScaler | None = None")
    parameters += ["*", "batch_size: int = 0", "samples: int = 0", "epoch: int = 0"]
    if config.on_nan == "skip":
        parameters.append("on_skip: Callable[[int, int, float], None] | None = None")
    w.signature("train_epoch", parameters, "dict[str, float]")
    with w.indent():
        doc = (
            "One pass over the batches; returns the epoch's mean loss and metrics.\n\n"
            "`on_step(step, sums)` may watch progress: `sums[0]` is the running loss sum, on "
            "the device."
        )
        if shapes.tuples:
            doc += "\nx holds a tensor per input and y one per output, in the spec's order."
        if fp16:
            doc += "\nThe loss is scaled by `scaler` (float16 gradients would underflow)."
        if config.on_nan == "skip":
            doc += (
                "\non_nan = skip: a step whose loss is NaN or infinite updates nothing (nor the moving\n"
                "statistics) and counts in no figure; `on_skip(epoch, step, loss)` hears of it."
            )
        else:
            doc += "\non_nan = stop: a NaN or infinite loss raises NonFiniteLoss before its update."
        doc += (
            "\nUnder torchrun `model` is the DistributedDataParallel one, the batches are this\n"
            "worker's shards of global batches of `batch_size` out of `samples`, and the\n"
            "figures are summed over the workers."
        )
        w.docstring(doc)
        w.line("model.train()")
        if shapes.tuples:
            if shapes.outputs == 1:
                w.line("figures_of = build_metrics()  # one output: its loss is the loss")
            else:
                w.line("losses, metrics = build_output_losses(), build_metrics()")
                w.line("figures_of = {**losses, **metrics}  # each output's loss, then each metric")
        else:
            w.line("metrics = build_metrics()")
        w.line("_, workers = world_position()")
        w.line("device = next(model.parameters()).device")
        w.line(f"sums = torch.zeros(1 + len({shapes.figures}), device=device)  # loss, then each figure")
        w.line("samples_seen = 0  # by this worker")
        w.line("for step, (x_batch, y_batch) in enumerate(batches):")
        with w.indent():
            w.line(f"count = {shapes.count}")
            if config.on_nan == "skip":
                w.line("kept = [b.detach().clone() for b in model.buffers()]  # BatchNormalization's statistics")
            _forward(w, config, shapes)
            w.line("loss = loss_fn(y_pred, y_batch)")
            _write_finite_check(w, config)
            w.line("step_loss = loss  # what backward() differentiates")
            w.line("if workers > 1:  # DDP averages the workers' gradients: weigh this one's share")
            with w.indent():
                zero = "sum(p.sum() for p in y_pred)" if shapes.tuples else "y_pred.sum()"
                w.line("share = loss_share(step, count, batch_size, samples)")
                w.line(f"step_loss = loss * share if count else {zero} * 0.0")
            w.line("optimizer.zero_grad(set_to_none=True)")
            w.line("scaler.scale(step_loss).backward()" if fp16 else "step_loss.backward()")
            if training.clip_norm is not None:
                if fp16:
                    w.line("scaler.unscale_(optimizer)  # clip the true gradients")
                w.call(
                    "",
                    PyCall(
                        "nn.utils.clip_grad_norm_",
                        (Code("model.parameters()"),),
                        {"max_norm": training.clip_norm},
                    ),
                )
            if training.loop_weight_decay > 0:
                decay = literal(training.loop_weight_decay)
                w.line("with torch.no_grad():  # decoupled weight decay: w -= lr · weight_decay · w")
                with w.indent():
                    w.line("for group in optimizer.param_groups:")
                    with w.indent():
                        w.line(f'torch._foreach_mul_(group["params"], 1.0 - group["lr"] * {decay})')
            if fp16:
                w.line("scaler.step(optimizer)  # skipped when the scaled gradients overflowed")
                w.line("scaler.update()")
            else:
                w.line("optimizer.step()")
            w.line("if count:  # (a worker's share of the last batch may be empty)")
            with w.indent():
                w.line("with torch.no_grad():")
                with w.indent():
                    w.line("figures = [loss.detach()]")
                    if shapes.tuples:
                        w.line("figures += [f(y_pred[i], y_batch[i]) for i, f in figures_of.values()]")
                    else:
                        w.line("figures += [metric(y_pred, y_batch) for metric in metrics.values()]")
                    w.line("sums += torch.stack(figures) * count")
                w.line("samples_seen += count")
            w.line("if on_step is not None:")
            with w.indent():
                w.line("on_step(step, sums)")
        w.line("samples_seen = torch.tensor(float(samples_seen), device=device)")
        w.line("means = (all_reduced(sums) / all_reduced(samples_seen)).tolist()  # one wait an epoch")
        w.line(f"return dict(zip([\"loss\", *{shapes.figures}], means, strict=True))")


def _write_finite_check(w: Writer, config: ir.TrainConfig) -> None:
    """on_nan: one wait a step for the loss's finiteness (all workers alike), then stop
    before the update (NonFiniteLoss) or skip the step."""
    w.line("finite = torch.isfinite(loss.detach())")
    w.line("if not count:  # a worker's empty share of the last batch: its loss is no figure")
    with w.indent():
        w.line("finite = torch.ones((), dtype=torch.bool, device=device)")
    w.line("if workers > 1:  # every worker stops or skips alike")
    with w.indent():
        w.line("finite = all_reduced(finite.float()) == workers")
    w.line(f"if not finite:  # on_nan = {config.on_nan}")
    with w.indent():
        if config.on_nan == "skip":
            w.line("with torch.no_grad():  # as before this step's forward pass")
            with w.indent():
                w.line("for buffer, value in zip(model.buffers(), kept, strict=True):")
                with w.indent():
                    w.line("buffer.copy_(value)")
            w.line("if on_skip is not None:")
            with w.indent():
                w.line("on_skip(epoch + 1, step + 1, float(loss.detach()))")
            w.line("continue")
        else:
            w.line("raise NonFiniteLoss(float(loss.detach()), epoch + 1, step + 1)")


def _write_evaluate(w: Writer, config: ir.TrainConfig, shapes: _Shapes) -> None:
    w.line()
    w.line()
    w.line("@torch.no_grad()")
    w.signature(
        "evaluate",
        (
            "model: nn.Module",
            "x: object",
            f"y: {shapes.arrays} | None = None",
            "batch_size: int = 1024",
            _optional(f"loss_fn: {shapes.loss_type}"),
            "workers: int = 0",
        ),
        "dict[str, float]",
    )
    with w.indent():
        what = "loss, each output's loss and the metrics" if shapes.tuples else "loss and metrics"
        w.docstring(
            f"Mean {what} in inference mode, over arrays (x, y) or over\n"
            "a batch source x (y None), read by `workers` processes. Under torchrun each\n"
            "worker evaluates its shard of every batch and the figures are summed over them."
        )
        w.line("model.eval()")
        w.line("loss_fn = loss_fn or build_loss()")
        if shapes.tuples:
            if shapes.outputs == 1:
                w.line("figures_of = build_metrics()  # one output: its loss is the loss")
            else:
                w.line("figures_of = {**build_output_losses(), **build_metrics()}")
        else:
            w.line("metrics = build_metrics()")
        w.line("device = next(model.parameters()).device")
        w.line(f"x, y = {_cast(shapes, 'x, y')}")
        w.line(f"sums, samples = torch.zeros(1 + len({shapes.figures}), device=device), 0")
        w.line("for x_batch, y_batch in inference_batches(x, y, batch_size, device, workers):")
        with w.indent():
            w.line(f"count = {shapes.count}")
            w.line("if count == 0:  # this worker's share of a last, small batch")
            with w.indent():
                w.line("continue")
            _forward(w, config, shapes)
            w.line("figures = [loss_fn(y_pred, y_batch)]")
            if shapes.tuples:
                w.line("figures += [f(y_pred[i], y_batch[i]) for i, f in figures_of.values()]")
            else:
                w.line("figures += [metric(y_pred, y_batch) for metric in metrics.values()]")
            w.line("sums += torch.stack(figures) * count")
            w.line("samples += count")
        w.line("means = all_reduced(sums) / all_reduced(torch.tensor(float(samples), device=device))")
        w.line(f"return dict(zip([\"loss\", *{shapes.figures}], means.tolist(), strict=True))")


def _write_predict(w: Writer, config: ir.TrainConfig, shapes: _Shapes) -> None:
    w.line()
    w.line()
    w.line("@torch.no_grad()")
    returns = "tuple[torch.Tensor, ...]" if shapes.tuples else "torch.Tensor"
    w.function(
        "predict",
        ["model: nn.Module", "x: object", "batch_size: int = 1024", "workers: int = 0"],
        returns,
    )
    with w.indent():
        what = " (a tensor per output, in order)" if shapes.tuples else ""
        w.docstring(f"The model's outputs{what} for arrays x or a batch source x, in inference mode.")
        w.line("model.eval()")
        w.line("device = next(model.parameters()).device")
        w.line(f"x, _ = {_cast(shapes, 'x, None')}")
        w.line("batches = []")
        w.line("for x_batch, _ in inference_batches(x, None, batch_size, device, workers):")
        with w.indent():
            _forward(w, config, shapes, into="y_pred")
            w.line("batches.append(y_pred)")
        if shapes.tuples:
            w.line("return tuple(torch.cat(parts) for parts in zip(*batches, strict=True))")
        else:
            w.line("return torch.cat(batches)")


def _write_scheduler(w: Writer, training: TrainingPlan) -> None:
    assert training.schedule is not None
    if training.schedule_factor is not None:
        write_schedule_factor(w, training)
        build = PyCall(
            "torch.optim.lr_scheduler.LambdaLR", (Code("optimizer"), Code("learning_rate_factor"))
        )
        returns = "torch.optim.lr_scheduler.LambdaLR"
    else:
        entry = catalogue.schedule(training.schedule.kind)
        build = entry.torch(training.schedule.params, training.mode)
        returns = "torch.optim.lr_scheduler.ReduceLROnPlateau"
    w.line()
    w.line()
    w.line(f"def build_scheduler(optimizer: torch.optim.Optimizer) -> {returns}:")
    with w.indent():
        w.docstring("The spec's learning-rate schedule, stepped once per epoch.")
        w.call("return ", build)


def _write_fit(
    w: Writer, training: TrainingPlan, config: ir.TrainConfig, shapes: _Shapes
) -> None:
    fp16 = config.precision == "fp16"
    arrays = shapes.arrays
    w.line()
    w.line()
    parameters = [
        "model: nn.Module",
        "x: object",
        f"y: {arrays} | None = None",
        "*",
        f"epochs: int = {literal(config.epochs)}",
        f"batch_size: int = {literal(config.batch_size)}",
        "validation_data: object | None = None",
        f"shuffle: bool = {literal(config.shuffle)}",
        f"seed: int = {literal(config.seed)}",
        "workers: int = 0",
        "optimizer: torch.optim.Optimizer | None = None",
    ]
    if training.schedule is not None:
        parameters.append("scheduler: object | None = None")
    if fp16:
        parameters.append("scaler: torch.amp.GradScaler | None = None")
    parameters += [
        "initial_epoch: int = 0",
        "history: dict[str, list[float]] | None = None",
        "on_step: Callable[[int, torch.Tensor], None] | None = None",
        "on_epoch_end: Callable[[int, dict[str, float]], bool | None] | None = None",
    ]
    if config.on_nan == "skip":
        parameters.append("on_skip: Callable[[int, int, float], None] | None = None")
    w.signature("fit", parameters, "dict[str, list[float]]")
    with w.indent():
        kind = (
            "tuples (or dicts by name) of tensors, NumPy arrays or lists"
            if shapes.tuples
            else "tensors, NumPy arrays or lists"
        )
        data = (
            f"x and y are {kind} (the data in memory, which memory_tensors casts onto the "
            "model's device), or x is a batch source, read through a DataLoader with "
            "`workers` processes (y None);"
        )
        w.docstring(
            "Train as the spec says; returns every epoch's figures by name.\n\n"
            + textwrap.fill(data, 84)
            + "\n"
            "validation_data is a pair (x, y) or a batch source. Epoch e visits the samples\n"
            "in epoch_order(samples, seed, e) either way, and dropout draws from the same\n"
            "seed, so a run resumed at epoch e (with its optimizer state and history)\n"
            "repeats the uninterrupted one. `on_epoch_end` returning True stops.\n\n"
            "Under torchrun (after setup_distributed) every worker calls fit with the same\n"
            "arguments: it trains the DistributedDataParallel model on its shard of each\n"
            "global batch, and every worker gets the figures of all the samples."
        )
        w.line("optimizer = optimizer or build_optimizer(model.parameters())")
        if training.schedule is not None:
            w.line("scheduler = scheduler or build_scheduler(optimizer)")
        w.line("device = next(model.parameters()).device")
        w.line(f"x, y = {_cast(shapes, 'x, y')}")
        w.line("if isinstance(validation_data, tuple):")
        with w.indent():
            w.line(f"validation_data = {_cast(shapes, '*validation_data')}")  # once, not per epoch
        if fp16:
            w.line("scaler = scaler or torch.amp.GradScaler(device.type)")
        w.line("loss_fn = build_loss()")
        w.line(f"trained = distribute(model, sync_batchnorm={literal(config.sync_batchnorm)})")
        w.line("history = {key: list(values) for key, values in (history or {}).items()}")
        memory_type = "tuple" if shapes.tuples else "torch.Tensor"
        w.line(f"streamed = not isinstance(x, {memory_type})")
        w.line("if streamed and workers > 0:")
        with w.indent():
            w.call(
                "loader = ",
                PyCall(
                    "make_loader",
                    (Code("x"),),
                    {
                        "batch_size": Code("batch_size"),
                        "seed": Code("seed"),
                        "shuffle": Code("shuffle"),
                        "workers": Code("workers"),
                        "pin_memory": Code('device.type == "cuda"'),
                    },
                ),
            )
        w.line("samples = len(x) if streamed else len(x[0])" if shapes.tuples else "samples = len(x)")
        w.line("validation = validation_data if isinstance(validation_data, tuple) else None")
        if training.restore_best:
            w.line("best_weights = None  # restore_best: the best epoch's weights so far, on the CPU")
        w.line("for epoch in range(initial_epoch, epochs):")
        with w.indent():
            w.line("torch.manual_seed(seed + epoch)")
            w.line("order = epoch_order(samples, seed, epoch, shuffle)")
            w.line("if streamed and workers > 0:  # read by worker processes")
            with w.indent():
                w.line("loader.sampler.set_epoch(epoch)")
                w.line("batches = loader_batches(loader, device)")
            w.line("elif streamed:  # read in this process")
            with w.indent():
                w.line("batches = source_batches(x, order, batch_size, device)")
            w.line("else:")
            with w.indent():
                w.line("batches = memory_batches(x, y, order, batch_size)")
            arguments = ["trained", "optimizer", "loss_fn", "batches", "on_step"]
            arguments += ["scaler"] if fp16 else []
            keywords = ["batch_size=batch_size", "samples=samples", "epoch=epoch"]
            keywords += ["on_skip=on_skip"] if config.on_nan == "skip" else []
            w.line("logs = train_epoch(")
            with w.indent():  # an argument a line, as ruff format writes it
                for argument in [*arguments, *keywords]:
                    w.line(f"{argument},")
            w.line(")")
            if config.on_nan == "skip":
                w.line("if not math.isfinite(logs[\"loss\"]):  # every step skipped: nothing trained")
                with w.indent():
                    w.line("raise NonFiniteLoss(logs[\"loss\"], epoch + 1, 0)")
            w.line("if validation_data is not None:")
            with w.indent():
                w.line("if validation is not None:")
                with w.indent():
                    w.line(
                        "figures = evaluate(model, *validation, loss_fn=loss_fn, workers=workers)"
                    )
                w.line("else:")
                with w.indent():
                    w.line(
                        "figures = evaluate(model, validation_data, loss_fn=loss_fn, "
                        "workers=workers)"
                    )
                w.line('logs.update({f"val_{name}": value for name, value in figures.items()})')
            w.line('logs["lr"] = optimizer.param_groups[0]["lr"]')
            w.line("for name, value in logs.items():")
            with w.indent():
                w.line("history.setdefault(name, []).append(value)")
            if training.schedule is not None:
                if training.schedule_factor is None:
                    w.line(f"scheduler.step(logs[{literal(training.monitor)}])")
                else:
                    w.line("scheduler.step()")
            if training.early_stopping is not None or training.restore_best:
                _write_monitor(w, training)
            w.line("stop = bool(on_epoch_end(epoch, logs)) if on_epoch_end is not None else False")
            if training.early_stopping is not None:
                patience = literal(training.early_stopping)
                w.line(f"if epochs_since_best >= {patience}:")
                with w.indent():
                    w.line(f"stop = True  # early stopping: {patience} epochs without improvement")
            w.line("if stop:")
            with w.indent():
                w.line("break")
        if training.restore_best:
            w.line("if best_weights is not None:  # restore_best = true")
            with w.indent():
                w.line("model.load_state_dict(best_weights)")
        w.line("return history")


def _write_monitor(w: Writer, training: TrainingPlan) -> None:
    """How many epochs ago the best one was, by the monitored figure (best_epoch's rule);
    with restore_best, a copy of the weights when it is this one."""
    rule = f"min_delta={literal(training.min_delta)}, higher={literal(training.higher_is_better)}"
    w.line(f"monitored = history[{literal(training.monitor)}]")
    w.line(f"epochs_since_best = len(monitored) - 1 - best_epoch(monitored, {rule})")
    if training.restore_best:
        w.line("if epochs_since_best == 0:")
        with w.indent():
            w.line("state = model.state_dict()")
            w.line("best_weights = {k: v.detach().to(\"cpu\", copy=True) for k, v in state.items()}")
