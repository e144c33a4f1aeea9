"""Source spans (lines and columns from 1, counted in characters) ↔ LSP positions.

LSP counts lines from 0 and characters in UTF-16 code units unless client and server agree
on another encoding (`positionEncoding`: UTF-8 bytes or UTF-32 characters): in UTF-16 a
character outside the Basic Multilingual Plane (an emoji in a comment) is two units, so a
column after it is one further for the editor than for the parser. A tab is one character
to all. Lines are split at '\n' as the parser counts them; a '\r' before it stays at the
line's end, after every column.
"""

from __future__ import annotations

from netspec.diagnostics import Span

ENCODINGS = ("utf-16", "utf-8", "utf-32")


def _width(ch: str, encoding: str) -> int:
    """The code units of one character."""
    if encoding == "utf-8":
        return len(ch.encode("utf-8", "surrogatepass"))
    if encoding == "utf-32":
        return 1
    return 2 if ord(ch) > 0xFFFF else 1


class LineIndex:
    """The lines of one text, to convert its spans and positions both ways, in the position
    encoding agreed with the editor (UTF-16 unless told)."""

    def __init__(self, text: str, encoding: str = "utf-16") -> None:
        self.lines = text.split("\n")
        self.encoding = encoding if encoding in ENCODINGS else "utf-16"

    def _units(self, text: str) -> int:
        if text.isascii():
            return len(text)
        return sum(_width(ch, self.encoding) for ch in text)

    def _line(self, line0: int) -> str:
        return self.lines[line0] if 0 <= line0 < len(self.lines) else ""

    def position(self, line: int, column: int) -> tuple[int, int]:
        """The LSP (line, character) of a 1-based line and column, clamped into the text."""
        line0 = min(max(line - 1, 0), max(len(self.lines) - 1, 0))
        text = self._line(line0)
        column0 = min(max(column - 1, 0), len(text))
        return line0, self._units(text[:column0])

    def range(self, span: Span) -> tuple[tuple[int, int], tuple[int, int]]:
        """The LSP start and end of a span (half-open, as spans are)."""
        start = self.position(span.line, span.column)
        end = self.position(span.end_line, span.end_column)
        return start, max(start, end)

    def column(self, line0: int, character: int) -> tuple[int, int]:
        """The 1-based line and column of an LSP position; a position inside a character
        (half of a surrogate pair, a byte of UTF-8) counts as that character."""
        text = self._line(line0)
        if text.isascii():
            return line0 + 1, min(max(character, 0), len(text)) + 1
        units = 0
        for index, ch in enumerate(text):
            width = _width(ch, self.encoding)
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


__all__ = ["ENCODINGS", "LineIndex", "contains"]
