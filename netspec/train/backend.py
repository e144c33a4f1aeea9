"""What netspec.train asks of a framework backend (`torch_backend`, `keras_backend`).

Each backend is a module with these functions; `netspec.train` picks one by name and drives it.
A backend reads its run from the `RunContext`; whatever needs more of netspec than the
framework (loading `--init-from` weights of any format goes through `convert`, which is above
the backends and builds models with them) is passed in, so no backend imports `convert`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from netspec.train.context import RunContext

# Loads `--init-from` weights into the built model (convert.initialise): (ctx, built) -> None.
Init = Callable[[RunContext, Any], None]


class Backend(Protocol):
    """The functions every backend module defines (tests/test_imports.py checks the names)."""

    def check_device(self, requested: str) -> str: ...

    def check_precision(self, precision: str, requested: str) -> None: ...

    def describe_device(self, requested: str) -> dict[str, Any]: ...

    def device_free_bytes(self, requested: str) -> int | None: ...

    def versions(self) -> dict[str, Any]: ...

    def run(self, ctx: RunContext, init: Init) -> dict[str, Any]:
        """Train; `init` loads the starting weights when the run has `--init-from`."""
        ...

    def evaluate_run(self, ctx: RunContext, weights: Path, split: Any) -> dict[str, float]: ...

    def predict_run(self, ctx: RunContext, weights: Path, inputs: Any) -> Any: ...
