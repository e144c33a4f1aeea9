"""`--set key=value`: any train setting, or the optimizer's learning rate, from the command line;
or a dimension of the spec's search space (`--set dense.units=64`, netspec/space/fix.py).

Only the keys are checked here (a misspelt key is a usage error with a suggestion, before
anything is read); each value stays text in spec syntax and is parsed and validated with the
spec itself (`frontend.override_train`), so `--set epochs=2.5` is the diagnostic `epochs = 2.5`
in a train block would be. Nothing is evaluated. A key with a dot names a dimension; which
dimensions there are is known only once the spec is read, so such a key is checked there
(E0194), as is its value (it must lie in the dimension's space).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

# Keys that set an argument of the optimizer rather than a train setting.
OPTIMIZER_KEYS = {"lr": "lr", "learning_rate": "lr"}


class SettingError(Exception):
    """A `--set` item that is not `key=value` with a known key."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint


def settable() -> list[str]:
    """Every key `--set` takes: the train settings, then `lr`."""
    from netspec import ir

    return [*(name for name in ir.TrainConfig.model_fields if name != "span"), "lr"]


def parse_assignments(items: Iterable[str]) -> dict[str, str]:
    """`["lr=3e-4", "reshape=true"]` → `{"lr": "3e-4", "reshape": "true"}` (values unparsed)."""
    from netspec.diagnostics import did_you_mean

    known = settable()
    assignments: dict[str, str] = {}
    for item in items:
        key, equals, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not equals or not key:
            raise SettingError(
                f"--set takes key=value, got '{item}'", hint="e.g. --set lr=3e-4 --set reshape=true"
            )
        key = OPTIMIZER_KEYS.get(key, key)
        if "." in key:
            pass  # a dimension of the spec's search space (`dense.units`): checked with the spec
        elif key not in known:
            suggestion = did_you_mean(key, known)
            if suggestion:
                raise SettingError(f"unknown train setting '{key}' — did you mean '{suggestion}'?")
            raise SettingError(f"unknown train setting '{key}'", hint="settings: " + ", ".join(known))
        if not value:
            raise SettingError(
                f"--set {key}= has no value", hint=f"write the value as in a spec: --set {key}=…"
            )
        if key in assignments:
            raise SettingError(f"--set {key} is given twice", hint="keep one of them")
        assignments[key] = value
    return assignments


def merge(options: Mapping[str, str], assignments: Mapping[str, str]) -> dict[str, str]:
    """The dedicated options (`--epochs 3`) and the `--set` items, refusing one key from both."""
    both = sorted(set(options) & set(assignments))
    if both:
        key = both[0]
        raise SettingError(
            f"{key} is set twice: by --{key.replace('_', '-')} and by --set {key}=…",
            hint="keep one of them",
        )
    return {**options, **assignments}


def from_python(settings: Mapping[str, Any]) -> dict[str, str]:
    """Keyword settings given in Python (`epochs=3`, `lr=3e-4`, `data='npz("mine.npz")'`) as
    `--set` items, checked as `--set` is; a string value is spec syntax already."""
    return parse_assignments(f"{key}={_spec_text(value)}" for key, value in settings.items())


def _spec_text(value: Any) -> str:
    """A Python value as spec syntax; a string is taken as spec syntax already."""
    from netspec.reference import literal

    if isinstance(value, str):
        return value
    if isinstance(value, os.PathLike):
        return literal(os.fspath(value))
    return literal(value)
