"""`netspec lsp`: the language server, on pygls, over stdio.

Each open document is checked when opened and on every change (full-document sync), and
its diagnostics published; requests are answered from its latest `Analysis`. A handler
never takes the server down: an exception is logged to the editor (window/logMessage) and
answered with an empty result.
"""

from __future__ import annotations

import functools
import logging
import os
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

from lsprotocol import types as lsp
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from netspec import __version__, ir
from netspec.lsp import features
from netspec.lsp.analysis import Analysis, analyse
from netspec.lsp.positions import LineIndex

T = TypeVar("T")


class NetspecServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__(
            "netspec", __version__, text_document_sync_kind=lsp.TextDocumentSyncKind.Full
        )
        self.analyses: dict[str, Analysis] = {}
        self.last_good: dict[str, ir.Model] = {}
        """The last checked model of each document, for hover while it has errors."""
        self.shut_down = False
        """Whether the editor asked to shut down before `exit` (LSP: exit status 0, else 1)."""

    @property
    def encoding(self) -> str:
        """The position encoding agreed with the editor at initialize (UTF-16 unless told)."""
        chosen = self.workspace.position_encoding or "utf-16"
        return str(getattr(chosen, "value", chosen))

    def log(self, message: str, kind: lsp.MessageType = lsp.MessageType.Error) -> None:
        try:
            self.window_log_message(lsp.LogMessageParams(type=kind, message=message))
        except Exception:  # the editor is gone; nothing to tell it
            logging.getLogger(__name__).exception("could not log to the editor")

    def refresh(self, uri: str, text: str) -> None:
        """Check the document's text and publish its diagnostics (none clears them)."""
        file = to_fs_path(uri) or uri
        analysis = analyse(text, file, self.analyses.get(uri))
        self.analyses[uri] = analysis
        if analysis.model is not None:
            self.last_good[uri] = analysis.model
        self.text_document_publish_diagnostics(
            lsp.PublishDiagnosticsParams(uri=uri, diagnostics=features.diagnostics(analysis, self.encoding))
        )

    def analysis(self, uri: str) -> Analysis | None:
        """The document's analysis; one of its text on disk when the editor never opened it."""
        if uri not in self.analyses:
            document = self.workspace.get_text_document(uri)
            self.analyses[uri] = analyse(document.source, to_fs_path(uri) or uri)
        return self.analyses[uri]


def guarded(empty: Callable[[], T]) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Answer `empty()` when the handler raises, after logging the error to the editor."""

    def wrap(handler: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(handler)
        def run(ls: NetspecServer, params: Any) -> T:
            try:
                return handler(ls, params)
            except Exception as error:
                ls.log(
                    f"netspec lsp: {handler.__name__} failed ({type(error).__name__}: {error}); "
                    "please report this as a netspec bug\n" + traceback.format_exc()
                )
                return empty()

        return run

    return wrap


server = NetspecServer()


def _position(ls: NetspecServer, uri: str, position: lsp.Position) -> tuple[Analysis, int, int] | None:
    analysis = ls.analysis(uri)
    if analysis is None:
        return None
    line, column = LineIndex(analysis.text, ls.encoding).column(position.line, position.character)
    return analysis, line, column


@server.feature(lsp.SHUTDOWN)
def shutdown(ls: NetspecServer, params: None) -> None:
    ls.shut_down = True


@server.feature(lsp.TEXT_DOCUMENT_DID_OPEN)
@guarded(lambda: None)
def did_open(ls: NetspecServer, params: lsp.DidOpenTextDocumentParams) -> None:
    ls.refresh(params.text_document.uri, params.text_document.text)


@server.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
@guarded(lambda: None)
def did_change(ls: NetspecServer, params: lsp.DidChangeTextDocumentParams) -> None:
    uri = params.text_document.uri
    ls.refresh(uri, ls.workspace.get_text_document(uri).source)


@server.feature(lsp.TEXT_DOCUMENT_DID_SAVE)
@guarded(lambda: None)
def did_save(ls: NetspecServer, params: lsp.DidSaveTextDocumentParams) -> None:
    """Check the saved document again (a file it imports may have changed on disk too),
    and every open document that imports it, which reads it from disk."""
    saved = params.text_document.uri
    path = os.path.abspath(to_fs_path(saved) or saved)
    for uri, analysis in list(ls.analyses.items()):
        imports = {os.path.abspath(file) for file in analysis.sources}
        if uri == saved or path in imports:
            ls.analyses.pop(uri, None)
            ls.refresh(uri, ls.workspace.get_text_document(uri).source)


@server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
@guarded(lambda: None)
def did_close(ls: NetspecServer, params: lsp.DidCloseTextDocumentParams) -> None:
    uri = params.text_document.uri
    ls.analyses.pop(uri, None)
    ls.last_good.pop(uri, None)
    ls.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(uri=uri, diagnostics=[]))


@server.feature(lsp.TEXT_DOCUMENT_HOVER)
@guarded(lambda: None)
def hover(ls: NetspecServer, params: lsp.HoverParams) -> lsp.Hover | None:
    uri = params.text_document.uri
    where = _position(ls, uri, params.position)
    if where is None:
        return None
    analysis, line, column = where
    text = features.hover(analysis, ls.last_good.get(uri), line, column)
    if text is None:
        return None
    return lsp.Hover(contents=lsp.MarkupContent(kind=lsp.MarkupKind.Markdown, value=text))


@server.feature(
    lsp.TEXT_DOCUMENT_COMPLETION,
    lsp.CompletionOptions(trigger_characters=["(", ",", "=", " ", "["]),
)
@guarded(list)
def completion(ls: NetspecServer, params: lsp.CompletionParams) -> list[lsp.CompletionItem]:
    uri = params.text_document.uri
    analysis = ls.analysis(uri)
    if analysis is None:
        return []
    text = ls.workspace.get_text_document(uri).source
    offset = LineIndex(text, ls.encoding).offset(params.position.line, params.position.character)
    return features.completions(analysis, text, offset)


@server.feature(lsp.TEXT_DOCUMENT_DEFINITION)
@guarded(list)
def definition(ls: NetspecServer, params: lsp.DefinitionParams) -> list[lsp.Location]:
    where = _position(ls, params.text_document.uri, params.position)
    if where is None:
        return []
    found = features.definition(*where, ls.encoding)
    return [found] if found is not None else []


@server.feature(lsp.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
@guarded(list)
def document_symbol(ls: NetspecServer, params: lsp.DocumentSymbolParams) -> list[lsp.DocumentSymbol]:
    analysis = ls.analysis(params.text_document.uri)
    return features.symbols(analysis, ls.encoding) if analysis is not None else []


@server.feature(lsp.TEXT_DOCUMENT_FORMATTING)
@guarded(list)
def formatting(ls: NetspecServer, params: lsp.DocumentFormattingParams) -> list[lsp.TextEdit]:
    uri = params.text_document.uri
    document = ls.workspace.get_text_document(uri)
    return features.formatting(document.source, to_fs_path(uri) or uri, ls.encoding)


def serve() -> int:
    """Speak LSP on stdin and stdout until the editor says exit (or closes stdin); the exit
    status: 0 after a shutdown request, 1 without one, as LSP asks."""
    server.start_io()
    return 0 if server.shut_down else 1


__all__ = ["NetspecServer", "serve", "server"]
