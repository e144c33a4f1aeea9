"""The `netspec` command line.

`check`, `summary`, `compile` and `schema` never import a deep-learning framework: they run
in milliseconds. Exit status: 0 when the spec is valid, 1 when it has errors, 2 for usage
errors (unknown option, missing file argument), 3 for an internal error (a bug in netspec,
netspec/internal_error.py).
"""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from netspec import __version__

if TYPE_CHECKING:
    from netspec import ir
    from netspec.diagnostics import Diagnostics

# Stages are imported inside the commands that use them, so `netspec --help` stays fast.

app = typer.Typer(
    name="netspec",
    help="Check a .net model spec and compile it to Keras or PyTorch.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Text from a spec or the command line (`":x:"`, `[bold]`, a path) is printed as it is: no
# markup, no emoji codes, no highlighting; colour comes only from `style=`.
stdout = Console(highlight=False, soft_wrap=True, markup=False, emoji=False)
stderr = Console(stderr=True, highlight=False, soft_wrap=True, markup=False, emoji=False)

SpecPath = Annotated[Path, typer.Argument(help="a .net spec file", show_default=False)]


class DiagnosticFormat(str, Enum):
    text = "text"
    json = "json"


class SummaryFormat(str, Enum):
    table = "table"
    json = "json"


class Target(str, Enum):
    keras = "keras"
    torch = "torch"


def _version(value: bool) -> None:
    if value:
        stdout.print(f"netspec {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="print the version")
    ] = False,
    debug: Annotated[  # read by netspec.entry from the command line, before any command runs
        bool,
        typer.Option("--debug", help="on an internal error (exit status 3), print the traceback too"),
    ] = False,
) -> None:
    """Check a .net model spec and compile it to Keras or PyTorch."""


def _report(diagnostics: Diagnostics, source: str | dict[str, str] | None) -> None:
    """Diagnostics to stderr; `source` is the spec's text, or texts by file name."""
    from netspec.check_command import report

    report(diagnostics, source)


def _load(
    path: Path,
    output: DiagnosticFormat = DiagnosticFormat.text,
    overrides: dict[str, str] | None = None,
) -> ir.Model:
    """A checked model (train settings overridden by `--set`), or exit 1 after reporting."""
    from netspec.diagnostics import render_json
    from netspec.frontend import check_file

    model, diagnostics, source = check_file(path, overrides)
    if model is not None:
        from netspec import memory

        memory.warn(model, diagnostics)  # W0232: larger than this machine's memory
    if overrides and source is not None:  # an override's diagnostics quote the option's text
        texts = source if isinstance(source, dict) else {str(path): source}
        source = {**texts, **{f"--{k.replace('_', '-')}": v for k, v in overrides.items()}}
    if output is DiagnosticFormat.text:
        _report(diagnostics, source)
    if model is None:
        if output is DiagnosticFormat.json:
            print(render_json(diagnostics))
        raise typer.Exit(_exit_status(diagnostics))
    return model


def _exit_status(diagnostics: Diagnostics) -> int:
    """2 when the spec file could not be read (a usage error), else 1."""
    from netspec.check_command import exit_status

    return exit_status(diagnostics)


@app.command()
def check(
    files: Annotated[list[Path], typer.Argument(help="one or more .net spec files")],
    format: Annotated[
        DiagnosticFormat, typer.Option("--format", "-f", help="how to print diagnostics")
    ] = DiagnosticFormat.text,
    emit_ir: Annotated[
        bool, typer.Option("--emit-ir", help="print the checked IR as JSON")
    ] = False,
) -> None:
    """Check specs: syntax, names, arguments, shapes, and the loss against the output."""
    from netspec.check_command import run  # also run without typer by netspec.entry

    status = run(files, format.value, emit_ir)
    if status:
        raise typer.Exit(status)


@app.command("fmt")
def fmt_files(
    files: Annotated[list[Path], typer.Argument(help=".net files or folders of them; - for stdin")],
    check: Annotated[
        bool, typer.Option("--check", help="change nothing; print a diff, exit 1 if unformatted")
    ] = False,
) -> None:
    """Rewrite .net files in the one canonical layout, comments kept (netspec/fmt.py)."""
    from netspec.fmt_command import run

    status = run(files, check)
    if status:
        raise typer.Exit(status)


@app.command()
def lsp() -> None:
    """Run the language server for editors: LSP over stdin/stdout (needs the lsp extra)."""
    from netspec.lsp import main

    status = main()
    if status:
        raise typer.Exit(status)


@app.command()
def summary(
    file: SpecPath,
    format: Annotated[
        SummaryFormat, typer.Option("--format", "-f", help="table for people, json for tools")
    ] = SummaryFormat.table,
) -> None:
    """Show each layer with its output shape and parameter count, and the totals."""
    from rich.table import Table

    from netspec.catalogue.shapes import fmt

    model = _load(file)
    trainable, frozen = model.trainable_params, model.non_trainable_params
    if format is SummaryFormat.json:
        data = {
            "model": model.name,
            "input": list(model.inputs[0].shape),
            "inputs": [{"name": i.name, "shape": list(i.shape)} for i in model.inputs],
            "outputs": model.outputs,
            "layers": [
                {
                    "name": layer.name,
                    "kind": layer.kind,
                    "inputs": layer.inputs,
                    "output_shape": list(layer.output_shape),
                    "params": layer.trainable_params + layer.non_trainable_params,
                    "trainable_params": layer.trainable_params,
                    "non_trainable_params": layer.non_trainable_params,
                    "trainable": layer.trainable,
                }
                for layer in model.layers
            ],
            "total_params": trainable + frozen,
            "trainable_params": trainable,
            "non_trainable_params": frozen,
        }
        print(json.dumps(data, indent=2))
        return
    table = Table(title=f"model {model.name}", title_justify="left")
    table.add_column("Layer")
    table.add_column("Output shape")
    table.add_column("Params", justify="right")
    graph = not model.is_chain  # a chain's connections go without saying
    if graph:
        table.add_column("Connected to")
    for source in model.inputs:
        table.add_row(f"{source.name} (Input)", fmt(source.shape), "0", *([""] if graph else []))
    for layer in model.layers:
        params = layer.trainable_params + layer.non_trainable_params
        kind = layer.kind if layer.trainable else f"{layer.kind}, frozen"
        connected = [", ".join(layer.inputs)] if graph else []
        table.add_row(f"{layer.name} ({kind})", fmt(layer.output_shape), f"{params:,}", *connected)
    stdout.print(table)
    if graph:
        stdout.print("Outputs: " + ", ".join(model.outputs), markup=False)
    stdout.print(f"Total params: {trainable + frozen:,}")
    stdout.print(f"Trainable params: {trainable:,}")
    stdout.print(f"Non-trainable params: {frozen:,}")


@app.command(name="compile")
def compile_(
    file: SpecPath,
    target: Annotated[Target, typer.Option("--target", "-t", help="framework to generate")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="file to write; stdout when left out")
    ] = None,
    set_: SetOption = None,
) -> None:
    """Write a standalone Keras or PyTorch module that builds the spec's model."""
    from netspec.codegen import generate

    model = _load(file, overrides=_assignments(set_))
    source = generate(model, target.value)
    if output is None:
        sys.stdout.write(source)
        return
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(source, encoding="utf-8")
    except OSError as error:
        stderr.print(f"error: cannot write {output}: {error.strerror or error}", markup=False)
        raise typer.Exit(1) from None
    stderr.print(f"wrote {output} ({target.value}, model {model.name})", markup=False)


@app.command()
def graph(
    file: SpecPath,
    output: Annotated[
        Path,
        typer.Option("--output", "-o", help="model.svg, model.dot or model.png (needs Graphviz)"),
    ],
    expand_blocks: Annotated[
        bool, typer.Option("--expand-blocks", help="draw each block's layers, boxed per block use")
    ] = False,
) -> None:
    """Draw the layer graph: each layer's name, kind and output shape; merges, inputs and
    outputs, block uses (one node each, or boxed layers with --expand-blocks), frozen layers."""
    from netspec import graph_picture

    format = graph_picture.format_of(output)
    if format is None:
        stderr.print(f"error: cannot tell the picture format of {output}", style="bold red")
        stderr.print("  hint: name the file .svg, .dot or .png", markup=False)
        raise typer.Exit(2)
    model = _load(file)
    picture = graph_picture.build(model, expand_blocks=expand_blocks)
    try:
        graph_picture.write(picture, output, format)
    except graph_picture.NoGraphviz as missing:
        stderr.print(
            f"error: {output}: PNG needs Graphviz's `dot` program, not found", style="bold red"
        )
        stderr.print(
            f"  note: wrote {missing.dot_file} instead (render it with `dot -Tpng`)\n"
            "  hint: install Graphviz (apt-get install graphviz, brew install graphviz), "
            "or write .svg, which needs nothing",
            markup=False,
        )
        raise typer.Exit(1) from None
    except OSError as error:
        stderr.print(f"error: cannot write {output}: {error.strerror or error}", markup=False)
        raise typer.Exit(1) from None
    nodes = len(picture.boxes)
    stderr.print(f"wrote {output} ({format}, model {model.name}, {nodes} nodes)", markup=False)


@app.command()
def layers(
    name: Annotated[
        str | None,
        typer.Argument(
            help="one entry (Dense, Adam, mse, digits, …) or one family (layers, losses, "
            "optimizers, metrics, schedules, data, activations, initializers)",
            show_default=False,
        ),
    ] = None,
    format: Annotated[
        SummaryFormat, typer.Option("--format", "-f", help="table for people, json for tools")
    ] = SummaryFormat.table,
) -> None:
    """The catalogue: each layer with its parameters (types, defaults, ranges) and shape rule;
    losses, optimizers, metrics, schedules, data sources, activations and initializers."""
    from netspec import reference

    family = reference.family_of_word(name) if name is not None else None
    if name is None or family is not None:
        families = [family] if family is not None else list(reference.FAMILIES)
        if format is SummaryFormat.json:
            docs = [reference.describe(cls) for f in families for cls in reference.in_order(f)]
            sys.stdout.write(reference.json_docs(docs))
        else:
            sys.stdout.write(reference.text_catalogue(families))
        return
    try:
        found = reference.find(name)
    except reference.UnknownName as error:
        stderr.print(f"error: {error.message}", style="bold red", markup=False)
        stderr.print(f"  hint: {error.hint}", markup=False)
        raise typer.Exit(1) from None
    if format is SummaryFormat.json:
        sys.stdout.write(reference.json_docs(found))
    else:
        sys.stdout.write(reference.text_found(found))


class Template(str, Enum):
    mlp = "mlp"
    cnn = "cnn"
    lstm = "lstm"
    resnet = "resnet"


@app.command()
def init(
    name: Annotated[
        str,
        typer.Argument(
            help="the new spec: NAME.net with model NAME", metavar="NAME", show_default=False
        ),
    ],
    template: Annotated[
        Template,
        typer.Option(
            "--template", "-t",
            help="mlp, cnn, lstm or resnet; each trains on the bundled 8x8 digits",
        ),
    ] = Template.mlp,
) -> None:
    """Write a commented starter spec that checks and trains on bundled data."""
    from netspec import templates

    try:
        path, model = templates.write(name, template.value)
    except templates.InitError as error:
        stderr.print(f"error: {error.message}", style="bold red", markup=False)
        if error.hint:
            stderr.print(f"  hint: {error.hint}", markup=False)
        raise typer.Exit(1) from None
    stdout.print(
        f"wrote {path}: model {model}, {templates.TEMPLATES[template.value]}\n"
        f"  next: netspec check {path}  then  netspec train {path}",
        markup=False,
    )


@app.command()
def schema() -> None:
    """Print the JSON Schema of the checked IR (what `check --emit-ir` prints)."""
    from netspec.schema import ir_json_schema

    print(json.dumps(ir_json_schema(), indent=2))


class Backend(str, Enum):
    torch = "torch"
    keras = "keras"


class LogMode(str, Enum):
    auto = "auto"
    plain = "plain"
    jsonl = "jsonl"
    quiet = "quiet"
    all_ranks = "all-ranks"


DeviceOption = Annotated[
    str,
    typer.Option(
        "--device", "-d", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps"
    ),
]
ThreadsOption = Annotated[
    int | None,
    typer.Option("--threads", min=1, help="CPU threads; all cores this process may use by default"),
]
WorkersOption = Annotated[
    int | None,
    typer.Option(
        "--workers", min=0, help="processes reading streamed batches (0: the training process)"
    ),
]


class Precision(str, Enum):
    fp32 = "fp32"
    bf16 = "bf16"
    fp16 = "fp16"


class Pipeline(str, Enum):
    auto = "auto"
    memory = "memory"
    stream = "stream"


DataOption = Annotated[
    str | None,
    typer.Option("--data", help="a data source in spec syntax, e.g. digits or 'npz(\"f.npz\")'"),
]
SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="KEY=VALUE",
        help="override a train setting, or the optimizer's lr, in spec syntax: "
        "--set lr=3e-4 --set reshape=true (repeatable)",
        show_default=False,
    ),
]


def _assignments(items: list[str] | None, options: dict[str, str] | None = None) -> dict[str, str]:
    """`--set` items merged with the dedicated options; exit 2 on a malformed or unknown key."""
    from netspec.overrides import SettingError, merge, parse_assignments

    try:
        return merge(options or {}, parse_assignments(items or []))
    except SettingError as error:
        _fail(error)
        raise  # unreachable: _fail exits


def _fail(error: Exception) -> None:
    message = getattr(error, "message", str(error))
    stderr.print(f"error: {message}", style="bold red", markup=False)
    hint = getattr(error, "hint", None)
    if hint:
        stderr.print(f"  hint: {hint}", markup=False)
    raise typer.Exit(getattr(error, "exit_status", 2))  # 130 after Ctrl-C


def _outcome(outcome: Any) -> None:  # a netspec.train.Outcome, imported lazily
    _report(outcome.diagnostics, outcome.sources)
    if outcome.status:
        raise typer.Exit(outcome.status)


@app.command()
def train(
    file: Annotated[
        Path | None, typer.Argument(help="a .net spec file (left out with --resume)")
    ] = None,
    backend: Annotated[
        Backend, typer.Option("--backend", "-b", help="framework to train with")
    ] = Backend.torch,
    device: DeviceOption = "auto",
    epochs: Annotated[int | None, typer.Option("--epochs", min=1, help="override the spec")] = None,
    batch_size: Annotated[
        int | None, typer.Option("--batch-size", min=1, help="override the spec")
    ] = None,
    data: DataOption = None,
    seed: Annotated[int | None, typer.Option("--seed", help="override the spec's seed")] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="run folder; runs/<model>-<backend>-<time> by default"),
    ] = None,
    resume: Annotated[
        Path | None,
        typer.Option("--resume", help="continue the run in this folder from its last checkpoint"),
    ] = None,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite", help="--out may hold a run: delete its files first (else refused)"
        ),
    ] = False,
    init_from: Annotated[
        Path | None,
        typer.Option("--init-from", help="start from these weights (safetensors or .keras)"),
    ] = None,
    init_partial: Annotated[
        bool,
        typer.Option(
            "--init-partial",
            help="with --init-from: the file may hold only some of the model's tensors "
            "(a pretrained base); the others keep their initial values",
        ),
    ] = False,
    precision: Annotated[
        Precision | None,
        typer.Option("--precision", help="fp32, or mixed precision bf16 / fp16 (override the spec)"),
    ] = None,
    pipeline: Annotated[
        Pipeline | None,
        typer.Option(
            "--pipeline",
            help="auto: in memory when it fits, else streamed; memory; stream (override the spec)",
        ),
    ] = None,
    workers: WorkersOption = None,
    threads: ThreadsOption = None,
    devices: Annotated[
        int,
        typer.Option(
            "--devices",
            min=1,
            help="train data-parallel on this many devices of this machine: PyTorch starts "
            "torchrun with a worker per device (GPUs, or CPU processes), Keras a "
            "MirroredStrategy; the spec's batch_size is the global batch",
        ),
    ] = 1,
    log: Annotated[
        LogMode,
        typer.Option(
            "--log",
            help="auto: a progress bar on a terminal; plain; jsonl; quiet; all-ranks: every "
            "data-parallel worker prints (rank 0 alone by default)",
        ),
    ] = LogMode.auto,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="print nothing but errors")] = False,
    set_: SetOption = None,
) -> None:
    """Train the spec's model on its data, on the device you pick; leaves a run folder."""
    from netspec.train import TrainError, TrainOptions
    from netspec.train import train as run_training

    if file is None and resume is None:
        stderr.print("error: give a spec file, or --resume RUN_DIR", style="bold red")
        raise typer.Exit(2)
    if init_partial and init_from is None:
        stderr.print("error: --init-partial goes with --init-from FILE", style="bold red")
        raise typer.Exit(2)
    overrides = {
        key: str(value)
        for key, value in (
            ("epochs", epochs),
            ("batch_size", batch_size),
            ("seed", seed),
            ("data", data),
            ("precision", precision.value if precision is not None else None),
            ("pipeline", pipeline.value if pipeline is not None else None),
            ("workers", workers),
        )
        if value is not None
    }
    overrides = _assignments(set_, overrides)
    options = TrainOptions(
        backend=backend.value,
        device=device,
        out=out,
        threads=threads,
        log="quiet" if quiet else log.value,
        init_from=init_from,
        init_partial=init_partial,
        resume=resume,
        overwrite=overwrite,
        devices=devices,
        arguments=sys.argv[1:],
    )
    try:
        outcome = run_training(file, overrides, options)
    except TrainError as error:
        _fail(error)
    except KeyboardInterrupt:  # before training began (a run that trained says more)
        stderr.print("error: interrupted", style="bold red")
        raise typer.Exit(130) from None
    _outcome(outcome)


@app.command()
def evaluate(
    run_dir: Annotated[Path, typer.Argument(help="a run folder written by netspec train")],
    data: DataOption = None,
    device: DeviceOption = "auto",
    threads: ThreadsOption = None,
    workers: WorkersOption = None,
    format: Annotated[SummaryFormat, typer.Option("--format", "-f")] = SummaryFormat.table,
) -> None:
    """Evaluate a trained run on its test split, or on all samples of --data."""
    from netspec.train import TrainError, TrainOptions
    from netspec.train import evaluate as run_evaluate

    overrides = {"data": data} if data is not None else {}
    options = TrainOptions(device=device, threads=threads, workers=workers)
    try:
        outcome = run_evaluate(run_dir, overrides, options)
    except TrainError as error:
        _fail(error)
    _outcome(outcome)
    if outcome.note:
        stderr.print(f"note: {outcome.note}", markup=False)
    result = outcome.result or {}
    if format is SummaryFormat.json:
        print(json.dumps(result, indent=2))
        return
    figures = "  ".join(f"{k} {v:.4f}" for k, v in result.items() if k != "samples")
    stdout.print(f"{result.get('samples', 0):,} samples: {figures}", markup=False)


@app.command()
def predict(
    run_dir: Annotated[Path, typer.Argument(help="a run folder written by netspec train")],
    data: Annotated[
        str | None,
        typer.Option(
            "--data",
            help="the inputs, labels not needed: a file (new.npy, new.npz, new.csv, an image), "
            "a folder of images, or a data source in spec syntax, e.g. 'npz(\"new.npz\")'; "
            "the spec's data by default",
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="where the outputs go, as its suffix says: .npy, .npz (one array per output) "
            "or .csv (class names and top class for a classifier); RUN/predictions.npy "
            "(.npz for several outputs) by default",
        ),
    ] = None,
    device: DeviceOption = "auto",
    threads: ThreadsOption = None,
    workers: WorkersOption = None,
) -> None:
    """Run a trained model on new inputs (preprocessed as in training: the run's
    standardization, reshape, divide_by) and save its outputs."""
    from netspec.train import TrainError, TrainOptions
    from netspec.train.prediction import predict as run_predict

    overrides = {"data": data} if data is not None else {}
    options = TrainOptions(device=device, threads=threads, workers=workers)
    try:
        outcome = run_predict(run_dir, overrides, options, output)
    except TrainError as error:
        _fail(error)
    _outcome(outcome)
    result = outcome.result or {}
    if "output_shapes" in result:
        outputs = ", ".join(f"{name} {shape}" for name, shape in result["output_shapes"].items())
        stdout.print(
            f"{result['samples']:,} predictions ({outputs}) saved to {result['saved']}",
            markup=False,
        )
        return
    shown = result.get("class_names", result.get("classes", result.get("values", [])))
    stdout.print(
        f"{result['samples']:,} predictions saved to {result['saved']}; first: {shown[:10]}",
        markup=False,
    )


class ExportFormat(str, Enum):
    onnx = "onnx"
    torch_export = "torch-export"
    savedmodel = "savedmodel"


@app.command()
def export(
    target: Annotated[
        Path, typer.Argument(help="a run folder (its trained weights) or a .net spec (its initial weights)")
    ],
    format: Annotated[
        ExportFormat,
        typer.Option(
            "--format",
            "-f",
            help="onnx (opset 18) or torch-export (torch.export's program, .pt2), from the "
            "PyTorch module; savedmodel (a TensorFlow SavedModel folder) from the Keras model",
        ),
    ] = ExportFormat.onnx,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="file to write; RUN/<model>.onnx or SPEC.onnx (.pt2, _savedmodel) by default"
        ),
    ] = None,
    json_: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
    set_: SetOption = None,
) -> None:
    """Export the model for serving, checked: onnx.checker, then onnxruntime vs PyTorch
    on random batches of two sizes (the largest difference is printed; above 1e-4 is an
    error and no file is left)."""
    from netspec.train import TrainError
    from netspec.train.export import export as run_export

    overrides = _assignments(set_)
    try:
        outcome = run_export(target, overrides, format.value, output)
    except TrainError as error:
        _fail(error)
    _outcome(outcome)
    result = outcome.result or {}
    if json_:
        print(json.dumps(result, indent=2))
        return

    def shapes(side: str) -> str:
        return ", ".join(f"{name} {shape}" for name, shape in result[side].items())

    opset = f", opset {result['opset']}" if result["opset"] is not None else ""
    stdout.print(
        f"wrote {result['output']} ({result['format']}{opset}, "
        f"{result['weights']} weights)\n  inputs: {shapes('inputs')}\n  outputs: "
        f"{shapes('outputs')}\n  checked: {result['checked']} on "
        f"batches of {', '.join(map(str, result['checked_batches']))}: max |d| "
        f"{result['max_abs_difference']:.3g} (tolerance {result['tolerance']:g})",
        markup=False,
    )



class Direction(str, Enum):
    auto = "auto"
    minimize = "minimize"
    maximize = "maximize"


class PrunerName(str, Enum):
    median = "median"
    asha = "asha"
    none = "none"


@app.command()
def tune(
    file: SpecPath,
    trials: Annotated[
        int,
        typer.Option(
            "--trials", "-n", min=1, help="trials in all (a continued search counts those done)"
        ),
    ],
    metric: Annotated[
        str | None,
        typer.Option(
            "--metric",
            help="the figure to optimize: val_loss, val_accuracy, any figure of the run's "
            "history (default: the spec's monitor, val_loss with validation data)",
        ),
    ] = None,
    direction: Annotated[
        Direction | None,
        typer.Option("--direction", help="auto: accuracy up, losses and errors down"),
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option("--timeout", min=0, help="seconds after which no further trial starts"),
    ] = None,
    jobs: Annotated[
        int,
        typer.Option(
            "--jobs",
            "-j",
            min=1,
            help="trials at once, each in a process of its own with cores/J CPU threads",
        ),
    ] = 1,
    batch: Annotated[
        int | None,
        typer.Option(
            "--batch",
            min=1,
            help="trials asked together, each without the others' results (default 4): the "
            "search is the same for any --jobs up to it",
        ),
    ] = None,
    backend: Annotated[
        Backend | None,
        typer.Option("--backend", "-b", help="framework to train with (default torch)"),
    ] = None,
    device: DeviceOption = "auto",
    seed: Annotated[
        int | None,
        typer.Option("--seed", help="the sampler's seed (default: the spec's train seed)"),
    ] = None,
    pruner: Annotated[
        PrunerName | None,
        typer.Option(
            "--pruner",
            help="stop poor trials early on their epoch figures: median (default), asha "
            "(successive halving), none",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="the tune folder (default tunes/<spec name>); the same command again "
            "continues the search there",
        ),
    ] = None,
) -> None:
    """Search the spec's choice(...)/range(...) values with Optuna; every point is checked first."""
    from netspec.train import TrainError
    from netspec.tune import TuneOptions
    from netspec.tune import tune as run_tune

    options = TuneOptions(
        trials=trials, metric=metric, direction=direction.value if direction else None,
        timeout=timeout, jobs=jobs, batch=batch, backend=backend.value if backend else None,
        device=device, seed=seed, pruner=pruner.value if pruner else None, out=out,
    )
    try:
        outcome = run_tune(file, options, say=lambda line: stdout.print(line, markup=False))
    except TrainError as error:
        _fail(error)
    except KeyboardInterrupt:
        stderr.print("error: interrupted", style="bold red")
        raise typer.Exit(130) from None
    _report(outcome.diagnostics, outcome.sources)
    if outcome.status:
        raise typer.Exit(outcome.status)

@app.command()
def doctor(
    backend: Annotated[
        Backend | None, typer.Option("--backend", "-b", help="ask one framework only")
    ] = None,
    format: Annotated[SummaryFormat, typer.Option("--format", "-f")] = SummaryFormat.table,
) -> None:
    """Show what PyTorch and TensorFlow see here: versions, CUDA and cuDNN, each device with
    its memory and bf16/TF32 support, threads, and why a GPU is missing."""
    from netspec.train import doctor as diagnose

    backends = (backend.value,) if backend is not None else ("torch", "keras")
    result = diagnose.report(backends)
    if format is SummaryFormat.json:
        print(json.dumps(result, indent=2))
        return
    for line in diagnose.lines(result):
        stdout.print(line, markup=False)


weights_app = typer.Typer(
    help="Move a spec's weights between PyTorch, Keras and a framework-neutral file.",
    no_args_is_help=True,
)
app.add_typer(weights_app, name="weights")


class WeightsFormat(str, Enum):
    neutral = "neutral"
    torch = "torch"
    keras = "keras"


@weights_app.command("convert")
def weights_convert(
    file: SpecPath,
    source: Annotated[
        Path,
        typer.Argument(
            help="weights: a .keras file, a PyTorch safetensors state dict or checkpoint, or a neutral file"
        ),
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="file to write")],
    to: Annotated[
        WeightsFormat,
        typer.Option(
            "--to", help="neutral (safetensors, Keras layout), torch (state dict) or keras (.keras)"
        ),
    ] = WeightsFormat.neutral,
) -> None:
    """Convert weights of FILE's model: a PyTorch run's weights into Keras, and back."""
    from netspec.train import TrainError
    from netspec.train.convert import convert

    model = _load(file)
    if not source.is_file():
        stderr.print(f"error: {source} does not exist", style="bold red", markup=False)
        raise typer.Exit(2)
    try:
        result = convert(model, source, output, to.value)
    except TrainError as error:
        _fail(error)
    stderr.print(
        f"wrote {result['output']}: {result['tensors']} tensors, {result['values']:,} values, "
        f"{result['from']} -> {result['to']}",
        markup=False,
    )


def main() -> None:
    try:
        app()
    except SystemExit as done:
        if done.code == 130:  # Ctrl-C: the run saved and said what it had to
            _exit_at_once(130)
        raise


def _exit_at_once(status: int) -> None:
    """Exit without the interpreter's teardown, which takes a second or more once torch or
    TensorFlow is loaded (measured 0.6-2.8 s here): an interrupted run stops when asked."""
    import os

    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":
    main()
