"""Spans ↔ offsets in a spec's text: what a span covers, and text with spans replaced."""

from __future__ import annotations

from collections.abc import Iterable
from itertools import accumulate

from netspec.diagnostics import Span


class Text:
    """A source text with the offset at which each of its lines starts."""

    def __init__(self, source: str) -> None:
        self.source = source
        lines = source.split("\n")
        self.starts = [0, *accumulate(len(line) + 1 for line in lines)]

    def offsets(self, span: Span) -> tuple[int, int]:
        """The span as [start, end) offsets (lines and columns count from 1)."""
        return (
            self.starts[span.line - 1] + span.column - 1,
            self.starts[span.end_line - 1] + span.end_column - 1,
        )

    def of(self, span: Span) -> str:
        start, end = self.offsets(span)
        return self.source[start:end]

    def replaced(self, replacements: Iterable[tuple[Span, str]]) -> str:
        """The text with each span's text replaced; the spans do not overlap."""
        pieces = []
        at = 0
        for start, end, text in sorted((*self.offsets(s), t) for s, t in replacements):
            pieces += [self.source[at:start], text]
            at = end
        pieces.append(self.source[at:])
        return "".join(pieces)
