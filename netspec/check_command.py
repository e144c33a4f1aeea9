"""What `netspec check` does, without the command-line framework.

`netspec check FILE…` is the command run most often (by editors on save, by CI), and typer's
start-up — its import, and the pydantic adapters it builds for each parameter — took most of
its time. `netspec.entry` runs plain `check` command lines here directly; the typer command
in `netspec.cli` calls the same `run`, so both print the same and exit the same.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from netspec import ir
    from netspec.diagnostics import Diagnostics


def _coloured(stream: Any) -> bool:
    """Whether rich would write escape codes to this stream: its own rule (`Console.
    is_terminal`): TTY_COMPATIBLE=1 or a non-empty FORCE_COLOR, else a terminal."""
    compatible = os.environ.get("TTY_COMPATIBLE", "")
    if compatible in ("0", "1"):
        return compatible == "1"
    if os.environ.get("FORCE_COLOR") is not None:
        return os.environ["FORCE_COLOR"] != ""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


@cache
def _rich_stderr() -> Any:
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)


def _say(text: str, style: str | None = None) -> None:
    """A line to stderr, in colour where the terminal shows it; plain text otherwise (rich,
    30 ms to import, is not needed for that)."""
    if style and _coloured(sys.stderr):
        _rich_stderr().print(text, style=style, markup=False)
    else:
        print(text, file=sys.stderr, flush=True)


def report(diagnostics: Diagnostics, source: str | dict[str, str] | None) -> None:
    """Diagnostics to stderr; `source` is the spec's text, or texts by file name."""
    from netspec.diagnostics import render_text

    for diagnostic in diagnostics:
        style = "red" if diagnostic.severity.value == "error" else "yellow"
        text_of = source.get(diagnostic.span.file) if isinstance(source, dict) else source
        text = render_text(diagnostic, text_of)
        head, _, rest = text.partition("\n")
        _say(head, style=f"bold {style}")
        if rest:
            _say(rest)


@contextlib.contextmanager
def _no_pydantic_plugins() -> Iterator[None]:
    """netspec's models are its own: a pydantic plugin installed for other code has nothing
    here to observe, and looking for plugins reads every installed package's metadata
    (importlib.metadata and email, about 20 ms). typer does the same for its adapters."""
    saved = os.environ.get("PYDANTIC_DISABLE_PLUGINS")
    os.environ["PYDANTIC_DISABLE_PLUGINS"] = "1"
    try:
        yield
    finally:
        if saved is None:
            del os.environ["PYDANTIC_DISABLE_PLUGINS"]
        else:
            os.environ["PYDANTIC_DISABLE_PLUGINS"] = saved


def exit_status(diagnostics: Diagnostics) -> int:
    """2 when the spec file could not be read (a usage error), else 1."""
    return 2 if any(d.code == "E0002" for d in diagnostics) else 1


def flow(model: ir.Model) -> str:
    """A chain on one line (input → layer → …); a graph one line per layer, with its inputs."""
    from netspec.catalogue.shapes import fmt

    if model.is_chain:
        steps = [f"{model.inputs[0].name} {fmt(model.inputs[0].shape)}"]
        steps += [f"{layer.name} {fmt(layer.output_shape)}" for layer in model.layers]
        return " → ".join(steps)
    lines = ["inputs: " + ", ".join(f"{i.name} {fmt(i.shape)}" for i in model.inputs)]
    lines += [
        f"{layer.name} {fmt(layer.output_shape)} ← {', '.join(layer.inputs)}"
        for layer in model.layers
    ]
    lines.append("outputs: " + ", ".join(f"{o} {fmt(model.shape_of(o))}" for o in model.outputs))
    return "\n  ".join(lines)


def _space_check(
    path: Path, text: str
) -> tuple[bool, Diagnostics, str | dict[str, str], list[str]] | None:
    """A spec refused as one model for its search space, checked as a space: (every point
    valid, diagnostics, the sources to render them, the lines to print). `--emit-ir` wants
    one model: there, a space stays refused (E0190)."""
    from netspec.diagnostics import Diagnostics
    from netspec.space import find_space
    from netspec.space.checking import examine
    from netspec.space.report import headline, space_lines

    diagnostics = Diagnostics()
    space = find_space(text, str(path), diagnostics)
    if space is not None and not space.dimensions:
        return None
    sources: dict[str, str] = {}
    lines: list[str] = []
    ok = False
    if space is not None:
        result = examine(space, diagnostics, sources)
        ok = result.ok
        if ok:
            name = space.tree.model_name if space.tree is not None else "?"
            lines = [f"{path}: ok, model {name}, {headline(space, result)}"]
            lines += [f"  {line}" for line in space_lines(space, result)]
    rendered: str | dict[str, str] = {str(path): text, **sources} if sources else text
    return ok, diagnostics, rendered, lines


def run(files: Sequence[Path], format: str = "text", emit_ir: bool = False) -> int:
    """Check each file and print what `netspec check` prints; the exit status."""
    with _no_pydantic_plugins():
        return _run(files, format, emit_ir)


def _run(files: Sequence[Path], format: str, emit_ir: bool) -> int:
    import json

    from netspec.frontend import check_file

    status = 0
    collected: list[dict[str, object]] = []
    irs: list[dict[str, object]] = []
    for path in files:
        model, diagnostics, source = check_file(path)
        space = None
        if model is None and not emit_ir and any(d.code == "E0190" for d in diagnostics):
            # refused as one model: a spec with a search space, checked as a space instead
            text = source.get(str(path)) if isinstance(source, dict) else source
            space = None if text is None else _space_check(path, text)
        if space is not None:  # a spec with a search space: every point checked (netspec/space/)
            ok, diagnostics, source, lines = space
            if not ok:
                status = max(status, 1)
            if format == "json":
                collected += [d.to_json() for d in diagnostics]
            else:
                report(diagnostics, source)
                for line in lines:
                    print(line, flush=True)
            continue
        if model is None:
            status = max(status, exit_status(diagnostics))
        else:
            from netspec import memory

            memory.warn(model, diagnostics)  # W0232: larger than this machine's memory
        if format == "json":
            collected += [d.to_json() for d in diagnostics]
        else:
            report(diagnostics, source)
        if model is None:
            continue
        if emit_ir:
            irs.append(model.model_dump(mode="json"))
        elif format == "text":
            total = model.trainable_params + model.non_trainable_params
            print(f"{path}: ok, model {model.name}, {total:,} parameters", flush=True)
            print(f"  {flow(model)}", flush=True)
    if format == "json" and (not emit_ir or status):
        print(json.dumps(collected, indent=2))  # with --emit-ir, only when there is no IR to show
    elif emit_ir and irs:
        print(json.dumps(irs[0] if len(irs) == 1 else irs, indent=2))
    return status
