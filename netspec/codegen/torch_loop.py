"""The training loop written into a generated PyTorch module.

It is the loop a careful person writes for data that fits in memory: the whole dataset lives
on the device as two tensors; each epoch draws one permutation and slices batches by index;
the loss and metric sums stay on the device, so the host waits once per epoch rather than
once per step. `netspec train` runs exactly this code.

A model with several inputs or outputs gets the same loop over tuples: x holds a tensor per
input, y one per output (in the spec's order); batches index every tensor with one index,
and the figures are the total loss, each output's loss (`<output>_loss`) and each metric
(`<output>_<metric>`), as Keras reports them.
"""

from __future__ import annotations

from netspec import catalogue, ir
from netspec.catalogue.base import Code, PyCall
from netspec.codegen.common import single_io
from netspec.codegen.training import TrainingPlan, plan, write_schedule_factor
from netspec.codegen.writer import Writer, literal

_PREPARE = '''def prepare(model: nn.Module, device: torch.device | str = "cpu") -> nn.Module:
    """Move the model to `device`{memory_doc}."""
    return model.to({to_args})'''

_TRAIN_EPOCH_HEAD = '''def train_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    order: torch.Tensor,
    on_step: Callable[[int, torch.Tensor], None] | None = None,
) -> dict[str, float]:
    """One pass over (x, y) in the given order; returns the epoch's mean loss and metrics.

    `on_step(step, sums)` may watch progress: `sums[0]` is the running loss sum, on the device.
    """
    model.train()
    metrics = build_metrics()
    sums = x.new_zeros(len(metrics) + 1)  # loss, then each metric, summed over samples
    for step, start in enumerate(range(0, len(order), batch_size)):
        index = order[start : start + batch_size]
        x_batch, y_batch = x[index], y[index]
        y_pred = model(x_batch)
        loss = loss_fn(y_pred, y_batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()'''

_TRAIN_EPOCH_TAIL = '''        optimizer.step()
        with torch.no_grad():
            figures = [loss.detach(), *(metric(y_pred, y_batch) for metric in metrics.values())]
            sums += torch.stack(figures) * len(index)
        if on_step is not None:
            on_step(step, sums)
    means = (sums / len(order)).tolist()  # the epoch's one wait for the device
    return dict(zip(["loss", *metrics], means))


@torch.no_grad()
def evaluate(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int = 1024,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
) -> dict[str, float]:
    """Mean loss and metrics over (x, y), in inference mode."""
    model.eval()
    loss_fn = loss_fn or build_loss()
    metrics = build_metrics()
    sums = x.new_zeros(len(metrics) + 1)
    for start in range(0, len(x), batch_size):
        x_batch, y_batch = x[start : start + batch_size], y[start : start + batch_size]
        y_pred = model(x_batch)
        figures = [loss_fn(y_pred, y_batch), *(m(y_pred, y_batch) for m in metrics.values())]
        sums += torch.stack(figures) * len(x_batch)
    return dict(zip(["loss", *metrics], (sums / len(x)).tolist()))


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """The model's outputs for x, in inference mode."""
    model.eval()
    batches = [model(x[start : start + batch_size]) for start in range(0, len(x), batch_size)]
    return torch.cat(batches)'''

_TRAIN_EPOCH_HEAD_TUPLES = '''def train_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]], torch.Tensor],
    x: tuple[torch.Tensor, ...],
    y: tuple[torch.Tensor, ...],
    batch_size: int,
    order: torch.Tensor,
    on_step: Callable[[int, torch.Tensor], None] | None = None,
) -> dict[str, float]:
    """One pass over (x, y) in the given order; returns the epoch's mean loss and metrics.

    x holds a tensor per input and y one per output, in the spec's order. `on_step(step,
    sums)` may watch progress: `sums[0]` is the running loss sum, on the device.
    """
    model.train()
    losses, metrics = build_output_losses(), build_metrics()
    figures_of = {**losses, **metrics}  # each output's loss, then each metric
    sums = x[0].new_zeros(len(figures_of) + 1)  # the total loss first, summed over samples
    for step, start in enumerate(range(0, len(order), batch_size)):
        index = order[start : start + batch_size]
        x_batch, y_batch = [t[index] for t in x], [t[index] for t in y]
        y_pred = {call}
        loss = loss_fn(y_pred, y_batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()'''

_TRAIN_EPOCH_TAIL_TUPLES = '''        optimizer.step()
        with torch.no_grad():
            figures = [loss.detach(), *(f(y_pred[i], y_batch[i]) for i, f in figures_of.values())]
            sums += torch.stack(figures) * len(index)
        if on_step is not None:
            on_step(step, sums)
    means = (sums / len(order)).tolist()  # the epoch's one wait for the device
    return dict(zip(["loss", *figures_of], means, strict=True))


@torch.no_grad()
def evaluate(
    model: nn.Module,
    x: tuple[torch.Tensor, ...],
    y: tuple[torch.Tensor, ...],
    batch_size: int = 1024,
    loss_fn: Callable[[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]], torch.Tensor]
    | None = None,
) -> dict[str, float]:
    """Mean loss, each output's loss and the metrics over (x, y), in inference mode."""
    model.eval()
    loss_fn = loss_fn or build_loss()
    figures_of = {**build_output_losses(), **build_metrics()}
    sums = x[0].new_zeros(len(figures_of) + 1)
    samples = len(x[0])
    for start in range(0, samples, batch_size):
        x_batch = [t[start : start + batch_size] for t in x]
        y_batch = [t[start : start + batch_size] for t in y]
        y_pred = {call}
        figures = [loss_fn(y_pred, y_batch)]
        figures += [f(y_pred[i], y_batch[i]) for i, f in figures_of.values()]
        sums += torch.stack(figures) * len(x_batch[0])
    return dict(zip(["loss", *figures_of], (sums / samples).tolist(), strict=True))


@torch.no_grad()
def predict(
    model: nn.Module, x: tuple[torch.Tensor, ...], batch_size: int = 1024
) -> tuple[torch.Tensor, ...]:
    """The model's outputs for x (a tensor per output, in order), in inference mode."""
    model.eval()
    batches = []
    for start in range(0, len(x[0]), batch_size):
        x_batch = [t[start : start + batch_size] for t in x]
        batches.append({call})
    return tuple(torch.cat(parts) for parts in zip(*batches, strict=True))'''

_EARLY_STOPPING = '''

def epochs_without_improvement(values: list[float]) -> int:
    """Epochs since the lowest value (the first one, on ties)."""
    best = min(range(len(values)), key=values.__getitem__)
    return len(values) - 1 - best'''


def uses_math(model: ir.Model) -> bool:
    """Whether the loop's code calls `math` (a cosine schedule does)."""
    factor = plan(model).schedule_factor
    return factor is not None and "math." in factor


def write(w: Writer, model: ir.Model) -> None:
    training = plan(model)
    config = model.train
    w.line()
    w.line()
    if training.has_convolutions:
        memory_doc = "; convolutions run faster with channels-last memory on CPUs"
        to_args = "device=device, memory_format=torch.channels_last"
    else:
        memory_doc = ""
        to_args = "device"
    w.lines(_PREPARE.format(memory_doc=memory_doc, to_args=to_args))
    if training.schedule is not None:
        _write_scheduler(w, training)
    if training.early_stopping is not None:
        w.lines(_EARLY_STOPPING)
    tuples = not single_io(model)
    # forward() returns a tensor for one output: the loop takes a tuple of one
    call = "model(*x_batch)" if len(model.outputs) > 1 else "(model(*x_batch),)"
    w.line()
    w.line()
    w.lines(_TRAIN_EPOCH_HEAD_TUPLES.replace("{call}", call) if tuples else _TRAIN_EPOCH_HEAD)
    with w.indent(), w.indent():
        if training.clip_norm is not None:
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
    w.lines(_TRAIN_EPOCH_TAIL_TUPLES.replace("{call}", call) if tuples else _TRAIN_EPOCH_TAIL)
    _write_fit(w, training, config, tuples)


def _write_scheduler(w: Writer, training: TrainingPlan) -> None:
    assert training.schedule is not None
    if training.schedule_factor is not None:
        write_schedule_factor(w, training)
        build = PyCall(
            "torch.optim.lr_scheduler.LambdaLR", (Code("optimizer"), Code("learning_rate_factor"))
        )
        returns = "torch.optim.lr_scheduler.LambdaLR"
    else:
        entry = catalogue.lookup("schedule", training.schedule.kind)
        assert entry is not None
        build = entry().torch(training.schedule.params)  # type: ignore[attr-defined]
        returns = "torch.optim.lr_scheduler.ReduceLROnPlateau"
    w.line()
    w.line()
    w.line(f"def build_scheduler(optimizer: torch.optim.Optimizer) -> {returns}:")
    with w.indent():
        w.docstring("The spec's learning-rate schedule, stepped once per epoch.")
        w.call("return ", build)


def _write_fit(
    w: Writer, training: TrainingPlan, config: ir.TrainConfig, tuples: bool = False
) -> None:
    arrays = "tuple[torch.Tensor, ...]" if tuples else "torch.Tensor"
    w.line()
    w.line()
    w.line("def fit(")
    with w.indent():
        for line in (
            "model: nn.Module,",
            f"x: {arrays},",
            f"y: {arrays},",
            "*,",
            f"epochs: int = {literal(config.epochs)},",
            f"batch_size: int = {literal(config.batch_size)},",
            f"validation_data: tuple[{arrays}, {arrays}] | None = None,",
            f"shuffle: bool = {literal(config.shuffle)},",
            f"seed: int = {literal(config.seed)},",
            "optimizer: torch.optim.Optimizer | None = None,",
        ):
            w.line(line)
        if training.schedule is not None:
            w.line("scheduler: object | None = None,")
        for line in (
            "initial_epoch: int = 0,",
            "history: dict[str, list[float]] | None = None,",
            "on_step: Callable[[int, torch.Tensor], None] | None = None,",
            "on_epoch_end: Callable[[int, dict[str, float]], bool | None] | None = None,",
        ):
            w.line(line)
    w.line(") -> dict[str, list[float]]:")
    with w.indent():
        w.docstring(
            "Train as the spec says; returns every epoch's figures by name.\n\n"
            "Epoch e visits the samples in an order drawn from (seed, e) alone, and dropout\n"
            "draws from the same seed, so a run resumed at epoch e (with its optimizer state\n"
            "and history) repeats the uninterrupted one. `on_epoch_end` returning True stops."
        )
        w.line("optimizer = optimizer or build_optimizer(model.parameters())")
        if training.schedule is not None:
            w.line("scheduler = scheduler or build_scheduler(optimizer)")
        w.line("loss_fn = build_loss()")
        w.line("history = {key: list(values) for key, values in (history or {}).items()}")
        first = "x[0]" if tuples else "x"
        w.line(f"generator = torch.Generator(device={first}.device)")
        w.line("for epoch in range(initial_epoch, epochs):")
        with w.indent():
            w.line("generator.manual_seed(seed + epoch)")
            w.line("torch.manual_seed(seed + epoch)")
            w.line("if shuffle:")
            with w.indent():
                w.line(
                    f"order = torch.randperm(len({first}), generator=generator, "
                    f"device={first}.device)"
                )
            w.line("else:")
            with w.indent():
                w.line(f"order = torch.arange(len({first}), device={first}.device)")
            w.line(
                "logs = train_epoch(model, optimizer, loss_fn, x, y, batch_size, order, on_step)"
            )
            w.line("if validation_data is not None:")
            with w.indent():
                w.line("figures = evaluate(model, *validation_data, loss_fn=loss_fn)")
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
            w.line("stop = bool(on_epoch_end(epoch, logs)) if on_epoch_end is not None else False")
            if training.early_stopping is not None:
                monitor = literal(training.monitor)
                patience = literal(training.early_stopping)
                w.line(f"if epochs_without_improvement(history[{monitor}]) >= {patience}:")
                with w.indent():
                    w.line("stop = True  # early stopping")
            w.line("if stop:")
            with w.indent():
                w.line("break")
        w.line("return history")
