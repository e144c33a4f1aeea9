"""Which spec line an error raised inside a generated module comes from.

The writer records the spec node of each generated line (`GeneratedModule.origin`, kept
beside the text, never in it). When an error the framework raised inside the generated
model.py escapes `train`, `evaluate` or `predict` (a shape or dtype the framework refuses in a
layer's forward), netspec says which line of model.py raised it and which `.net` line that
code was generated from, next to its one-line report of the error.
"""

from __future__ import annotations

import traceback
from pathlib import Path

from netspec import internal_error


def raising_line(error: BaseException, path: Path) -> int | None:
    """The line of the file `path` in the innermost of its frames the error passed, if any."""
    line = None
    for frame, lineno in traceback.walk_tb(error.__traceback__):
        if frame.f_code.co_filename == str(path):
            line = lineno
    return line


def spec_line(error: BaseException, path: Path, module: str) -> str | None:
    """`raised at model.py:LINE, generated from spec.net:LINE (layer NAME)`, where the error passed a
    line of the generated module that a spec node produced; None otherwise."""
    line = raising_line(error, path)
    origin = getattr(module, "origin", None)  # a GeneratedModule; a plain text knows no lines
    found = origin(line) if origin is not None and line is not None else None
    if found is None:
        return None
    span, what = found
    return f"raised at {path}:{line}, generated from {span.file}:{span.line}" + (
        f" ({what})" if what else ""
    )


def name_spec_line(error: BaseException, path: Path, module: str) -> None:
    """Tell, with the error, the spec line its generated code comes from (when known)."""
    where = spec_line(error, path, module)
    if where is not None:
        internal_error.add_where(error, where)
