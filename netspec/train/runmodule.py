"""The module `evaluate` and `predict` run for a run folder: the one netspec generates from the
run's spec, never the folder's model.py as found (and `train --resume` writes it again only
when model.py is that same text, so a hand edit is never overwritten).

A run folder may come from elsewhere (downloaded, shared, restored from a backup), and its
model.py is Python that importing would run. So netspec generates the module again from the
run's spec.net with the overrides it trained with (as `train --resume` does), runs that text,
and refuses a model.py that differs from it: a user who edited the file by hand is told, and
a planted line never runs. A folder without model.py runs the generated module.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from netspec import ir
from netspec.codegen import generate
from netspec.frontend import check_source
from netspec.train.context import TrainError
from netspec.train.rundir import RunDir


def verified_source(
    run: RunDir,
    record: dict[str, Any],
    source: str,
    model: ir.Model,
    overrides: Mapping[str, str],
) -> str:
    """The generated module for the run as it trained; raises TrainError when the folder's
    model.py is another text. `model` is the spec checked with `overrides` (the trained ones
    and the command's); the spec is checked again when the command added overrides."""
    trained = dict(record.get("overrides", {}))
    if dict(overrides) != trained:  # the module was generated with the trained overrides only
        model = check_source(source, record["spec"], trained)[0]
        if model is None:
            raise TrainError(
                f"{run.path / 'spec.net'} no longer checks with the overrides it trained with",
                hint="evaluate or predict with the spec's files as they were when it trained",
            )
    text = generate(model, record["backend"])
    stored = run / "model.py"
    try:
        found = _read_at_most(stored, len(text.encode("utf-8")) + 1)
    except FileNotFoundError:
        return text
    if found != text.encode("utf-8"):
        raise TrainError(
            f"{stored} is not the module netspec generates from the run's spec.net "
            f"({_origin(record)}): netspec runs only the code it generates, not this file",
            hint="if you edited model.py, make the change in the spec and train again; to run "
            f"this run with the module netspec generates, delete {stored}",
        )
    return text


def _read_at_most(path: Path, size: int) -> bytes | None:
    """A regular file's first `size` bytes; None for anything else (a FIFO is never waited
    on) or a file that cannot be read."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        try:
            return handle.read(size)
        except OSError:
            return None


def _origin(record: dict[str, Any]) -> str:
    """Which netspec trained the run: a newer or older one may generate another text."""
    from netspec import __version__

    version = record.get("netspec")
    if version is None or version == __version__:
        return "it was edited, written by another program, or a file the spec uses changed"
    return f"it trained with netspec {version}, this is netspec {__version__}"
