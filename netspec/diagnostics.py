"""Source spans, diagnostics and how they are shown.

Every stage reports problems by adding a `Diagnostic` to a `Diagnostics` collector instead of
raising, so one run reports every independent error in a file. A diagnostic always points at a
span of the source, so it renders like a compiler message: `file:line:col`, the source line with
a caret under the offending text, and a hint.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from enum import Enum

from pydantic import BaseModel, ConfigDict


class Span(BaseModel):
    """A half-open region of a source file; lines and columns count from 1."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    file: str
    line: int
    column: int
    end_line: int
    end_column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


class Related(BaseModel):
    """Another place a diagnostic involves, shown as a `note:` under it: where each operand
    of a bad merge is made, the use site of the block a statement came from."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    span: Span
    message: str

    def to_json(self) -> dict[str, object]:
        return {
            "file": self.span.file,
            "line": self.span.line,
            "column": self.span.column,
            "end_line": self.span.end_line,
            "end_column": self.span.end_column,
            "message": self.message,
        }


MAX_MERGED_NOTES = 64
"""Use sites named under one diagnostic found again in many block instances."""


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"


# The one table of diagnostic codes. E0xxx: syntax; E01xx: names and arguments;
# E02xx: shapes; E03xx: loss against output; W-codes are warnings.
CODES: dict[str, str] = {
    "E0001": "syntax error",
    "E0002": "cannot read the spec file",
    "E0101": "unknown layer",
    "E0102": "unknown loss",
    "E0103": "unknown optimizer",
    "E0104": "unknown activation",
    "E0105": "unknown parameter",
    "E0106": "unknown metric",
    "E0107": "unknown train setting",
    "E0108": "unknown initializer",
    "E0109": "unknown data source",
    "E0114": "unknown learning-rate schedule",
    "E0110": "missing required argument",
    "E0111": "too many positional arguments",
    "E0112": "argument given twice",
    "E0113": "wrong value type or range",
    "E0120": "duplicate name",
    "E0121": "reserved or invalid name",
    "E0130": "missing section",
    "E0131": "section given twice",
    "E0132": "invalid input shape",
    "E0140": "unknown tensor name",
    "E0141": "cycle in the layer graph",
    "E0142": "wrong number of layer inputs",
    "E0143": "invalid model output",
    "W0140": "tensor never used",
    "E0150": "retired: training several inputs or outputs (netspec trains them now)",
    "E0160": "cannot import a file",
    "E0161": "import cycle",
    "E0162": "block defined twice",
    "E0163": "block has the name of a layer",
    "E0164": "block uses itself",
    "E0165": "unknown block parameter",
    "E0166": "missing block argument",
    "E0167": "too many block arguments",
    "E0168": "block argument given twice",
    "E0169": "undefined name in an expression",
    "E0170": "invalid arithmetic",
    "E0171": "invalid block definition",
    "E0172": "invalid repeat count",
    "E0173": "wrong number of block inputs",
    "E0174": "unknown tensor in a block",
    "E0175": "condition is not true or false",
    "E0176": "invalid comparison",
    "E0177": "tensor defined in one branch of an if",
    "E0180": "integer too large",
    "E0181": "nested too deeply",
    "E0182": "NUL or lone surrogate in a string",
    "E0183": "expansion too large",
    "E0184": "blocks or imports nested too deeply",
    "E0185": "import is not a regular file",
    "E0186": "file too large",
    "E0190": "search-space value in a spec to run",
    "E0191": "malformed search-space value",
    "E0192": "search-space value outside the main spec file",
    "W0193": "search-space value with one value",
    "E0194": "value outside its dimension's space",
    "W0195": "search space checked only in part",
    "E0201": "layer needs a flat input",
    "E0202": "window larger than its input",
    "E0203": "layer needs a sequence",
    "E0204": "reshape sizes do not match",
    "E0205": "wrong input rank",
    "E0210": "merged shapes do not match",
    "E0220": "strided and dilated window",
    "E0221": "permutation does not fit the input",
    "E0222": "Bidirectional needs a recurrent layer",
    "E0223": "positional embedding size does not fit the input",
    "E0224": "input longer than the positional embedding",
    "E0230": "tensor too large",
    "E0231": "too many parameters",
    "W0232": "model larger than this machine's memory",
    "E0301": "loss does not fit the output",
    "W0302": "probabilities fed to a loss that expects logits",
    "W0303": "logits fed to a loss that expects probabilities",
    "W0304": "model has no trainable parameters",
    "E0305": "metric does not fit the loss",
    "E0306": "class weights do not fit the output",
    "E0310": "one setting for several outputs",
    "E0311": "unknown output in a per-output section",
    "E0312": "output without a loss",
    "E0401": "data does not fit the model",
    "E0402": "cannot read the data",
    "E0403": "data arrays are malformed",
    "E0404": "targets do not fit the loss",
    "E0405": "data holds NaN, infinite or huge values",
}


class Diagnostic(BaseModel):
    """One problem found in a spec, with where it is and what to do about it."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    code: str
    severity: Severity
    message: str
    span: Span
    hint: str | None = None
    related: tuple[Related, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {
            "file": self.span.file,
            "line": self.span.line,
            "column": self.span.column,
            "end_line": self.span.end_line,
            "end_column": self.span.end_column,
            "severity": self.severity.value,
            "code": self.code,
            "message": self.message,
            "hint": self.hint,
            "related": [r.to_json() for r in self.related],
        }


class _Notes:
    """`Diagnostics.related`'s context: a plain class, not a generator, since it is entered
    once per layer statement (three times per layer of a 100,000-layer model)."""

    __slots__ = ("diagnostics", "notes", "saved")

    def __init__(self, diagnostics: Diagnostics, notes: tuple[Related, ...]) -> None:
        self.diagnostics = diagnostics
        self.notes = notes
        self.saved: tuple[Related, ...] = ()

    def __enter__(self) -> None:
        self.saved = self.diagnostics._context
        self.diagnostics._context = self.notes

    def __exit__(self, *exc: object) -> None:
        self.diagnostics._context = self.saved


class Diagnostics:
    """Collects diagnostics in the order found; stages add to it and carry on."""

    def __init__(self) -> None:
        self._items: list[Diagnostic] = []
        self._context: tuple[Related, ...] = ()
        self._index: dict[tuple[str, Span, str], int] = {}
        self._notes: dict[int, set[Related]] = {}  # the notes of each merged diagnostic
        self._suppressed: set[Span] = set()
        self.errors_reported = 0
        """Errors reported so far, those merged into an earlier one and those suppressed
        included: whether a stage met a new error, in O(1)."""

    def suppress(self, span: Span) -> None:
        """Report nothing more at this span: a value already reported stands in there as a
        placeholder (an expression that could not be evaluated)."""
        self._suppressed.add(span)

    def related(self, notes: Sequence[Related]) -> _Notes:
        """Attach these notes (in place of any outer ones) to every diagnostic added inside
        the `with` block.

        A statement instantiated from a block is checked inside one, so an error in the
        block's text also names the use site that made it.
        """
        return _Notes(self, tuple(notes))

    def error(
        self, code: str, message: str, span: Span, hint: str | None = None,
        related: Iterable[tuple[Span, str]] = (),
    ) -> None:
        self._add(code, Severity.ERROR, message, span, hint, related)

    def warning(
        self, code: str, message: str, span: Span, hint: str | None = None,
        related: Iterable[tuple[Span, str]] = (),
    ) -> None:
        self._add(code, Severity.WARNING, message, span, hint, related)

    def _add(
        self, code: str, severity: Severity, message: str, span: Span, hint: str | None,
        related: Iterable[tuple[Span, str]],
    ) -> None:
        if code not in CODES:
            raise KeyError(f"diagnostic code {code} is not in the CODES table")
        if severity is Severity.ERROR:
            self.errors_reported += 1
        if span in self._suppressed:
            return
        key = (code, span, message)
        i = self._index.get(key)
        if i is not None and len(self._items[i].related) >= MAX_MERGED_NOTES:
            return  # past MAX_MERGED_NOTES more use sites tell a reader nothing new
        notes = tuple(Related(span=s, message=m) for s, m in related)
        new = Diagnostic(
            code=code, severity=severity, message=message, span=span, hint=hint,
            related=notes + self._context,
        )
        # The same problem found again (a block's statement in a second instance) is one
        # diagnostic that names every use site.
        if i is not None:
            # Notes looked up in a set: a block used 1,000 times over made this quadratic.
            old = self._items[i]
            if i not in self._notes:
                self._notes[i] = set(old.related)
            seen = self._notes[i]
            extra = []
            for note in new.related:
                if note not in seen:
                    seen.add(note)
                    extra.append(note)
            if extra:
                self._items[i] = old.model_copy(update={"related": old.related + tuple(extra)})
            return
        self._index[key] = len(self._items)
        self._items.append(new)

    def extend(self, others: Iterable[Diagnostic]) -> None:
        for d in others:
            self._index.setdefault((d.code, d.span, d.message), len(self._items))
            self._items.append(d)

    @property
    def has_errors(self) -> bool:
        return any(d.severity is Severity.ERROR for d in self._items)

    def __iter__(self) -> Iterator[Diagnostic]:
        files: dict[str, int] = {}  # files in the order first reported: the spec before its imports
        for d in self._items:
            files.setdefault(d.span.file, len(files))
        return iter(
            sorted(self._items, key=lambda d: (files[d.span.file], d.span.line, d.span.column))
        )

    def __len__(self) -> int:
        return len(self._items)


# Python's constants, which netspec spells in lower case: the hint for each.
PYTHON_CONSTANTS: dict[str, str] = {
    "True": "netspec writes true in lower case",
    "False": "netspec writes false in lower case",
    "None": "netspec writes none in lower case",
}


def did_you_mean(name: str, choices: Iterable[str]) -> str | None:
    """The closest known name to a misspelt one, compared without case and underscores."""
    return _did_you_mean(name, tuple(choices))


@functools.lru_cache(maxsize=1024)
def _did_you_mean(name: str, choices: tuple[str, ...]) -> str | None:
    # cached: a spec that repeats one unknown name 3,000 times asks 3,000 times (5 ms each)

    import difflib  # only for a mistake

    def norm(s: str) -> str:
        return s.lower().replace("_", "")

    by_norm = {norm(c): c for c in choices}
    if norm(name) in by_norm:
        return by_norm[norm(name)]
    close = difflib.get_close_matches(norm(name), list(by_norm), n=1, cutoff=0.6)
    return by_norm[close[0]] if close else None


def closest(name: str, choices: Iterable[str], n: int = 3) -> list[str]:
    """The `n` choices most like `name` (see `_closest`)."""
    return list(_closest(name, tuple(choices), n))


@functools.lru_cache(maxsize=1024)
def _closest(name: str, choices: tuple[str, ...], n: int = 3) -> tuple[str, ...]:
    """The `n` choices most like `name`, most alike first, however far (for a hint that
    names a few instead of all): compared without case and underscores, a choice that
    contains the name (or is contained in it) before the others."""

    import difflib

    def norm(s: str) -> str:
        return s.lower().replace("_", "")

    def likeness(choice: str) -> tuple[bool, float]:
        a, b = norm(name), norm(choice)
        return (a in b or b in a), difflib.SequenceMatcher(None, a, b).ratio()

    return tuple(sorted(choices, key=likeness, reverse=True)[:n])


def _excerpt(span: Span, source: str | None) -> list[str]:
    """The source line of a span and a caret under it; nothing without the source."""
    if source is None:
        return []
    source_lines = source.split("\n")  # lines as the parser counts them: '\n' alone
    if not 1 <= span.line <= len(source_lines):
        return []
    raw = source_lines[span.line - 1].rstrip("\r")
    text = raw.expandtabs(4)
    gutter = f"{span.line:>4} | "
    # Columns count characters; a tab before the span widens it once expanded.
    start = len(raw[: max(span.column - 1, 0)].expandtabs(4))
    if span.end_line == span.line:
        end = len(raw[: max(span.end_column - 1, 0)].expandtabs(4))
        width = max(end - start, 1)
    else:
        width = max(len(text) - start, 1)
    return [gutter + text, " " * (len(gutter) - 2) + "| " + " " * start + "^" * width]


def render_text(diagnostic: Diagnostic, source: str | Mapping[str, str] | None) -> str:
    """A compiler-style message: location, severity, code, message, source line, caret, hint;
    then a `note:` with its own source line and caret for each related place.

    `source` is the text of the diagnostic's file, or texts by file name when the spec
    imports others (a note in a file with no text here is shown without a quote).
    """
    def text_of(span: Span) -> str | None:
        if isinstance(source, Mapping):
            return source.get(span.file)
        return source if span.file == diagnostic.span.file else None

    d = diagnostic
    lines = [f"{d.span}: {d.severity.value}[{d.code}]: {d.message}", *_excerpt(d.span, text_of(d.span))]
    for note in d.related:
        lines += [f"{note.span}: note: {note.message}", *_excerpt(note.span, text_of(note.span))]
    if d.hint:
        lines.append(f"  hint: {d.hint}")
    return "\n".join(lines)


def render_json(diagnostics: Iterable[Diagnostic]) -> str:
    import json

    return json.dumps([d.to_json() for d in diagnostics], indent=2)


class SpecError(Exception):
    """The spec, an override or the data has errors; `diagnostics` holds them all.

    Raised by the Python API (`netspec.compile`, `netspec.train`); its text is the errors
    as `netspec check` prints them (every diagnostic when none is an error).
    """

    def __init__(self, diagnostics: Diagnostics, sources: Mapping[str, str] | str | None):
        def text_of(file: str) -> str | None:
            return sources.get(file) if isinstance(sources, Mapping) else sources

        errors = [d for d in diagnostics if d.severity.value == "error"] or list(diagnostics)
        super().__init__("\n".join(render_text(d, text_of(d.span.file)) for d in errors))
        self.diagnostics = diagnostics
