"""The `netspec` command's entry point.

A plain `netspec check FILE… [--format text|json] [--emit-ir]` runs `check_command.run`
directly: typer, click and rich's help machinery would take most of its time to start.
Every other command line — another command, `--help`, an option spelt another way, a file
name starting with `-`, a mistake — goes to the typer application in `netspec.cli`, which
reports it as ever. The two print the same and exit with the same status: tests/test_cli.py
runs both on the same command lines and compares. An exception neither expected is an
internal error (netspec/internal_error.py): one line, the traceback in a file, exit status 3.
"""

from __future__ import annotations

import errno
import importlib
import os
import sys
import types
from pathlib import Path
from typing import NamedTuple

_FORMATS = ("text", "json")


class CheckRequest(NamedTuple):
    files: list[Path]
    format: str
    emit_ir: bool


def check_request(argv: list[str]) -> CheckRequest | None:
    """The check to run for these arguments, or None when typer should read them."""
    if not argv or argv[0] != "check" or "_NETSPEC_COMPLETE" in os.environ:
        return None
    files: list[Path] = []
    format: str | None = None
    emit_ir = False
    rest = iter(argv[1:])
    for arg in rest:
        if arg in ("--format", "-f") and format is None:
            format = next(rest, None)
            if format not in _FORMATS:
                return None
        elif arg.startswith("--format=") and format is None:
            format = arg.removeprefix("--format=")
            if format not in _FORMATS:
                return None
        elif arg == "--emit-ir" and not emit_ir:
            emit_ir = True
        elif arg and not arg.startswith("-"):
            files.append(Path(arg))
        else:  # --help, a repeated or unknown option, `--`, an empty argument: typer's to say
            return None
    if not files:
        return None
    return CheckRequest(files, format or "text", emit_ir)


# Modules typer's help and error panels import (typer.rich_utils) but use only in modes
# netspec never turns on: markdown help text and pretty tracebacks. They and what they pull
# in (markdown-it, pygments) were a quarter of `netspec --help`.
_DEFERRED = {"rich.markdown": "Markdown", "rich.traceback": "Traceback"}


def _real_module(name: str) -> types.ModuleType:
    """The module itself, imported now in place of its stand-in."""
    if isinstance(sys.modules.get(name), _StandIn):
        del sys.modules[name]
    return importlib.import_module(name)


class _ForwardingClass(type):
    """A stand-in class: making one, or reading any attribute, uses the real class."""

    _module: str

    def _real(cls) -> type:
        return getattr(_real_module(cls._module), cls.__name__)

    def __call__(cls, *args: object, **kwargs: object) -> object:
        return cls._real()(*args, **kwargs)

    def __getattr__(cls, name: str) -> object:
        return getattr(cls._real(), name)

    def __instancecheck__(cls, instance: object) -> bool:
        return isinstance(instance, cls._real())


class _StandIn(types.ModuleType):
    """Stands in for a module until something other than its one class is read."""

    def __getattr__(self, name: str) -> object:
        if name.startswith("__"):  # what the import system asks (`__path__`): not the module's
            raise AttributeError(name)
        return getattr(_real_module(self.__name__), name)


def defer_unused_rich_modules() -> None:
    """Let `from rich.markdown import Markdown` (and Traceback) cost nothing until used:
    the name is a class that imports the real module the moment it is used, and any other
    attribute of the module does the same. The help typer prints is unchanged (tested)."""
    for name, class_name in _DEFERRED.items():
        if name in sys.modules:
            continue
        stand_in = _StandIn(name)
        setattr(stand_in, class_name, _ForwardingClass(class_name, (), {"_module": name}))
        sys.modules[name] = stand_in


def main() -> None:
    argv = sys.argv[1:]
    try:
        _main(argv)
    except Exception as error:  # a bug in netspec, not the user's: said so, exit status 3
        from netspec.internal_error import report

        sys.exit(report(error, argv))


def _main(argv: list[str]) -> None:
    request = check_request(argv)
    if request is None:
        defer_unused_rich_modules()
        from netspec.cli import main as typer_main

        typer_main()
        return
    from netspec.check_command import run

    try:
        status = run(*request)
    except KeyboardInterrupt:  # as typer exits on Ctrl-C
        sys.exit(130)
    except OSError as error:  # a closed pipe (`netspec check … | head`), as typer handles it
        if error.errno != errno.EPIPE:
            raise
        sys.stdout = _Quiet(sys.stdout)  # type: ignore[assignment]
        sys.stderr = _Quiet(sys.stderr)  # type: ignore[assignment]
        sys.exit(1)
    sys.exit(status)


class _Quiet:
    """A stream whose flush ignores a closed pipe, so exiting prints no second error."""

    def __init__(self, stream: object) -> None:
        self._stream = stream

    def flush(self) -> None:
        try:
            self._stream.flush()  # type: ignore[attr-defined]
        except OSError as error:
            if error.errno != errno.EPIPE:
                raise

    def __getattr__(self, name: str) -> object:
        return getattr(self._stream, name)


if __name__ == "__main__":
    main()
