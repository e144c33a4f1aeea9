"""What `netspec fmt FILE… [--check]` does, without the command-line framework.

Each file is rewritten in the canonical layout (`netspec.fmt`), or with `--check` left alone
and a unified diff printed for each file that is not formatted (for CI). `-` reads a spec
from stdin and writes it formatted to stdout (for editors); a folder stands for the .net
files under it. A file that does not
parse gets the usual diagnostic and is never touched. Exit status: 0 when every file is (or
now is) formatted, 1 when `--check` found one that is not or a file has a syntax error, 2
when a file cannot be read, 3 when the formatter would change a file's meaning (a bug).
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Sequence
from pathlib import Path

from netspec.check_command import exit_status, report
from netspec.diagnostics import Diagnostics
from netspec.fmt import FormatError, format_source
from netspec.parse import read_spec


def diff(source: str, formatted: str, path: str) -> str:
    """The unified diff from `source` to `formatted`, the formatted side marked."""
    lines = difflib.unified_diff(
        source.splitlines(keepends=True),
        formatted.splitlines(keepends=True),
        fromfile=path,
        tofile=f"{path} (formatted)",
    )
    # A last line without its newline is marked as `diff` marks it, so `patch` reads it.
    return "".join(
        line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
        for line in lines
    )


def _expand(paths: Sequence[Path]) -> list[Path]:
    """The files named, a folder standing for the .net files under it (in name order)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.rglob("*.net") if p.is_file())
        else:
            files.append(path)
    return files


def run(paths: Sequence[Path], check: bool = False) -> int:
    """Format (or with `check`, compare) each file; the exit status."""
    status = 0
    changed = 0
    files = _expand(paths)
    for path in files:
        diagnostics = Diagnostics()
        from_stdin = str(path) == "-"
        if from_stdin:  # an editor's buffer: the formatted text goes to stdout
            path = Path("<stdin>")
            source: str | None = sys.stdin.read()
        else:
            source = read_spec(path, diagnostics)
        formatted = None
        if source is not None:
            try:
                formatted = format_source(source, str(path), diagnostics)
            except FormatError as error:
                print(f"error: {error}; the file is left as it is (a bug in netspec fmt: "
                      "please report it with the file)", file=sys.stderr)
                status = max(status, 3)
                continue
        if formatted is None:
            report(diagnostics, source)
            status = max(status, exit_status(diagnostics))
            continue
        if from_stdin and not check:
            sys.stdout.write(formatted)
            continue
        if formatted == source:
            continue
        changed += 1
        if check:
            sys.stdout.write(diff(source, formatted, str(path)))
            status = max(status, 1)
        else:
            path.write_text(formatted, encoding="utf-8")
            print(f"formatted {path}", file=sys.stderr)
    if check and changed:
        print(f"{changed} of {len(files)} file(s) would be reformatted", file=sys.stderr)
    return status
