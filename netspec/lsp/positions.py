"""Source spans (lines and columns from 1, counted in characters) ↔ LSP positions.

LSP counts lines from 0 and characters in UTF-16 code units: a character outside the Basic
Multilingual Plane (an emoji in a comment) is two units, so a column after it is one further
for the editor than for the parser. A tab is one character to both. Lines are split at '\n'
as the parser counts them; a '\r' before it stays at the line's end, after every column.
"""

from __future__ import annotations

from netspec.diagnostics import Span


def _units(text: str) -> int:
    """The length of `text` in UTF-16 code units."""
    if text.isascii():
        return len(text)
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


class LineIndex:
    """The lines of one text, to convert its spans and positions both ways."""

    def __init__(self, text: str) -> None:
        self.lines = text.split("\n")

    def _line(self, line0: int) -> str:
        return self.lines[line0] if 0 <= line0 < len(self.lines) else ""

    def position(self, line: int, column: int) -> tuple[int, int]:
        """The LSP (line, character) of a 1-based line and column, clamped into the text."""
        line0 = min(max(line - 1, 0), max(len(self.lines) - 1, 0))
        text = self._line(line0)
        column0 = min(max(column - 1, 0), len(text))
        return line0, _units(text[:column0])

    def range(self, span: Span) -> tuple[tuple[int, int], tuple[int, int]]:
        """The LSP start and end of a span (half-open, as spans are)."""
        start = self.position(span.line, span.column)
        end = self.position(span.end_line, span.end_column)
        return start, max(start, end)

    def column(self, line0: int, character: int) -> tuple[int, int]:
        """The 1-based line and column of an LSP position; a character in the middle of a
        surrogate pair counts as the character it is part of."""
        text = self._line(line0)
        if text.isascii():
            return line0 + 1, min(max(character, 0), len(text)) + 1
        units = 0
        for index, ch in enumerate(text):
            width = 2 if ord(ch) > 0xFFFF else 1
            if units + width > character:
                return line0 + 1, index + 1
            units += width
        return line0 + 1, len(text) + 1

    def offset(self, line0: int, character: int) -> int:
        """The character offset into the whole text of an LSP position."""
        line, column = self.column(line0, character)
        line0 = min(line - 1, len(self.lines) - 1)
        return sum(len(t) + 1 for t in self.lines[:line0]) + column - 1


def contains(span: Span, line: int, column: int) -> bool:
    """Whether a 1-based position lies in a span, its end included (a cursor just after a
    name is on it, as editors place it after typing)."""
    if (line, column) < (span.line, span.column):
        return False
    return (line, column) <= (span.end_line, span.end_column)


__all__ = ["LineIndex", "contains"]
