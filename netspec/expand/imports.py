"""`use` imports: the files of blocks a spec names, loaded once each, and what each file can see."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from netspec import ir
from netspec.diagnostics import Diagnostics, Severity
from netspec.limits import MAX_EXPANSION_DEPTH, MAX_SOURCE_BYTES
from netspec.parse import (
    LIBRARY_HOLDS,
    NotRegularFile,
    SourceTooLarge,
    parse_library,
    read_source,
)


@dataclass
class _File:
    """A file of blocks, loaded: its own definitions and the ones it can see."""

    display: str
    uses: list[ir.Use]
    own: list[ir.BlockDef]
    scope: dict[str, ir.BlockDef] = field(default_factory=dict)


class Loader:
    """Reads and parses the files `use` names, once each, and builds each file's scope."""

    def __init__(self, diagnostics: Diagnostics, sources: dict[str, str] | None = None) -> None:
        self.diagnostics = diagnostics
        self.sources = sources if sources is not None else {}
        self._done: dict[Path, _File | None] = {}
        self._loading: list[tuple[Path, str]] = []
        self.ok = True

    def load(self, display: str, uses: list[ir.Use], own: list[ir.BlockDef]) -> _File:
        """The file's scope, after loading everything it imports (depth first)."""
        here = _resolved(display)
        file = _File(display, uses, own)
        self._loading.append((here, display))
        try:
            for use in uses:
                imported = self._import(display, use)
                for block in imported.own if imported else []:
                    self._define(file.scope, block)
        finally:
            self._loading.pop()
        for block in own:
            self._define(file.scope, block)
        return file

    def _import(self, importer: str, use: ir.Use) -> _File | None:
        display = os.path.normpath(os.path.join(os.path.dirname(importer), use.path))
        path = _resolved(display)
        chain = [p for p, _ in self._loading]
        if path in chain:
            names = [d for _, d in self._loading[chain.index(path):]] + [display]
            self.diagnostics.error(
                "E0161",
                "import cycle: " + " → ".join(names),
                use.span,
                hint="a file cannot import itself, directly or through others; "
                "move the shared blocks into a file that imports neither",
            )
            self.ok = False
            return None
        if path in self._done:
            return self._done[path]
        if len(self._loading) >= MAX_EXPANSION_DEPTH:
            self.diagnostics.error(
                "E0184",
                f"imports chain more than {MAX_EXPANSION_DEPTH} files deep here",
                use.span,
                hint="import the shared blocks from fewer levels of files",
            )
            self.ok = False
            return None
        self._done[path] = None
        try:
            source = read_source(path, regular_only=True)
        except NotRegularFile as error:
            self.diagnostics.error(
                "E0185", f"cannot import {display}: it is {error.kind}", use.span,
                hint="'use' imports a regular .net file of blocks",
            )
            self.ok = False
            return None
        except SourceTooLarge as error:
            self.diagnostics.error(
                "E0186",
                f"cannot import {display}: it is too large ({error.size:,} bytes or more)",
                use.span,
                hint=f"an imported file holds at most {MAX_SOURCE_BYTES:,} bytes",
            )
            self.ok = False
            return None
        except (OSError, UnicodeDecodeError) as error:
            reason = (  # a decoding error's own text names the byte: the file's, not the spec's
                "it is not UTF-8 text" if isinstance(error, UnicodeDecodeError)
                else error.strerror or str(error)
            )
            self.diagnostics.error(
                "E0160",
                f"cannot import {display}: {reason}",
                use.span,
                hint="the path is relative to the file that has the 'use' line",
            )
            self.ok = False
            return None
        library = self._parsed(display, source, use)
        if library is None:
            self.ok = False
            return None
        self.sources[display] = source  # a netspec file now: its lines may be quoted
        loaded = self.load(display, library.uses, library.blocks)
        self._done[path] = loaded
        return loaded

    def _parsed(self, display: str, source: str, use: ir.Use) -> ir.Library | None:
        """The imported file's blocks; None after a diagnostic.

        A file that does not parse may be no netspec file at all (`use "/etc/passwd"`), so
        its syntax error is told at the `use` line, by the file's name and a position:
        never a line of it. Problems found once it parsed quote it as they quote a spec.
        """
        found = Diagnostics()
        library = parse_library(source, display, found)
        syntax = next((d for d in found if d.code == "E0001"), None)
        if syntax is None:
            for d in found:
                notes = [(note.span, note.message) for note in d.related]
                add = self.diagnostics.error if d.severity is Severity.ERROR else self.diagnostics.warning
                add(d.code, d.message, d.span, d.hint, notes)
            return library
        where = f"line {syntax.span.line}, column {syntax.span.column}"
        self.diagnostics.error(
            "E0160",
            f"cannot import {display}: it does not parse as netspec (a syntax error at {where})",
            use.span,
            hint=LIBRARY_HOLDS if syntax.hint == LIBRARY_HOLDS
            else f"'use' imports a file of blocks; `netspec check {display}` shows the error",
        )
        return None

    def _define(self, scope: dict[str, ir.BlockDef], block: ir.BlockDef) -> None:
        first = scope.get(block.name)
        if first is block:  # the same file imported twice
            return
        if first is not None:
            self.diagnostics.error(
                "E0162",
                f"block '{block.name}' is defined twice: here and at {first.name_span}",
                block.name_span,
                hint="rename one of them; every block a file can use needs its own name",
            )
            self.ok = False
            return
        scope[block.name] = block


def _resolved(display: str) -> Path:
    try:
        return Path(display).resolve()
    except OSError:  # pragma: no cover - resolve(strict=False) hardly fails
        return Path(os.path.abspath(display))
