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
    lines = text.splitlines()

    def source(node: ast.FunctionDef | ast.ClassDef) -> str:
        start = node.decorator_list[0].lineno if node.decorator_list else node.lineno
        return "\n".join(lines[start - 1 : node.end_lineno])

    for node in ast.parse(text).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            found[node.name] = source(node)
        if isinstance(node, ast.ClassDef):  # a method as "Class.method", indented as it stands
            for item in node.body:
                if isinstance(item, ast.FunctionDef):
                    found[f"{node.name}.{item.name}"] = source(item)
    return found


def definition(file: str, name: str) -> str:
    """The source of the top-level function or class `name` in snippets/<file>.py, or of the
    method `Class.method` (indented as in its class)."""
    definitions = _definitions(file)
    if name not in definitions:
        raise KeyError(f"snippets/{file}.py defines no {name!r}")
    return definitions[name]
