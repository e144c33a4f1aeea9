"""What each part of the check pass shares: the spec it reads and where its problems go."""

from __future__ import annotations

from netspec import ir
from netspec.diagnostics import Diagnostics


class SpecChecker:
    """The base of the graph and objectives checkers, which read one spec's sections."""

    def __init__(self, spec: ir.SpecFile, diagnostics: Diagnostics) -> None:
        self.spec = spec
        self.diagnostics = diagnostics

    def _missing(self, section: str, example: str) -> None:
        self.diagnostics.error(
            "E0130",
            f"model '{self.spec.model_name}' has no '{section}' section",
            self.spec.name_span,
            hint=f"add, for example: {example}",
        )
