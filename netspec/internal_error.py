"""An exception no command expected: a bug in netspec, told as one.

Every problem a user can fix is a diagnostic or an `error:` line (exit status 1, or 2 for a
usage error). Anything else that reaches the entry point is netspec's own failure, so it
says so in one line, writes the traceback to a file to attach to a report, and exits with
its own status, so that editors and CI can tell a netspec bug from a spec's mistake.
`netspec --debug COMMAND …` prints the traceback as well.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

INTERNAL_ERROR = 3
"""The exit status of an internal error (0 ok, 1 errors in the spec or data, 2 usage)."""

TRACEBACK_FILE = "internal-error.txt"
"""Its name in a run folder, where a run's internal error leaves its traceback."""

_MESSAGE_LIMIT = 300

_run_folder: Path | None = None


def note_run_folder(path: Path) -> None:
    """The run folder this process writes: an internal error leaves its traceback there."""
    global _run_folder
    _run_folder = path


def debug_requested(argv: Sequence[str]) -> bool:
    """Whether `--debug` comes before the command (`netspec --debug check a.net`)."""
    for arg in argv:
        if arg == "--debug":
            return True
        if not arg.startswith("-") or arg == "--":
            return False
    return False


_WHERE = "_netspec_where"


def add_where(error: BaseException, line: str) -> None:
    """A line saying where in the user's files the error arose (the spec line whose generated
    code raised it): told under the report's first line, and noted in the traceback."""
    error.add_note(line)
    setattr(error, _WHERE, [*getattr(error, _WHERE, []), line])


def summary(error: BaseException) -> str:
    """`ExceptionType: message`, the message's first line only, cut short when long."""
    lines = str(error).strip().splitlines()
    message = lines[0] if lines else ""
    if len(message) > _MESSAGE_LIMIT:
        message = message[: _MESSAGE_LIMIT - 1] + "…"
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def report(error: BaseException, argv: Sequence[str]) -> int:
    """Tell the error (traceback too with --debug), write the traceback; the exit status."""
    debug = debug_requested(argv)
    text = "".join(traceback.format_exception(error))
    written, why_not = _write(text, argv)
    lines = [f"internal error in netspec, please report: {summary(error)}"]
    lines += [f"  {where}" for where in getattr(error, _WHERE, [])]
    if written is not None:
        shown = "" if debug else " (`netspec --debug …` prints it)"
        lines.append(f"  the traceback is in {written}{shown}")
    else:
        lines.append(f"  the traceback could not be written ({why_not})")
    if debug or written is None:
        lines.insert(0, text.rstrip("\n"))
    _say("\n".join(lines))
    return INTERNAL_ERROR


def _write(text: str, argv: Sequence[str]) -> tuple[Path | None, str]:
    """The file the traceback went to (the run folder's, else a new one in the temporary
    folder, readable by the user alone), or None and why."""
    import platform
    import tempfile

    from netspec import __version__

    content = (
        f"netspec {__version__}, Python {platform.python_version()}, {platform.platform()}\n"
        f"command: netspec {' '.join(argv)}\n\n{text}"
    )
    if _run_folder is not None and _run_folder.is_dir():
        path = _run_folder / TRACEBACK_FILE
        try:
            path.write_text(content, encoding="utf-8")
            return path, ""
        except OSError:
            pass  # a read-only or full run folder: the temporary folder then
    try:
        fd, name = tempfile.mkstemp(prefix="netspec-internal-error-", suffix=".txt")
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            stream.write(content)
        return Path(name), ""
    except OSError as failure:
        return None, failure.strerror or str(failure)


def _say(text: str) -> None:
    """To stderr after whatever stdout holds; a closed stream is no second error."""
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is sys.stderr:
                print(text, file=stream)
            stream.flush()
        except (OSError, ValueError):
            pass
