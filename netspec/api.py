"""netspec from Python (a notebook, a script): check a spec, compile it, train it.

    import netspec

    model, diagnostics, source = netspec.check_file("specs/digits_mlp.net")
    code = netspec.compile("specs/digits_mlp.net", target="keras")
    run = netspec.train("specs/digits_mlp.net", epochs=5, lr=3e-4)
    run.history["val_accuracy"][-1], run.run_dir

The functions are the command line's, without the printing: `train` runs what
`netspec train` runs and leaves the same run folder. Keyword settings are train settings
(`epochs`, `data`, `reshape`, …, and `lr` for the optimizer's learning rate), checked as
`--set` is; a string value is spec syntax (`data='npz("mine.npz")'`). A spec with errors
raises `SpecError`, whose text is the diagnostics as `netspec check` prints them.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from netspec.diagnostics import SpecError
from netspec.overrides import SettingError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from netspec import ir
    from netspec.frontend import check_file, check_source
    from netspec.train import TrainResult

__all__ = [
    "SettingError", "SpecError", "TrainResult", "check_file", "check_source", "compile", "train"
]


def __getattr__(name: str) -> Any:
    """The pipeline's entry points and the train stage's result, imported when first used."""
    if name in ("check_file", "check_source"):  # parse → expand → check: netspec/frontend.py
        from netspec import frontend

        return getattr(frontend, name)
    if name == "TrainResult":
        from netspec.train import TrainResult

        return TrainResult
    raise AttributeError(f"module 'netspec.api' has no attribute '{name}'")


def _sources(source: str | dict[str, str] | None, path: str, overrides: Mapping[str, str]):
    texts = source if isinstance(source, dict) else {path: source or ""}
    return {**texts, **{f"--{k.replace('_', '-')}": v for k, v in overrides.items()}}


def compile(spec: str | os.PathLike[str] | ir.Model, target: str = "torch", **settings: Any) -> str:
    """The generated module's source for `target` (`torch` or `keras`).

    `spec` is a checked model (from `check_file`), a path to a .net file, or spec text (a
    string with a newline). Keyword settings override the train block, as `--set` does.
    """
    from netspec import ir
    from netspec.codegen import generate
    from netspec.frontend import check_file, check_source
    from netspec.overrides import from_python

    if target not in ("torch", "keras"):
        raise ValueError(f"unknown target '{target}': choose torch or keras")
    if isinstance(spec, ir.Model):
        if settings:
            raise ValueError("settings apply to a spec file or text, not to a checked model")
        return generate(spec, target)
    overrides = from_python(settings)
    if isinstance(spec, str) and "\n" in spec:
        model, diagnostics = check_source(spec, "<spec>", overrides)
        source: str | dict[str, str] | None = spec
        name = "<spec>"
    else:
        model, diagnostics, source = check_file(spec, overrides)
        name = os.fspath(spec)
    if model is None:
        raise SpecError(diagnostics, _sources(source, name, overrides))
    return generate(model, target)


def train(spec: str | os.PathLike[str] | None = None, **options: Any) -> TrainResult:
    """Train the spec's model as `netspec train` does; returns the history and the run folder.

    Options: `backend` ("torch" or "keras"), `device` ("auto", "cpu", "cuda", …), `out` (the
    run folder), `threads`, `log` ("auto", "plain", "jsonl", "quiet"), `init_from`,
    `init_partial`, `resume` (a run folder; `spec` is then left out), `devices`. Every other
    keyword is a train setting or `lr`: `netspec.train(path, epochs=3, lr=3e-4, reshape=True)`.
    """
    from netspec.train import from_python

    return from_python(spec, **options)
