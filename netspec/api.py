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
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netspec.overrides import SettingError

if TYPE_CHECKING:
    from netspec import ir
    from netspec.diagnostics import Diagnostics

__all__ = ["SettingError", "SpecError", "TrainResult", "compile", "train"]

_TRAIN_OPTIONS = (
    "backend", "device", "out", "threads", "log", "init_from", "init_partial", "resume", "devices"
)


class SpecError(Exception):
    """The spec, an override or the data has errors; `diagnostics` holds them all."""

    def __init__(self, diagnostics: Diagnostics, sources: Mapping[str, str] | str | None):
        from netspec.diagnostics import render_text

        def text_of(file: str) -> str | None:
            return sources.get(file) if isinstance(sources, Mapping) else sources

        errors = [d for d in diagnostics if d.severity.value == "error"] or list(diagnostics)
        super().__init__("\n".join(render_text(d, text_of(d.span.file)) for d in errors))
        self.diagnostics = diagnostics


@dataclass(frozen=True)
class TrainResult:
    """What a run leaves: its folder, the figures of every epoch, the test figures."""

    run_dir: Path
    history: dict[str, list[float]]  # loss, metrics, val_…, lr: one value per epoch
    test: dict[str, float] | None  # the test split's figures; None without a test split
    warnings: list[str] = field(default_factory=list)  # the spec's warnings, rendered


def _spec_text(value: Any) -> str:
    """A Python value as spec syntax; a string is taken as spec syntax already."""
    from netspec.reference import literal

    if isinstance(value, str):
        return value
    if isinstance(value, os.PathLike):
        return literal(os.fspath(value))
    return literal(value)


def _overrides(settings: Mapping[str, Any]) -> dict[str, str]:
    from netspec.overrides import parse_assignments

    return parse_assignments(f"{key}={_spec_text(value)}" for key, value in settings.items())


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

    if target not in ("torch", "keras"):
        raise ValueError(f"unknown target '{target}': choose torch or keras")
    if isinstance(spec, ir.Model):
        if settings:
            raise ValueError("settings apply to a spec file or text, not to a checked model")
        return generate(spec, target)
    overrides = _overrides(settings)
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
    from netspec.train import TrainOptions
    from netspec.train import train as run_training

    chosen = {k: options.pop(k) for k in _TRAIN_OPTIONS if k in options}
    overrides = _overrides(options)
    if spec is None and chosen.get("resume") is None:
        raise ValueError("give a spec file, or resume=RUN_DIR")
    for key in ("out", "init_from", "resume"):
        if chosen.get(key) is not None:
            chosen[key] = Path(chosen[key])
    outcome = run_training(Path(spec) if spec is not None else None, overrides, TrainOptions(**chosen))
    if outcome.status:
        raise SpecError(outcome.diagnostics, outcome.sources)
    from netspec.diagnostics import render_text

    warnings = [render_text(d, outcome.sources.get(d.span.file)) for d in outcome.diagnostics]
    result = outcome.result or {}
    return TrainResult(
        run_dir=Path(result.get("run_dir", outcome.run_dir or "")),
        history={k: list(v) for k, v in (result.get("history") or {}).items()},
        test=result.get("test"),
        warnings=warnings,
    )
