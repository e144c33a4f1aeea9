"""`netspec export`: a spec's model, or a trained run's, as a file a server runs without netspec.

Three formats: `onnx` and `torch-export` (torch.export's program, .pt2) from the PyTorch
module, `savedmodel` (a TensorFlow SavedModel folder) from the Keras model. Each is loaded
back after writing and run against the framework's own network on random batches.

ONNX comes from the generated PyTorch module (the one `train` runs, regenerated from the
spec as `evaluate` does for a run folder) through `torch.onnx.export`'s torch.export-based
exporter, at opset `OPSET`, with a dynamic batch axis and the inputs and outputs named as
the spec names them. The file is checked, not assumed: `onnx.checker` reads it, onnxruntime
runs it on random batches of two sizes, and its outputs must match PyTorch's within
`TOLERANCE`; only then does the file take its place (a failed export leaves none).

The exported network takes its inputs as the network does: a run's standardization
(`standardization.npz`), `divide_by` and `reshape` are applied before it, as `predict` does.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from netspec import ir
from netspec.codegen import generate
from netspec.codegen.common import input_dtypes
from netspec.train import Outcome, TrainOptions, _check, _load_run, atomic
from netspec.train.context import TrainError, load_module

# torch-export: torch.export's program, a .pt2 file; savedmodel: a TensorFlow SavedModel folder
FORMATS = ("onnx", "torch-export", "savedmodel")
SUFFIXES = {"onnx": ".onnx", "torch-export": ".pt2", "savedmodel": "_savedmodel"}
OPSET = 18  # the ai.onnx opset written: onnxruntime 1.16 and later run it
TOLERANCE = 1e-4  # the largest |onnxruntime - PyTorch| accepted, on any output value
EXAMPLE_BATCH = 2  # the batch torch.export traces with (1 would fix the batch axis to 1)
CHECK_BATCHES = (1, 5)  # the batch sizes the exported file is run with: the axis is dynamic


@dataclass(frozen=True)
class Exported:
    """What the command tells: the file, the weights it holds, and what the check found."""

    path: Path
    format: str
    weights: str  # "trained (RUN/weights.safetensors)" or "initial (seed N)"
    inputs: dict[str, list[Any]]  # name -> shape, "batch" first
    outputs: dict[str, list[Any]]
    opset: int | None  # ONNX's ai.onnx opset; None for another format
    checked: str  # how the file was checked
    max_difference: float  # over every output and checked batch size
    batches: tuple[int, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "output": str(self.path),
            "format": self.format,
            "weights": self.weights,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "opset": self.opset,
            "checked": self.checked,
            "max_abs_difference": self.max_difference,
            "checked_batches": list(self.batches),
            "tolerance": TOLERANCE,
        }


def export(
    target: Path, overrides: Mapping[str, str], format: str, output: Path | None
) -> Outcome:
    """Export a run folder (its trained weights) or a spec file (its initial weights)."""
    if format not in FORMATS:
        raise TrainError(
            f"unknown export format '{format}'", hint="choose " + ", ".join(FORMATS)
        )
    framework = "keras" if format == "savedmodel" else "torch"
    _check_installed(format)  # before the spec is read: a missing package is said first
    if target.is_dir():
        run, record, model, diagnostics, sources, weights, run_source = _load_run(
            target, overrides, TrainOptions()
        )
        if model is None:
            return Outcome(1, diagnostics, sources)
        backend: str | None = record["backend"]
        shown = f"trained ({weights})"
        folder, stem = run.path, model.name
    else:
        try:
            source = target.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            from netspec.catalogue.columns import unreadable

            raise TrainError(f"cannot read {target}: {unreadable(error, '.net')}") from error
        model, diagnostics, sources = _check(source, str(target), overrides)
        if model is None:
            return Outcome(1, diagnostics, sources)
        backend, weights, run_source = None, None, ""
        shown = f"initial (seed {model.train.seed})"
        folder, stem = target.parent, target.stem
    if backend == framework:  # the run's own module: the one that trained
        module_source, module_path = run_source, folder / "model.py"
    else:  # the other framework's module of the same spec (the weights convert exactly)
        module_source = generate(model, framework)
        module_path = folder / f"{model.name}_{framework}.py"  # named in tracebacks, never written
    path = output or folder / f"{stem}{SUFFIXES[format]}"
    if format != "savedmodel" and path.is_dir():
        raise TrainError(
            f"--output {path} is a folder; {format} writes one file",
            hint=f"give a file's name, e.g. {path / (stem + SUFFIXES[format])}",
        )
    if format == "savedmodel":
        exported = _savedmodel(model, module_path, module_source, weights, backend, path, shown)
    else:
        net = _network(model, module_path, module_source, weights, backend)
        write = _onnx if format == "onnx" else _torch_export
        try:
            exported = write(model, net, path, shown)
        except _ExportFailed as failed:
            raise failed.told(module_path, module_source) from None
    return Outcome(0, diagnostics, sources, None, exported.to_json())


_NEEDS = {
    "onnx": ("torch", "onnx", "onnxscript", "onnxruntime"),
    "torch-export": ("torch",),
    "savedmodel": ("keras", "tensorflow"),
}


def _check_installed(format: str) -> None:
    """The packages a format needs are installed; a TrainError naming the extra if not."""
    from importlib.util import find_spec

    missing = [name for name in _NEEDS[format] if find_spec(name) is None]
    if missing:
        extra = {"onnx": "export", "torch-export": "torch", "savedmodel": "keras"}[format]
        raise TrainError(
            f"--format {format} needs {', '.join(missing)}, which cannot be imported here",
            hint=f'pip install -e ".[{extra}]" (with -c constraints.txt)',
        )


def _network(
    model: ir.Model,
    module_path: Path,
    module_source: str,
    weights: Path | None,
    backend: str | None,
) -> Any:
    """The generated module's network in inference mode, with the run's weights if any."""
    import torch

    module = load_module(module_path, model.name, module_source)
    torch.manual_seed(model.train.seed)  # initial weights as `train` draws them
    net = module.build_model()
    if weights is not None:
        if backend == "torch":
            from netspec.train.torch_backend import load_weights

            load_weights(net, weights)
        else:
            from netspec.train.convert import load_into

            load_into(model, net, weights)
    return net.eval()


def example_inputs(model: ir.Model, batch: int, seed: int) -> list[np.ndarray]:
    """A random batch for each input, as the network takes it: float32 values, or int64
    token ids below the smallest vocabulary of the Embeddings reading that input."""
    rng = np.random.default_rng(seed)
    found = []
    for source, dtype in zip(model.inputs, input_dtypes(model).values(), strict=True):
        shape = (batch, *source.shape)
        if dtype == "int64":
            readers = [layer for layer in model.layers if source.name in layer.inputs]
            vocabulary = min(int(layer.params.input_dim) for layer in readers)
            found.append(rng.integers(0, vocabulary, size=shape, dtype=np.int64))
        else:
            found.append(rng.standard_normal(shape).astype(np.float32))
    return found


def _onnx(model: ir.Model, net: Any, path: Path, weights: str) -> Exported:
    import torch

    names = [source.name for source in model.inputs]
    batch = torch.export.Dim("batch")
    example = tuple(torch.from_numpy(a) for a in example_inputs(model, EXAMPLE_BATCH, 0))
    try:
        with _quiet():
            program = torch.onnx.export(
                net,
                example,
                dynamic_shapes=tuple({0: batch} for _ in names),
                opset_version=OPSET,
                dynamo=True,
                verbose=False,
            )
    except Exception as error:
        raise _ExportFailed(
            error,
            f"PyTorch cannot export {model.name} to ONNX",
            "export another format (torch-export, savedmodel), or leave that layer out",
        ) from None
    _name_values(program.model, names, list(model.outputs))
    _make_folder(path)
    with atomic.replacing(path) as partial:  # the file takes its place once it is checked
        program.save(str(partial), external_data=False)
        difference = check_onnx(partial, model, net)
    inputs = {n: ["batch", *model.shape_of(n)] for n in names}
    outputs = {n: ["batch", *model.shape_of(n)] for n in model.outputs}
    checked = "onnx.checker passed; onnxruntime vs PyTorch"
    return Exported(
        path, "onnx", weights, inputs, outputs, OPSET, checked, difference, CHECK_BATCHES
    )


def _torch_export(model: ir.Model, net: Any, path: Path, weights: str) -> Exported:
    """torch.export's ExportedProgram of the network, saved with torch.export.save (a .pt2
    that torch.export.load reads back); checked as ONNX is:
    loaded back and run on batches of CHECK_BATCHES against the network."""
    import torch

    names = [source.name for source in model.inputs]
    batch = torch.export.Dim("batch")
    example = tuple(torch.from_numpy(a) for a in example_inputs(model, EXAMPLE_BATCH, 0))
    try:
        with _quiet():
            program = torch.export.export(
                net, example, dynamic_shapes=tuple({0: batch} for _ in names)
            )
    except Exception as error:
        raise _ExportFailed(
            error,
            f"torch.export cannot export {model.name}",
            "export as a SavedModel (from the Keras model), or leave that layer out",
        ) from None
    _make_folder(path)
    with atomic.replacing(path) as partial:
        torch.export.save(program, str(partial))
        loaded = torch.export.load(str(partial)).module()
        difference = _compare(model, _torch_outputs(loaded), _torch_outputs(net), "torch.export.load")
    inputs = {n: ["batch", *model.shape_of(n)] for n in names}
    outputs = {n: ["batch", *model.shape_of(n)] for n in model.outputs}
    checked = "torch.export.load reads it back; its program vs PyTorch"
    return Exported(
        path, "torch-export", weights, inputs, outputs, None, checked, difference, CHECK_BATCHES
    )


def _savedmodel(
    model: ir.Model,
    module_path: Path,
    module_source: str,
    weights: Path | None,
    backend: str | None,
    path: Path,
    shown: str,
) -> Exported:
    """A TensorFlow SavedModel folder from the generated Keras module's inference network
    (`inference_model`: standard Keras layers), through keras.export.ExportArchive: one
    signature `serve` taking the inputs by the spec's names, a dynamic batch, and giving
    the outputs by the spec's names. Checked: tf.saved_model.load reads it back and its
    signature's outputs match the Keras network's on batches of CHECK_BATCHES."""
    import shutil

    from netspec.train import keras_backend  # sets TensorFlow's environment before it loads

    import keras  # isort: skip
    import tensorflow as tf  # isort: skip

    if path.exists():
        raise TrainError(
            f"{path} exists: a SavedModel is a folder, and netspec does not write into one",
            hint="remove it, or give another --output",
        )
    module = load_module(module_path, model.name, module_source)
    keras.utils.set_random_seed(model.train.seed)  # initial weights as `train` draws them
    built = module.compile_model(module.build_model())
    if weights is not None:
        if backend == "keras":
            built.optimizer.build(built.trainable_variables)
            keras_backend.load_weights(built, weights)
        else:
            from netspec.train.convert import load_into

            load_into(model, built, weights)
    net = module.inference_model(built)
    names = [source.name for source in model.inputs]
    signature = [
        tf.TensorSpec((None, *source.shape), tensor.dtype, name=source.name)
        for source, tensor in zip(model.inputs, net.inputs, strict=True)
    ]

    def serve(*tensors: Any) -> dict[str, Any]:
        found = net(list(tensors) if len(tensors) > 1 else tensors[0], training=False)
        found = found if isinstance(found, (list, tuple)) else [found]
        return dict(zip(model.outputs, found, strict=True))

    archive = keras.export.ExportArchive()
    archive.track(net)
    archive.add_endpoint(name="serve", fn=serve, input_signature=signature)
    _make_folder(path)
    partial = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        with _quiet():
            archive.write_out(str(partial), verbose=False)
        served = tf.saved_model.load(str(partial)).signatures["serve"]
        dtypes = [spec.dtype.as_numpy_dtype for spec in signature]

        def run_served(arrays: list[np.ndarray]) -> list[np.ndarray]:
            feeds = {n: tf.constant(a.astype(d)) for n, a, d in zip(names, arrays, dtypes, strict=True)}
            found = served(**feeds)
            if sorted(found) != sorted(model.outputs):
                raise TrainError(
                    f"the SavedModel's outputs are {sorted(found)}, the spec's {model.outputs}"
                )
            return [found[n].numpy() for n in model.outputs]

        def run_keras(arrays: list[np.ndarray]) -> list[np.ndarray]:
            arrays = [a.astype(d) for a, d in zip(arrays, dtypes, strict=True)]
            found = net.predict_on_batch(arrays if len(arrays) > 1 else arrays[0])
            return list(found) if isinstance(found, (list, tuple)) else [found]

        difference = _compare(model, run_served, run_keras, "the SavedModel", "Keras")
        os.replace(partial, path)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    inputs = {n: ["batch", *model.shape_of(n)] for n in names}
    outputs = {n: ["batch", *model.shape_of(n)] for n in model.outputs}
    checked = "tf.saved_model.load reads it back; its `serve` signature vs Keras"
    return Exported(path, "savedmodel", shown, inputs, outputs, None, checked, difference, CHECK_BATCHES)


def _make_folder(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise TrainError(f"cannot write {path}: {error.strerror or error}") from error


def _name_values(graph_model: Any, inputs: list[str], outputs: list[str]) -> None:
    """The graph's inputs and outputs named as the spec names them. An inner value the
    exporter named alike (an op's output called `conv2d`, as a layer may be) is renamed
    first: ONNX wants every name once."""
    graph = graph_model.graph
    wanted = {*inputs, *outputs}
    ends = {id(v) for v in (*graph.inputs, *graph.outputs)}
    taken = {v.name for v in _values(graph)}
    for value in _values(graph):
        if value.name in wanted and id(value) not in ends:
            fresh, k = f"{value.name}_inner", 1
            while fresh in taken or fresh in wanted:
                fresh, k = f"{value.name}_inner_{k}", k + 1
            taken.add(fresh)
            value.name = fresh
    for value, name in zip(graph.inputs, inputs, strict=True):
        value.name = name
    for value, name in zip(graph.outputs, outputs, strict=True):
        value.name = name


def _values(graph: Any) -> list[Any]:
    """Every named value of the graph: inputs, initializers and each node's outputs."""
    found = [*graph.inputs, *graph.initializers.values()]
    for node in graph:
        found += [v for v in node.outputs if v is not None]
    return found


def check_onnx(path: Path, model: ir.Model, net: Any) -> float:
    """Check the ONNX file and run it in onnxruntime on random batches of each size in
    CHECK_BATCHES; the largest |difference| from the PyTorch network's outputs. A file
    that fails the checker, names its inputs or outputs otherwise, or differs by more
    than TOLERANCE is a TrainError."""
    import onnx
    import onnxruntime

    try:
        onnx.checker.check_model(str(path), full_check=True)
    except onnx.checker.ValidationError as error:
        raise TrainError(f"the exported ONNX file fails onnx.checker: {_first_line(error)}") from None
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # errors only
    session = onnxruntime.InferenceSession(
        str(path), options, providers=["CPUExecutionProvider"]
    )
    names = [source.name for source in model.inputs]
    found_inputs = [i.name for i in session.get_inputs()]
    found_outputs = [o.name for o in session.get_outputs()]
    if found_inputs != names or found_outputs != list(model.outputs):
        raise TrainError(
            f"the exported ONNX file has inputs {found_inputs} and outputs {found_outputs}, "
            f"the spec {names} and {list(model.outputs)}"
        )

    def run(arrays: list[np.ndarray]) -> tuple[np.ndarray, ...]:
        return tuple(session.run(found_outputs, dict(zip(names, arrays, strict=True))))

    return _compare(model, run, _torch_outputs(net), "onnxruntime")


def _compare(
    model: ir.Model, run: Any, reference: Any, runner: str, framework: str = "PyTorch"
) -> float:
    """The largest |difference| between the outputs of `run` and `reference` (each maps a
    list of input arrays to a sequence of output arrays) on random batches of each size in
    CHECK_BATCHES; above TOLERANCE (or NaN), a TrainError."""
    largest = 0.0
    for k, batch in enumerate(CHECK_BATCHES):
        arrays = example_inputs(model, batch, k + 1)
        got, expected = run(arrays), reference(arrays)
        for name, mine, theirs in zip(model.outputs, got, expected, strict=True):
            mine, theirs = np.asarray(mine), np.asarray(theirs)
            if mine.shape != theirs.shape:
                raise TrainError(
                    f"{runner} gives output '{name}' shaped {list(mine.shape)} for a batch "
                    f"of {batch}, {framework} {list(theirs.shape)}"
                )
            difference = float(np.max(np.abs(mine.astype(np.float64) - theirs))) if mine.size else 0.0
            if not difference <= TOLERANCE:  # NaN fails too
                raise TrainError(
                    f"{runner}'s output '{name}' differs from {framework}'s by up to "
                    f"{difference:.3g} on a batch of {batch} (more than {TOLERANCE:g})",
                    hint="the exported file is not kept; report the spec to netspec",
                )
            largest = max(largest, difference)
    return largest


def _torch_outputs(net: Any) -> Any:
    """A function of input arrays giving the PyTorch network's outputs, as arrays."""
    import torch

    def outputs(arrays: list[np.ndarray]) -> tuple[np.ndarray, ...]:
        with torch.no_grad():
            found = net(*(torch.from_numpy(a) for a in arrays))
        found = found if isinstance(found, (list, tuple)) else (found,)
        return tuple(t.detach().numpy() for t in found)

    return outputs


class _ExportFailed(Exception):
    """An exporter's error, before it is told: `told` gives the first line of the error at
    the root of the chain (exporters wrap it in their own) and the spec line (the layer)
    whose generated code raised it, where the error passed through the generated module."""

    def __init__(self, error: BaseException, message: str, hint: str) -> None:
        super().__init__(message)
        self.error, self.message, self.hint = error, message, hint

    def told(self, module_path: Path, module_source: str) -> TrainError:
        from netspec.train.origins import spec_line

        chain, seen = [self.error], set()
        while chain[-1].__cause__ or chain[-1].__context__:  # exporters raise from the error
            following = chain[-1].__cause__ or chain[-1].__context__
            if following is None or id(following) in seen:
                break
            seen.add(id(following))
            chain.append(following)
        message = f"{self.message}: {_first_line(chain[-1])}"
        for error in chain:
            where = spec_line(error, module_path, module_source)
            if where is not None:
                return TrainError(f"{message}; {where}", hint=self.hint)
        return TrainError(message, hint=self.hint)


def _first_line(error: BaseException) -> str:
    """The error's first line, without the terminal colours torch.onnx adds."""
    import re

    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error))
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0][:300] if lines else type(error).__name__


class _quiet:
    """torch.onnx prints its progress and torch.export warns on stdout/stderr: silenced
    (file descriptors 1 and 2) while it runs, so the command's own lines are what shows."""

    def __enter__(self) -> None:
        import logging
        import sys
        import warnings

        sys.stdout.flush()
        sys.stderr.flush()
        self._saved = (os.dup(1), os.dup(2))
        self._sink = tempfile.TemporaryFile()
        os.dup2(self._sink.fileno(), 1)
        os.dup2(self._sink.fileno(), 2)
        self._warnings = warnings.catch_warnings()
        self._warnings.__enter__()
        warnings.simplefilter("ignore")
        logging.disable(logging.WARNING)

    def __exit__(self, *exc: object) -> None:
        import logging
        import sys

        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(self._saved[0], 1)
        os.dup2(self._saved[1], 2)
        for fd in self._saved:
            os.close(fd)
        self._sink.close()
        self._warnings.__exit__(*exc)
        logging.disable(logging.NOTSET)
