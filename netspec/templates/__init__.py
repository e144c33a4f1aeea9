"""Starter specs for `netspec init`: real .net files shipped in the package.

Each template checks and trains on data that ships with scikit-learn (the 8x8 digits), so a
new spec runs on any install. `netspec init NAME` copies one, with the model renamed.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

TEMPLATES = {
    "mlp": "a multilayer perceptron on the 8x8 digits",
    "cnn": "a small convolutional network on the digits as 8x8 images",
    "lstm": "an LSTM reading each digit as 8 rows of 8 pixels",
    "resnet": "a residual network: a block with a shortcut, used twice",
}

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class InitError(Exception):
    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint


def text(template: str) -> str:
    """The template as shipped."""
    if template not in TEMPLATES:
        raise InitError(f"unknown template '{template}'", hint="templates: " + ", ".join(TEMPLATES))
    return resources.files(__name__).joinpath(f"{template}.net").read_text(encoding="utf-8")


def destination(name: str) -> tuple[Path, str]:
    """`NAME`, `NAME.net` or `dir/NAME.net` → (the file to write, the model's name)."""
    path = Path(name)
    if path.suffix != ".net":
        path = path.with_name(path.name + ".net")
    model = re.sub(r"[^A-Za-z0-9_]", "_", path.stem)
    if not _NAME.fullmatch(model):
        raise InitError(
            f"'{path.stem}' cannot name a model: a name starts with a letter or '_'",
            hint=f"e.g. netspec init m{model}",
        )
    return path, model


def starter(template: str, model: str) -> str:
    """The template's text with its model renamed."""
    return re.sub(r"^model \w+", f"model {model}", text(template), count=1, flags=re.MULTILINE)


def write(name: str, template: str) -> tuple[Path, str]:
    """Write the starter spec; refuses an existing file and a spec that would not check."""
    from netspec.diagnostics import render_text
    from netspec.frontend import check_source

    path, model = destination(name)
    if path.exists():
        raise InitError(
            f"{path} exists; netspec init does not overwrite a file",
            hint="choose another name, or remove the file first",
        )
    source = starter(template, model)
    checked, diagnostics = check_source(source, str(path))
    if checked is None:  # e.g. a model named like a keyword
        first = next(d for d in diagnostics if d.severity.value == "error")
        raise InitError(
            f"a model named '{model}' does not check: {render_text(first, source).splitlines()[0]}",
            hint="choose another name",
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("x", encoding="utf-8") as stream:  # "x": never replaces a file
            stream.write(source)
    except OSError as error:
        raise InitError(f"cannot write {path}: {error.strerror or error}") from None
    return path, model
