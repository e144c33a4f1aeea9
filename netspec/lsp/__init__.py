"""netspec's language server (`netspec lsp`): diagnostics as you type, hover, completion,
go to definition, document symbols and formatting for .net files, over LSP on stdio.

Built on pygls and lsprotocol (the `lsp` extra), imported only when the server starts, so
the rest of netspec runs without them. Nothing here imports a deep-learning framework.
"""

from __future__ import annotations

import sys

INSTALL_HINT = "pip install 'netspec[lsp]'  (pygls and lsprotocol)"


def main() -> int:
    """Serve LSP on stdin/stdout until the editor ends the session; the exit status."""
    try:
        import lsprotocol  # noqa: F401
        import pygls  # noqa: F401
    except ImportError as error:
        print(
            f"error: netspec lsp needs the language-server libraries ({error.name} is not "
            f"installed)\n  hint: {INSTALL_HINT}",
            file=sys.stderr,
        )
        return 2
    from netspec.lsp.server import serve

    return serve()


__all__ = ["INSTALL_HINT", "main"]
