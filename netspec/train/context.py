"""What a backend needs to run a spec: the model, its data, its run folder and the options."""

from __future__ import annotations

import importlib.abc
import importlib.util
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from netspec import ir
from netspec.train.errors import Interrupted as Interrupted  # raised and caught by that name
from netspec.train.errors import TrainError as TrainError
from netspec.train.plan import DataPlan
from netspec.train.progress import Reporter

if TYPE_CHECKING:
    from netspec.train.rundir import RunDir

if TYPE_CHECKING:  # numpy and the data stage load with the data, after the first line
    from netspec.data import Prepared


@dataclass
class RunContext:
    model: ir.Model
    data: Prepared
    run: RunDir
    module_path: Path  # where the generated module was written (named in tracebacks)
    module_source: str  # the generated module's text: what runs
    device: str  # as asked: auto, cpu, cuda, cuda:N, mps
    threads: int
    reporter: Reporter
    resume: bool = False
    init_from: Path | None = None
    init_partial: bool = False  # the file may hold only some tensors (transfer learning)
    info: dict[str, Any] = field(default_factory=dict)
    plan: DataPlan = field(default_factory=lambda: DataPlan("memory", 0, 0, None, "default"))
    world: Any = None  # netspec.train.distributed.World; one process when None
    worker_device: str | None = None  # this worker's device in a data-parallel run
    replicas: int = 1  # copies of the model that train together (workers × devices each)
    devices: int = 1  # --devices: the local devices a Keras MirroredStrategy spans

    def __post_init__(self) -> None:
        if self.world is None:
            from netspec.train.distributed import World

            self.world = World()

    @property
    def config(self) -> ir.TrainConfig:
        return self.model.train


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # macOS, Windows
        return max(os.cpu_count() or 1, 1)


def default_threads() -> int:
    """CPU threads for a run: the cores this process may use (its affinity); `--threads` or
    the spec's `threads` overrides. The load average is not subtracted: it tells of the past
    minute, not of the hours a run takes, and a run that starts on a busy machine would keep
    its few threads after the machine fell idle."""
    return usable_cores()


def load_module(path: Path, name: str, source: str | None = None) -> ModuleType:
    """Import a generated module under a name of its own: the text `source` as written to
    `path` (which names it in tracebacks), so what runs is the text netspec generated in this
    process, not the file read back (which may have changed since) nor a cached .pyc.
    Without `source`, the file's text as it is now: only for a file the caller just wrote
    (tests, tools); netspec's commands always pass the text."""
    if source is None:
        source = path.read_text(encoding="utf-8")
    module_name = f"netspec_generated_{name}_{abs(hash(str(path.resolve())))}"
    loader = _GeneratedSource(str(path), source)
    spec = importlib.util.spec_from_loader(module_name, loader, origin=str(path))
    assert spec is not None
    spec.has_location = True  # __file__ is the written file, as for a module imported from it
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    loader.exec_module(module)
    return module


class _GeneratedSource(importlib.abc.SourceLoader):
    """Loads a module from text held in memory; it writes and reads no bytecode cache."""

    def __init__(self, path: str, source: str) -> None:
        self.path = path
        self.source = source

    def get_filename(self, fullname: str) -> str:
        return self.path

    def get_data(self, path: str) -> bytes:
        return self.source.encode("utf-8")
