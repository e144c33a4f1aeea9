"""Code that generated modules contain, kept here as real Python that ruff and the tests see.

Each file of this package is an ordinary module (importing only what a generated module
imports: torch, numpy, keras, tensorflow). The generators copy named top-level definitions out
of a file's *text* with `definition`, without importing it, so `netspec compile` never imports
a framework. Tests import these modules directly to exercise the code as it is.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

_HERE = Path(__file__).resolve().parent


@cache
def _definitions(file: str) -> dict[str, str]:
    path = _HERE / f"{file}.py"
    text = path.read_text(encoding="utf-8")
    found: dict[str, str] = {}
    for node in ast.parse(text).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            start = node.decorator_list[0].lineno if node.decorator_list else node.lineno
            lines = text.splitlines()[start - 1 : node.end_lineno]
            found[node.name] = "\n".join(lines)
    return found


def definition(file: str, name: str) -> str:
    """The source of the top-level function or class `name` in snippets/<file>.py."""
    definitions = _definitions(file)
    if name not in definitions:
        raise KeyError(f"snippets/{file}.py defines no {name!r}")
    return definitions[name]
