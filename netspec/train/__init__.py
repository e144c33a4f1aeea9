"""`netspec train`, `evaluate` and `predict`: run the generated module on real data.

The flow is the compiler's, one way: check the spec, load and check the data against it,
write the generated module into the run folder, import *that file* and let its own `fit`
train the model. A framework is imported only here, and only the one the backend needs.
"""

from __future__ import annotations

import os
import socket
import sys
import time
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netspec import __version__, ir
from netspec.codegen import generate
from netspec.diagnostics import Diagnostics, Span
from netspec.frontend import check_source
from netspec.graph_picture import model_svg
from netspec.train import announce, atomic, origins
from netspec.train.atomic import RunFolderError
from netspec.train.checkpoints import saved_line
from netspec.train.context import Interrupted, RunContext, TrainError, default_threads, usable_cores
from netspec.train.distributed import World, check_global_batch, check_keras_world, torchrun_world
from netspec.train.doctor import installed_versions
from netspec.train.errors import Stopped
from netspec.train.figures import tidy
from netspec.train.plan import DataPlan, choose
from netspec.train.progress import Reporter, reporter
from netspec.train.rundir import RunDir

BACKENDS = ("torch", "keras")

__all__ = [
    "BACKENDS", "Outcome", "TrainError", "TrainOptions", "TrainResult", "draw_curves", "evaluate",
    "train",
]


@dataclass
class TrainOptions:
    backend: str = "torch"
    device: str = "auto"
    out: Path | None = None
    threads: int | None = None
    log: str = "auto"  # auto (a bar on a terminal), plain, jsonl, quiet
    init_from: Path | None = None
    init_partial: bool = False
    resume: Path | None = None
    overwrite: bool = False  # --out may hold a run: delete its files first
    workers: int | None = None  # evaluate and predict: processes reading streamed batches
    devices: int = 1  # data-parallel workers on this machine (torchrun / MirroredStrategy)
    arguments: list[str] = field(default_factory=list)  # the command line, for torchrun
    # what the run reports to, instead of --log's: a caller's hook on every epoch's figures
    # (`netspec tune` reports them to its study, and its end_epoch may raise Stopped)
    reporter: Reporter | None = None
    # the spec's text when the caller holds it (`netspec tune`'s concrete point); spec_path
    # then only names it, and the files it imports are found beside that path
    source: str | None = None
    # curves.png at the end of the run (about 0.4 s); `netspec tune` draws only its best
    # trial's (draw_curves), as its own plots show the search
    curves: bool = True


@dataclass
class Outcome:
    """What a command leaves for the CLI to show: diagnostics, or a result, and an exit code."""

    status: int
    diagnostics: Diagnostics
    sources: dict[str, str]
    run_dir: Path | None = None
    result: dict[str, Any] | None = None
    error: TrainError | None = None
    note: str | None = None  # said on stderr before the result (evaluate: which weights)


def _backend(name: str) -> Any:  # a Backend (netspec/train/backend.py)
    if name not in BACKENDS:
        raise TrainError(f"unknown backend '{name}'", hint="choose torch or keras")
    try:
        if name == "torch":
            from netspec.train import torch_backend

            return torch_backend
        import importlib

        from netspec.train import keras_backend  # sets TensorFlow's environment first

        importlib.import_module("tensorflow")  # what it runs on: a missing one is said here
        return keras_backend
    except ImportError as error:
        extra = "torch" if name == "torch" else "keras"
        raise TrainError(
            f"the {name} backend needs {announce.FRAMEWORKS[name]}, which cannot be imported: {error}",
            hint=f'pip install -e ".[{extra}]", or train with the other backend',
        ) from None


def _data_span(model: ir.Model) -> Span:
    config = model.train
    if config.data is not None:
        return config.data.span
    return config.span


def _check(
    source: str, file: str, overrides: Mapping[str, str]
) -> tuple[ir.Model | None, Diagnostics, dict[str, str]]:
    imported: dict[str, str] = {}
    model, diagnostics = check_source(source, file, overrides, imported)
    sources = {
        file: source, **imported, **{f"--{k.replace('_', '-')}": v for k, v in overrides.items()}
    }
    return model, diagnostics, sources


def _prepare_data(model: ir.Model, diagnostics: Diagnostics) -> Any:
    from netspec import data

    try:
        return data.prepare(model, model.train)
    except data.DataError as error:
        diagnostics.error(error.code, error.message, _data_span(model), error.hint)
        return None


def train(spec_path: Path | None, overrides: Mapping[str, str], options: TrainOptions) -> Outcome:
    """Check, load data, generate, train; never raises for a problem the user can fix."""
    overrides = dict(overrides)
    run: RunDir | None = None
    if options.resume is not None and options.overwrite:
        raise TrainError(
            "--resume continues a run, --overwrite starts one afresh: give one of them"
        )
    if options.resume is not None:
        run = RunDir(options.resume)
        if not (run / "run.json").is_file():
            raise TrainError(
                f"{options.resume} is not a netspec run folder (no run.json)",
                hint="pass the folder that `netspec train` printed",
            )
        previous = run.read_json("run.json")
        source = (run / "spec.net").read_text(encoding="utf-8")
        file = previous["spec"]
        if options.threads is None and "threads" not in overrides:  # the sums' order as before
            options.threads = previous.get("threads")
        overrides = {**previous.get("overrides", {}), **overrides}
        options.backend = previous["backend"]
    else:
        assert spec_path is not None
        try:
            source = (
                options.source if options.source is not None
                else spec_path.read_text(encoding="utf-8")
            )
        except (OSError, UnicodeDecodeError) as error:
            from netspec.catalogue.columns import unreadable

            raise TrainError(f"cannot read {spec_path}: {unreadable(error, '.net')}") from error
        file = str(spec_path)
    model, diagnostics, sources = _check(source, file, overrides)
    if model is None:
        return Outcome(1, diagnostics, sources)
    _check_fits(model)
    world = _world(options)
    if run is not None and world.chief:  # an edited model.py is refused, not overwritten
        from netspec.train.runmodule import verified_source

        verified_source(run, previous, source, model, overrides)
    if world.chief and run is None:  # once, before any worker starts or data loads
        RunDir.check_free(options.out, options.overwrite)
    launcher = options.backend == "torch" and options.devices > 1 and not world.distributed
    if world.chief and run is not None and not launcher:  # no other run may write there now
        run.interrupted = run.gone()  # asked before this process holds the lock
        run.locked()  # (torchrun's rank 0 locks it, not its launcher)
    try:
        return _train_locked(
            run, source, file, model, diagnostics, sources, world, options, overrides
        )
    finally:
        if run is not None:
            run.unlock()


def _train_locked(
    run: RunDir | None,
    source: str,
    file: str,
    model: ir.Model,
    diagnostics: Diagnostics,
    sources: dict[str, str],
    world: World,
    options: TrainOptions,
    overrides: dict[str, str],
) -> Outcome:
    """`train` once the spec is checked (and a resumed run's folder locked)."""
    replicas = world.workers * (options.devices if options.backend == "keras" else 1)
    if options.backend == "torch" and options.devices > 1 and not world.distributed:
        check_global_batch(model.train.batch_size, options.devices, f"--devices {options.devices}")
        return _launch_torchrun(model, options, diagnostics, sources)
    if options.backend == "keras" and model.train.on_nan == "skip" and replicas > 1:
        raise TrainError(
            "on_nan = skip trains on one device with Keras: its step that leaves a step out "
            "runs on one replica",
            hint="use --backend torch (torchrun), or on_nan = stop (the default) with Keras",
        )
    report = options.reporter or reporter(options.log, world.rank)
    described = announce.model_info(model)  # the first line, before the data loads
    report.plan("model", described, announce.model_lines(described))
    check_global_batch(model.train.batch_size, replicas, _workers_words(world, options))
    prepared = _prepare_data(model, diagnostics)  # checked before any framework is imported
    if prepared is None:
        return Outcome(1, diagnostics, sources)
    if options.init_from is not None:  # a file that is no weights file: said before the framework
        from netspec.train.convert import kind_of

        kind_of(options.init_from)
    if world.chief and run is None:  # named now, for the plan; made once the device is known
        run_path = options.out or RunDir.fresh_path(model.name, options.backend)
        shown = str(run_path)
    else:
        run_path = run.path if run is not None else None
        shown = str(run_path) if world.chief else f"{options.out or options.resume or '-'} (rank 0 writes it)"
    described = announce.plan_info(model, prepared, options.backend, options.device, shown)
    report.plan("plan", described, announce.plan_lines(described))
    report.loading(announce.loading_text(options.backend))
    try:
        return _train_checked(
            run, run_path, source, file, model, prepared, world, replicas, options, overrides,
            diagnostics, sources, report,
        )
    except BaseException:
        report.close()  # the spinner goes before the error is shown
        raise


def _train_checked(
    run: RunDir | None,
    run_path: Path | None,
    source: str,
    file: str,
    model: ir.Model,
    prepared: Any,
    world: World,
    replicas: int,
    options: TrainOptions,
    overrides: dict[str, str],
    diagnostics: Diagnostics,
    sources: dict[str, str],
    report: Reporter,
) -> Outcome:
    """The framework's part of `train`, once spec and data are checked and the plan said."""
    backend = _backend(options.backend)
    backend.check_device(options.device)  # before making a run folder
    backend.check_precision(model.train.precision, options.device)
    worker_device = None
    if world.distributed:
        worker_device = backend.join(options.device, world, model.train.sync_batchnorm)
    device = backend.describe_device(worker_device or options.device)
    threads = options.threads or model.train.threads or _default_threads(world)
    gpu = device["device"].startswith("cuda")
    free = backend.device_free_bytes(worker_device or options.device)
    if gpu and free is not None:  # the GPU's free memory, known now: before the model is built
        _check_fits(model, free, device["device"])
    plan = choose(model.train, prepared, free, usable_cores(), gpu)

    scratch = None
    if not world.chief:  # writes nothing: its copy of the module goes to a scratch folder
        import tempfile

        scratch = Path(tempfile.mkdtemp(prefix=f"netspec-rank{world.rank}-"))
        module_path = scratch / "model.py"
        run = run or RunDir(scratch)
    else:
        if run is None:
            run = RunDir.create(run_path, model.name, options.backend, options.overwrite)
        module_path = run / "model.py"
    try:
        if world.chief:  # every file whole or not at all (atomic.py)
            run.write_text("spec.net", source)
            run.write_json("ir.json", model.model_dump(mode="json"))
            run.write_text("model.svg", model_svg(model))
            if prepared.standardization is not None:
                _save_standardization(run, model, prepared.standardization)
            if prepared.class_names is not None:
                run.write_json("classes.json", {"names": list(prepared.class_names)})
        module_source = generate(model, options.backend)
        atomic.write_text(module_path, module_source)
        placement = _Placement(world, replicas, worker_device, device, threads, plan)
        return _train_in(
            run, (module_path, module_source), file, model, prepared, backend, options,
            overrides, diagnostics, sources, placement, report,
        )
    finally:
        run.unlock()
        if world.distributed:
            backend.leave()
        if scratch is not None:
            import shutil

            shutil.rmtree(scratch, ignore_errors=True)


@dataclass(frozen=True)
class _Placement:
    """Where a run trains: its place among the workers, its device, threads and data plan."""

    world: World
    replicas: int  # copies of the model training together
    worker_device: str | None  # this torchrun worker's device
    device: dict[str, Any]  # as describe_device states it
    threads: int
    plan: DataPlan


def _train_in(
    run: RunDir,
    module: tuple[Path, str],  # where the generated module was written, and its text
    file: str,
    model: ir.Model,
    prepared: Any,
    backend: Any,
    options: TrainOptions,
    overrides: dict[str, str],
    diagnostics: Diagnostics,
    sources: dict[str, str],
    placement: _Placement,
    report: Reporter,
) -> Outcome:
    """Train in a prepared run folder: only the chief (rank 0) writes to it."""
    world, replicas, device = placement.world, placement.replicas, placement.device
    threads, plan = placement.threads, placement.plan
    chief = world.chief
    record: dict[str, Any] = {
        "netspec": __version__,
        "spec": file,
        "model": model.name,
        "backend": options.backend,
        "device_requested": options.device,
        "device": device["device"],
        "device_name": device.get("device_name"),
        "versions": {**installed_versions(), **backend.versions()},
        "threads": threads,
        "workers": replicas,
        "launcher": "torchrun" if world.distributed else ("mirrored" if replicas > 1 else "none"),
        "seed": model.train.seed,
        "precision": model.train.precision,
        "pipeline": plan.to_json(),
        "overrides": overrides,
        "data": prepared.summary(),
        "status": "running",
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "pid": os.getpid(),  # while "running": gone, the run was killed (RunDir.gone)
        "host": socket.gethostname(),
    }
    if chief:
        run.write_json("run.json", record)
    ctx = RunContext(
        model=model,
        data=prepared,
        run=run,
        module_path=module[0],
        module_source=module[1],
        device=options.device,
        threads=threads,
        reporter=report,
        resume=options.resume is not None,
        init_from=options.init_from,
        init_partial=options.init_partial,
        info={
            "model": model.name,
            "backend": options.backend,
            "device": device["device"],
            "device_description": device["description"],
            "device_requested": options.device,
            "why_not_gpu": device.get("why_not_gpu"),
            "threads": threads,
            "epochs": model.train.epochs,
            "batch_size": model.train.batch_size,
            "train_samples": prepared.samples,
            "pipeline": plan.pipeline,
            "workers": plan.workers,
            "plan": plan.describe(),
            "precision": model.train.precision,
            "run_dir": str(run.path) if chief else f"{options.out or options.resume or '-'} (rank 0 writes it)",
            "replicas": replicas,
            "launcher": record["launcher"],
        },
        plan=plan,
        world=world,
        worker_device=placement.worker_device,
        replicas=replicas,
        devices=options.devices,
    )
    resume_line = f"netspec train --resume {run.path}" + (
        f" --devices {options.devices}" if options.devices > 1 else ""
    )
    from netspec.train.convert import initialise  # --init-from: any format, via convert

    interrupted = False
    try:
        result = backend.run(ctx, initialise)
    except KeyboardInterrupt:  # Ctrl-C: stopped below, once the run's frames are let go
        interrupted = True  # (its DataLoader then shuts its workers down)
    except Stopped as stop:  # the caller's reporter stopped it (a pruned trial)
        report.close()
        if chief:
            record.update(status="stopped", reason=stop.reason, epochs_done=run.last_checkpoint())
            run.write_json("run.json", record)
            _finish_files(run, model, curves=options.curves)
        raise
    except BaseException as error:
        report.close()
        if chief:
            _record_failure(run, record, model, error)
        if _non_finite(error):
            raise _diverged(error, run, options.backend, resume_line) from None
        lost = backend.peer_failure(error) if world.distributed else None
        if lost is not None:
            done = run.last_checkpoint()
            raise TrainError(
                f"rank {world.rank}: another worker stopped ({lost}); the last complete "
                f"checkpoint holds {done} epoch{'s' if done != 1 else ''}",
                hint=f"continue with: {resume_line}",
            ) from None
        origins.name_spec_line(error, *module)
        return _failed_reading(error, model, diagnostics, sources, run.path)
    if interrupted:
        _stop_interrupted(run, record, chief, report, resume_line)
    seconds = result.pop("epoch_seconds")
    if not chief:
        return Outcome(0, diagnostics, sources, run.path, None)
    weights = "weights.safetensors" if options.backend == "torch" else "model.keras"
    saved, best = result.pop("saved_epoch"), result.pop("best")
    record.update(
        status="completed",
        epochs_done=run.last_checkpoint(),
        finished=time.strftime("%Y-%m-%dT%H:%M:%S"),
        epoch_seconds=[round(s, 4) for s in seconds],
        weights={"file": weights, "epoch": saved, "restore_best": model.train.restore_best},
        best=best,
    )
    report.message(saved_line(str(run / weights), saved, best, model.train.restore_best))
    run.write_json("run.json", record)
    if result["test"] is not None:
        run.write_json("test.json", result["test"])
    _finish_files(run, model, result["test"], options.curves)
    summary = {"run_dir": str(run.path), "test": result["test"], "history": result["history"]}
    report.finish(summary)
    return Outcome(0, diagnostics, sources, run.path, summary)


class TooLarge(TrainError):
    """The model's training state or one batch's activation exceeds this machine's memory:
    refused before a framework is imported, not an allocator's traceback later (exit 1)."""

    exit_status = 1


def _check_fits(model: ir.Model, free: int | None = None, device: str = "") -> None:
    """Refuse a model over the host's memory (before any framework), or over the `free`
    bytes of a GPU (once its framework tells)."""
    from netspec import memory

    refused = memory.refusal(model, free, device)
    if refused is not None:
        raise TooLarge(refused[0], hint=refused[1])


class Diverged(TrainError):
    """on_nan = stop ended the run at a step whose loss was NaN or infinite (exit 1)."""

    exit_status = 1


def _non_finite(error: BaseException) -> bool:
    """The generated module's NonFiniteLoss (each module defines its own class), or the
    backends' NonFiniteEpoch (netspec.train.nonfinite)."""
    return isinstance(error, FloatingPointError) and hasattr(error, "step")


def _diverged(error: Any, run: RunDir, backend: str, resume_line: str) -> Diverged:
    done = run.last_checkpoint()
    where = f"epoch {error.epoch}, step {error.step}; training stopped there (on_nan = stop)"
    if error.step and backend == "keras":  # a check per call into TensorFlow of several steps
        where = f"epoch {error.epoch}, by step {error.step}; training stopped there (on_nan = stop)"
    if error.step is None:  # every step finite, the epoch's figures not (NonFiniteEpoch)
        where = (
            f"the end of epoch {error.epoch}, whose steps all had a finite loss (its last update "
            "made the weights so); training stopped before that epoch's checkpoint"
        )
    elif not error.step:  # on_nan = skip skipped them all
        where = f"every step of epoch {error.epoch} (on_nan = skip skipped them); training stopped"
    kept = (
        f"the last checkpoint, {run.checkpoint(done, '')}, holds {done} epoch{'s' if done != 1 else ''}"
        if done
        else "no epoch finished, so no checkpoint was written"
    )
    what = "the loss" if error.step is not None else error.figure
    return Diverged(
        f"{what} is {error.value} at {where}, and {kept}",
        hint="lower the learning rate (--set lr=...), scale the inputs (standardize = true, "
        "divide_by = 255), or clip the gradients (clip_norm = 1.0)"
        + ("; on_nan = skip skips such steps instead" if error.step else "")
        + (f"; then continue with: {resume_line}" if done else ""),
    )


def _record_failure(
    run: RunDir, record: dict[str, Any], model: ir.Model, error: BaseException
) -> None:
    """run.json says the run failed and how far it got; on a full disk this may fail too,
    and then the first error is the one to tell (each file stays whole either way)."""
    record.update(status="failed", epochs_done=run.last_checkpoint())
    try:
        run.write_json("run.json", record)
    except RunFolderError:
        if not isinstance(error, RunFolderError):
            raise
        error.message += (  # a folder gone read-only: later commands tell (RunDir.gone)
            '; run.json could not be updated either and still says "running" (`--resume` '
            "and `evaluate` see that the run ended)"
        )
        return
    try:
        _finish_files(run, model)
    except RunFolderError:
        if not isinstance(error, RunFolderError):
            raise


def _stop_interrupted(
    run: RunDir, record: dict[str, Any], chief: bool, report: Reporter, resume_line: str
) -> None:
    """After Ctrl-C: run.json says how far the run got, and the error how to go on. The last
    complete epoch's checkpoint stays; curves.png waits for the resumed run (drawing it
    takes a second)."""
    report.close()
    done = run.last_checkpoint()
    if chief:
        record.update(status="interrupted", epochs_done=done)
        run.write_json("run.json", record)
    raise Interrupted(
        f"interrupted; the last checkpoint holds {done} epoch{'s' if done != 1 else ''}",
        hint=f"continue with: {resume_line}",
    )


def _world(options: TrainOptions) -> World:
    """This process's place in a data-parallel run: torchrun's environment for PyTorch; a
    Keras run is one process (its MirroredStrategy spans the devices)."""
    if options.backend == "torch":
        return torchrun_world()
    check_keras_world()
    return World()


def _workers_words(world: World, options: TrainOptions) -> str:
    if world.distributed:
        return "torchrun's WORLD_SIZE"
    return f"--devices {options.devices}"


def _default_threads(world: World) -> int:
    """Threads per worker: the cores of this machine shared among its workers."""
    if world.local_workers > 1:
        return max(usable_cores() // world.local_workers, 1)
    return default_threads()


def _launch_torchrun(
    model: ir.Model, options: TrainOptions, diagnostics: Diagnostics, sources: dict[str, str]
) -> Outcome:
    """`--devices N` with PyTorch: start torchrun's elastic agent with N workers, each running
    this same command; the workers check the spec again and train (rank 0 writes the run)."""
    from netspec.train import distributed

    backend = _backend("torch")
    backend.check_sync_batchnorm(model.train.sync_batchnorm, backend.check_device(options.device))
    arguments = list(options.arguments)
    if options.resume is not None:
        run_path = options.resume
    elif options.out is not None:
        run_path = options.out
    else:
        run_path = RunDir.fresh_path(model.name, "torch")
        arguments += ["--out", str(run_path)]
    threads = options.threads or max(usable_cores() // options.devices, 1)
    command = distributed.torchrun_command(options.devices, arguments, threads)
    if options.log != "quiet":
        print(f"launching {options.devices} workers: {distributed.shown(command)}", flush=True)
    try:
        status, failure = distributed.launch(command, run_path / "torchrun.log")
    except KeyboardInterrupt:  # the workers had Ctrl-C too; rank 0 saved what it had
        done = RunDir(run_path).last_checkpoint() if (run_path / "checkpoints").is_dir() else 0
        raise Interrupted(
            f"interrupted; the last complete checkpoint holds {done} "
            f"epoch{'s' if done != 1 else ''}",
            hint=f"continue with: netspec train --resume {run_path} --devices {options.devices}",
        ) from None
    if status == 0:
        return Outcome(0, diagnostics, sources, run_path, None)
    done = RunDir(run_path).last_checkpoint() if (run_path / "checkpoints").is_dir() else 0
    if failure is None or "exited with status" in failure:
        return Outcome(status, diagnostics, sources, run_path, None)  # the worker said why
    raise TrainError(
        f"{failure}; the run stopped, and the last complete checkpoint holds {done} "
        f"epoch{'s' if done != 1 else ''} (torchrun's report: {run_path / 'torchrun.log'})",
        hint=f"continue with: netspec train --resume {run_path} --devices {options.devices}",
    )


def _failed_reading(
    error: BaseException,
    model: ir.Model,
    diagnostics: Diagnostics,
    sources: dict[str, str],
    run_dir: Path | None = None,
) -> Outcome:
    """A DataError raised while batches were read (a file that cannot be decoded), also
    when a DataLoader worker or a tf.data reader raised it, as a diagnostic on the data
    line; any other error is raised again."""
    from netspec.data import DataError

    failure = error if isinstance(error, DataError) else DataError.from_worker(str(error))
    if failure is None:
        raise error
    diagnostics.error(failure.code, failure.message, _data_span(model), failure.hint)
    return Outcome(1, diagnostics, sources, run_dir)


def _save_standardization(run: RunDir, model: ir.Model, stats: dict[str, Any]) -> None:
    """standardization.npz: `mean` and `std` for a model with one input, else
    `<input>.mean` and `<input>.std` for each standardized input."""
    import numpy as np

    if len(model.inputs) == 1:
        arrays = {"mean": stats[model.inputs[0].name].mean, "std": stats[model.inputs[0].name].std}
    else:
        arrays = {f"{name}.{key}": getattr(s, key) for name, s in stats.items() for key in ("mean", "std")}
    atomic.write_with(run / "standardization.npz", lambda tmp: np.savez(tmp, **arrays))


def _load_standardization(run: RunDir, model: ir.Model) -> dict[str, Any] | None:
    import numpy as np

    from netspec import data

    if not (run / "standardization.npz").exists():
        return None
    with np.load(run / "standardization.npz", allow_pickle=False) as stats:
        if len(model.inputs) == 1:
            return {model.inputs[0].name: data.Standardization(stats["mean"], stats["std"])}
        names = {key.rsplit(".", 1)[0] for key in stats.files}
        return {n: data.Standardization(stats[f"{n}.mean"], stats[f"{n}.std"]) for n in names}


def _finish_files(
    run: RunDir, model: ir.Model, test: dict[str, float] | None = None, curves: bool = True
) -> None:
    if (run / "history.json").exists():
        history = run.read_json("history.json")
        run.write_history(history)
        if curves:
            run.plot_curves(history, f"{model.name}", test)


def draw_curves(run_dir: Path) -> None:
    """curves.png of a finished run trained without it (`netspec tune`'s trials): from its
    history.json, test.json and the model's name in run.json."""
    run = RunDir(run_dir)
    if not (run / "history.json").exists():
        return
    test = run.read_json("test.json") if (run / "test.json").exists() else None
    run.plot_curves(run.read_json("history.json"), str(run.read_json("run.json")["model"]), test)


# --------------------------------------------------------------------------- evaluate, predict


def _load_run(run_dir: Path, overrides: Mapping[str, str], options: TrainOptions):
    run = RunDir(run_dir)
    if not (run / "run.json").is_file():
        raise TrainError(
            f"{run_dir} is not a netspec run folder (no run.json)",
            hint="pass the folder that `netspec train` printed",
        )
    record = run.read_json("run.json")
    source = (run / "spec.net").read_text(encoding="utf-8")
    merged = {**record.get("overrides", {}), **overrides}
    model, diagnostics, sources = _check(source, record["spec"], merged)
    module_source = ""
    if model is not None:  # the module to run: netspec's own, checked against model.py
        from netspec.train.runmodule import verified_source

        module_source = verified_source(run, record, source, model, merged)
    backend_name = record["backend"]
    weights = run / ("weights.safetensors" if backend_name == "torch" else "model.keras")
    run.interrupted = run.gone(record)
    if not weights.exists():
        last = run.last_checkpoint()
        if not last:
            raise _no_weights(run, record)
        suffix = ".safetensors" if backend_name == "torch" else ".keras"
        weights = run.checkpoint(last, suffix)
    return run, record, model, diagnostics, sources, weights, module_source


def _no_weights(run: RunDir, record: dict[str, Any]) -> TrainError:
    """A run without a checkpoint: killed before its first one, still at it, or failed."""
    resume = f"netspec train --resume {run.path}"
    if run.interrupted:
        return TrainError(
            f"{run.path} holds no weights: the run was interrupted ({run.interrupted}) "
            "before its first checkpoint",
            hint=f"train it with `{resume}`",
        )
    if record.get("status") == "running":
        return TrainError(
            f"{run.path} holds no weights yet: the run is still training "
            f"(process {record.get('pid', '?')}) and has finished no epoch",
            hint="wait for its first epoch's checkpoint",
        )
    return TrainError(f"{run.path} holds no weights yet: the run saved no checkpoint")


def _checkpoint_note(run: RunDir, record: dict[str, Any], weights: Path) -> str | None:
    """What `evaluate` says when it takes a checkpoint, the run having saved no final weights."""
    if weights.parent != run.checkpoints:
        return None
    done = run.last_checkpoint()
    took = f"evaluating its last checkpoint ({done} epoch{'s' if done != 1 else ''}, {weights})"
    if run.interrupted:
        return (
            f"the run was interrupted ({run.interrupted}): {took}; "
            f"`netspec train --resume {run.path}` continues it"
        )
    if record.get("status") == "running":
        return f"the run is still training (process {record.get('pid', '?')}): {took}"
    return f"the run saved no final weights: {took}"


def _context(
    run: RunDir,
    record: dict[str, Any],
    module_source: str,
    model: ir.Model,
    options: TrainOptions,
    prepared: Any,
    plan: DataPlan,
) -> RunContext:
    return RunContext(
        model=model,
        data=prepared,
        run=run,
        module_path=run / "model.py",
        module_source=module_source,
        device=options.device,
        threads=options.threads or record.get("threads") or default_threads(),
        reporter=Reporter(),
        plan=plan,
    )


def _inference_plan(
    model: ir.Model, options: TrainOptions, prepared: Any, backend: Any
) -> DataPlan:
    config = model.train
    if options.workers is not None:
        config = config.model_copy(update={"workers": options.workers})
    gpu = backend.check_device(options.device).startswith("cuda")
    free = backend.device_free_bytes(options.device)
    return choose(config, prepared, free, usable_cores(), gpu)


def evaluate(run_dir: Path, overrides: Mapping[str, str], options: TrainOptions) -> Outcome:
    """The run's model on its spec's test split (or on all of `--data`'s samples)."""
    run, record, model, diagnostics, sources, weights, module = _load_run(
        run_dir, overrides, options
    )
    if model is None:
        return Outcome(1, diagnostics, sources)
    if "data" in overrides:  # another data set: evaluate on all of it
        model = model.model_copy(
            update={
                "train": model.train.model_copy(update={"test_split": 0.0, "validation_split": 0.0})
            }
        )
    prepared = _prepare_data(model, diagnostics)
    if prepared is None:
        return Outcome(1, diagnostics, sources)
    split = prepared.test if prepared.test is not None else prepared.train
    backend = _backend(record["backend"])
    plan = _inference_plan(model, options, prepared, backend)
    ctx = _context(run, record, module, model, options, prepared, plan)
    try:
        figures = tidy(backend.evaluate_run(ctx, weights, split), model)
    except Exception as error:
        if not weights.exists():  # a live run's keep_checkpoints removed it meanwhile
            raise TrainError(
                f"{weights} was removed while evaluate read it (a run still training keeps "
                "only its last checkpoints)",
                hint="evaluate again (its newest checkpoint then), or once the run has ended",
            ) from None
        origins.name_spec_line(error, ctx.module_path, ctx.module_source)
        return _failed_reading(error, model, diagnostics, sources)
    result = {"samples": len(split), **figures}
    if "data" not in overrides:
        run.write_json("test.json", figures)
    note = _checkpoint_note(run, record, weights)
    return Outcome(0, diagnostics, sources, run.path, result, note=note)


def _class_names(run: RunDir) -> list[str] | None:
    """The class names a run recorded (classes.json, from an image folder), if any."""
    if not (run / "classes.json").is_file():
        return None
    names = run.read_json("classes.json").get("names")
    return [str(n) for n in names] if isinstance(names, list) else None


# The Python API's train (`netspec.train(path, epochs=3)`, `netspec.api.train`): here, in the
# train stage, as this package is callable and netspec.api is above it.

_TRAIN_OPTIONS = (
    "backend", "device", "out", "threads", "log", "init_from", "init_partial", "resume", "devices"
)


@dataclass(frozen=True)
class TrainResult:
    """What a run leaves: its folder, the figures of every epoch, the test figures."""

    run_dir: Path
    history: dict[str, list[float]]  # loss, metrics, val_…, lr: one value per epoch
    test: dict[str, float] | None  # the test split's figures; None without a test split
    warnings: list[str] = field(default_factory=list)  # the spec's warnings, rendered


def from_python(spec: str | os.PathLike[str] | None = None, **options: Any) -> TrainResult:
    """`netspec.api.train`: train as `netspec train` does; the history and the run folder."""
    from netspec.diagnostics import SpecError, render_text
    from netspec.overrides import from_python as settings_from_python

    chosen = {k: options.pop(k) for k in _TRAIN_OPTIONS if k in options}
    overrides = settings_from_python(options)
    if spec is None and chosen.get("resume") is None:
        raise ValueError("give a spec file, or resume=RUN_DIR")
    for key in ("out", "init_from", "resume"):
        if chosen.get(key) is not None:
            chosen[key] = Path(chosen[key])
    outcome = train(Path(spec) if spec is not None else None, overrides, TrainOptions(**chosen))
    if outcome.status:
        raise SpecError(outcome.diagnostics, outcome.sources)
    warnings = [render_text(d, outcome.sources.get(d.span.file)) for d in outcome.diagnostics]
    result = outcome.result or {}
    return TrainResult(
        run_dir=Path(result.get("run_dir", outcome.run_dir or "")),
        history={k: list(v) for k, v in (result.get("history") or {}).items()},
        test=result.get("test"),
        warnings=warnings,
    )


class _CallableModule(types.ModuleType):
    """Makes `netspec.train(path, **settings)` the Python API (`from_python`) while
    `netspec.train` stays this package: importing a submodule binds the package here."""

    def __call__(self, spec: Any = None, **options: Any) -> Any:
        return from_python(spec, **options)


sys.modules[__name__].__class__ = _CallableModule
