"""Python that netspec states as values: the catalogue's lowerings hold them, the writer writes them.

Below both the catalogue and the code generators, so a catalogue entry can say "call
`nn.Linear(8, 4)`" without importing the writer, and the writer needs nothing of the catalogue.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Code:
    """A fragment of Python written by netspec itself (never spec text), e.g. `self.fc.weight`."""

    text: str


@dataclass(frozen=True)
class PyCall:
    """A call to emit: `func(*args, **kwargs)`, values written as literals by the writer."""

    func: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
