"""`netspec lsp`, driven as an editor drives it: `python -m netspec lsp` in a subprocess, and
LSP messages over its stdin/stdout (JSON-RPC with Content-Length framing, written by hand
here). One server serves most tests (a module fixture); every wait has a timeout and the
process is killed in teardown whatever happened.

Below them, unit tests of the parts with their own logic: spans ↔ LSP positions (UTF-16),
the completion context read from an unfinished text, and the one-line re-parse.
"""

from __future__ import annotations

import json
import os
import queue
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pygls")

from netspec.diagnostics import Diagnostics, Span
from netspec.lsp.analysis import Analysis, _spliced, analyse
from netspec.lsp.context import context_at
from netspec.lsp.positions import LineIndex
from netspec.parse import parse

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 20.0

SPEC = """\
use "blocks.net"

block pair(units)(x) {
  a = Dense(units, activation=relu)(x)
  Dense(units)(a)
}

model demo {
  input [16]
  layers {
    h = Dense(32, activation=relu)
    p = pair(8)(h)
    twice(4)
    Dense(3, activation=softmax)
  }
  loss      sparse_categorical_crossentropy
  optimizer Adam(lr=1e-3)
  train {
    data = digits
  }
}
"""

LIBRARY = """\
block twice(units) {
  Dense(units)
  Dense(units)
}
"""


class Client:
    """A minimal LSP client: framed JSON-RPC over the server's pipes, read by a thread."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process
        self.messages: queue.Queue[dict[str, Any]] = queue.Queue()
        self.notifications: list[dict[str, Any]] = []
        self.next_id = 0
        self.initialized: Any = None
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        stream = self.process.stdout
        assert stream is not None
        while True:
            length = None
            while True:
                line = stream.readline()
                if not line:
                    return
                if line in (b"\r\n", b"\n"):
                    break
                name, _, value = line.decode("ascii").partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            if length is None:
                continue
            self.messages.put(json.loads(stream.read(length)))

    def send(self, message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode("utf-8")
        stdin = self.process.stdin
        assert stdin is not None
        stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        stdin.flush()

    def notify(self, method: str, params: Any) -> None:
        self.send({"method": method, "params": params})

    def _next(self, deadline: float) -> dict[str, Any]:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no answer from the language server in time")
        try:
            message = self.messages.get(timeout=left)
        except queue.Empty:
            raise TimeoutError("no answer from the language server in time") from None
        if "method" in message and "id" in message:  # a request of the server's: answer it
            self.send({"id": message["id"], "result": None})
        elif "method" in message:
            self.notifications.append(message)
        return message

    def request(self, method: str, params: Any, timeout: float = TIMEOUT) -> Any:
        self.next_id += 1
        wanted = self.next_id
        self.send({"id": wanted, "method": method, "params": params})
        deadline = time.monotonic() + timeout
        while True:
            message = self._next(deadline)
            if message.get("id") == wanted and "method" not in message:
                assert "error" not in message, message["error"]
                return message.get("result")

    def wait_for(
        self, method: str, accept: Callable[[Any], bool] = lambda _: True, timeout: float = TIMEOUT
    ) -> Any:
        """The params of the first notification `method` (from now on) that `accept`s."""
        for seen in self.notifications:
            if seen["method"] == method and accept(seen["params"]):
                self.notifications.remove(seen)
                return seen["params"]
        deadline = time.monotonic() + timeout
        while True:
            message = self._next(deadline)
            if message.get("method") == method and "id" not in message and accept(message["params"]):
                self.notifications.remove(message)
                return message["params"]

    def open(self, uri: str, text: str) -> None:
        """didOpen, as an editor sends it for a `.net` file."""
        self.notify("textDocument/didOpen", {
            "textDocument": {"uri": uri, "languageId": "netspec", "version": 1, "text": text}
        })

    def complete(self, uri: str, text: str, needle: str, shift: int = 0) -> list[dict[str, Any]]:
        """The completion items at `needle` (plus `shift` characters) in the open `text`."""
        return self.request("textDocument/completion", {
            "textDocument": {"uri": uri}, "position": position(text, needle, shift)
        })

    def diagnostics(self, uri: str, timeout: float = TIMEOUT) -> list[dict[str, Any]]:
        return self.wait_for(
            "textDocument/publishDiagnostics", lambda p: p["uri"] == uri, timeout
        )["diagnostics"]


def start(code: str | None = None, capabilities: dict[str, Any] | None = None) -> Client:
    """`python -m netspec lsp`, or a Python program `code` that serves (a patched server)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = [sys.executable, "-m", "netspec", "lsp"] if code is None else [sys.executable, "-c", code]
    process = subprocess.Popen(
        args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env
    )
    client = Client(process)
    client.initialized = client.request(
        "initialize", {"processId": os.getpid(), "rootUri": None, "capabilities": capabilities or {}}
    )
    client.notify("initialized", {})
    return client


def stop(client: Client) -> int:
    """shutdown and exit, as an editor ends the session; the exit status."""
    client.request("shutdown", None)
    client.notify("exit", None)
    return client.process.wait(timeout=TIMEOUT)


def kill(client: Client) -> None:
    if client.process.poll() is None:
        client.process.kill()
        client.process.wait(timeout=TIMEOUT)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("lsp")
    (folder / "blocks.net").write_text(LIBRARY)
    (folder / "demo.net").write_text("# stale text on disk: the editor's text wins\n")
    return folder


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    started = start()
    try:
        yield started
    finally:
        kill(started)


@pytest.fixture(scope="module")
def demo(client: Client, workspace: Path) -> str:
    """The URI of SPEC, opened in the editor (checked without errors)."""
    uri = (workspace / "demo.net").as_uri()
    client.open(uri, SPEC)
    assert client.diagnostics(uri) == []
    return uri


def position(text: str, needle: str, shift: int = 0) -> dict[str, int]:
    """The LSP position of the first `needle` in `text` (plus `shift` characters)."""
    offset = text.index(needle) + shift
    line = text.count("\n", 0, offset)
    return {"line": line, "character": offset - (text.rfind("\n", 0, offset) + 1)}


def test_diagnostics_as_you_type_then_cleared(client: Client, workspace: Path) -> None:
    uri = (workspace / "typing.net").as_uri()
    text = SPEC.replace("Dense(3, activation=softmax)", "Dense(3, activaton=softmax)")
    client.open(uri, text)
    (found,) = client.diagnostics(uri)
    assert found["code"] == "E0105"
    assert found["severity"] == 1
    assert "did you mean 'activation'?" in found["message"]
    start = position(text, "activaton")
    assert found["range"] == {
        "start": start, "end": {**start, "character": start["character"] + len("activaton")}
    }
    client.notify("textDocument/didChange", {
        "textDocument": {"uri": uri, "version": 2}, "contentChanges": [{"text": SPEC}]
    })
    assert client.diagnostics(uri) == []
    client.notify("textDocument/didClose", {"textDocument": {"uri": uri}})


EMOJI_LINE = '    Dense(3, note="🙂", activaton=softmax)'


def _character_of_typo(client: Client, uri: str) -> int:
    text = SPEC.replace("    Dense(3, activation=softmax)", EMOJI_LINE)
    client.open(uri, text)
    found = client.diagnostics(uri)
    client.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
    (typo,) = [d for d in found if "activaton" in d["message"]]
    assert typo["range"]["start"]["line"] == text[: text.index(EMOJI_LINE)].count("\n")
    return typo["range"]["start"]["character"]


def test_positions_are_utf16_code_units_by_default(client: Client, workspace: Path) -> None:
    assert client.initialized["capabilities"].get("positionEncoding", "utf-16") == "utf-16"
    # the emoji before the argument is two UTF-16 code units, one character to the parser
    assert _character_of_typo(client, (workspace / "emoji.net").as_uri()) == (
        EMOJI_LINE.index("activaton") + 1
    )


def test_a_warning_and_its_related_notes(client: Client, workspace: Path) -> None:
    uri = (workspace / "warn.net").as_uri()
    text = SPEC.replace("    p = pair", "    unused = Dense(5)(h)\n    p = pair")
    client.open(uri, text)
    found = client.diagnostics(uri)
    assert [d["code"] for d in found] == ["W0140"]
    assert found[0]["severity"] == 2
    assert found[0]["range"]["start"]["line"] == text[: text.index("unused")].count("\n")
    client.notify("textDocument/didClose", {"textDocument": {"uri": uri}})


def test_an_error_in_a_used_file_shows_at_its_use_site(client: Client, workspace: Path) -> None:
    (workspace / "broken.net").write_text("block bad(units) {\n  Dense(units, wrong=1)\n}\n")
    uri = (workspace / "uses_broken.net").as_uri()
    text = 'use "broken.net"\n' + SPEC.split("\n", 1)[1].replace("twice(4)", "bad(4)")
    client.open(uri, text)
    (found,) = client.diagnostics(uri)
    assert found["code"] == "E0105"
    assert found["range"]["start"] == position(text, "bad(4)")  # the use site, in this file
    (there, *_) = found["relatedInformation"]
    assert there["location"]["uri"] == (workspace / "broken.net").as_uri()
    assert there["location"]["range"]["start"] == {"line": 1, "character": 15}
    client.notify("textDocument/didClose", {"textDocument": {"uri": uri}})


def test_hover_on_a_layer_shows_its_shape_and_parameters(client: Client, demo: str) -> None:
    hover = client.request("textDocument/hover", {
        "textDocument": {"uri": demo}, "position": position(SPEC, "Dense(32", 2)
    })
    text = hover["contents"]["value"]
    assert "**Dense**" in text
    assert "output shape `[32]`" in text
    assert f"{16 * 32 + 32:,} parameters" in text


def test_hover_on_an_argument_and_on_a_name(client: Client, demo: str) -> None:
    hover = client.request("textDocument/hover", {
        "textDocument": {"uri": demo}, "position": position(SPEC, "activation=relu", 3)
    })
    assert "**activation** of `Dense`" in hover["contents"]["value"]
    assert "default `linear`" in hover["contents"]["value"]
    hover = client.request("textDocument/hover", {
        "textDocument": {"uri": demo}, "position": position(SPEC, "Adam", 1)
    })
    assert "**Adam** (optimizer)" in hover["contents"]["value"]


def test_hover_on_a_positional_argument_and_in_a_block(client: Client, demo: str) -> None:
    hover = client.request("textDocument/hover", {
        "textDocument": {"uri": demo}, "position": position(SPEC, "Dense(32", 7)
    })
    assert "**units** of `Dense`" in hover["contents"]["value"]
    # a statement of a block: the layer it made at each use, here the one use `p`
    hover = client.request("textDocument/hover", {
        "textDocument": {"uri": demo}, "position": position(SPEC, "Dense(units)(a)", 1)
    })
    assert "`p_dense`: output shape `[8]`" in hover["contents"]["value"]
    assert "parameters, in block `pair` as `p`" in hover["contents"]["value"]


def test_saving_a_used_file_checks_the_documents_that_use_it(
    client: Client, workspace: Path
) -> None:
    library = workspace / "saved_lib.net"
    library.write_text(LIBRARY)
    uri = (workspace / "uses_saved.net").as_uri()
    text = SPEC.replace('use "blocks.net"', 'use "saved_lib.net"')
    client.open(uri, text)
    assert client.diagnostics(uri) == []
    broken = LIBRARY.replace("  Dense(units)\n", "  Dense(units, wrong=1)\n", 1)
    client.notify("textDocument/didOpen", {"textDocument": {
        "uri": library.as_uri(), "languageId": "netspec", "version": 1, "text": LIBRARY
    }})
    client.notify("textDocument/didChange", {
        "textDocument": {"uri": library.as_uri(), "version": 2},
        "contentChanges": [{"text": broken}],
    })
    library.write_text(broken)  # as the editor saves it
    client.notify("textDocument/didSave", {"textDocument": {"uri": library.as_uri()}})
    assert [d["code"] for d in client.diagnostics(uri)] == ["E0105"]
    client.notify("textDocument/didClose", {"textDocument": {"uri": library.as_uri()}})
    client.notify("textDocument/didClose", {"textDocument": {"uri": uri}})


def test_hover_while_the_spec_has_errors_uses_the_last_good_model(
    client: Client, workspace: Path
) -> None:
    uri = (workspace / "stale.net").as_uri()
    client.open(uri, SPEC)
    assert client.diagnostics(uri) == []
    broken = SPEC.replace("loss      sparse_categorical_crossentropy", "loss      nonsense")
    client.notify("textDocument/didChange", {
        "textDocument": {"uri": uri, "version": 2}, "contentChanges": [{"text": broken}]
    })
    assert [d["code"] for d in client.diagnostics(uri)] == ["E0102"]
    hover = client.request("textDocument/hover", {
        "textDocument": {"uri": uri}, "position": position(broken, "Dense(32", 2)
    })
    assert "output shape `[32]`" in hover["contents"]["value"]
    assert "the spec has errors now" in hover["contents"]["value"]
    client.notify("textDocument/didClose", {"textDocument": {"uri": uri}})


def test_a_file_of_blocks_is_checked_as_one(client: Client, workspace: Path) -> None:
    uri = (workspace / "blocks.net").as_uri()
    client.open(uri, LIBRARY)
    assert client.diagnostics(uri) == []  # no "expected model": it is imported with `use`
    client.notify("textDocument/didChange", {
        "textDocument": {"uri": uri, "version": 2},
        "contentChanges": [{"text": LIBRARY + 'use "missing.net"\n'}],
    })
    assert [d["code"] for d in client.diagnostics(uri)] == ["E0001"]  # `use` lines come first
    client.notify("textDocument/didChange", {
        "textDocument": {"uri": uri, "version": 3},
        "contentChanges": [{"text": 'use "missing.net"\n' + LIBRARY}],
    })
    assert [d["code"] for d in client.diagnostics(uri)] == ["E0160"]
    client.notify("textDocument/didClose", {"textDocument": {"uri": uri}})


def test_completion_by_context(client: Client, workspace: Path) -> None:
    uri = (workspace / "contexts.net").as_uri()
    text = SPEC.replace("    data = digits\n", "    data = digits\n    \n")
    client.open(uri, text)
    client.diagnostics(uri)

    def labels(needle: str, shift: int) -> set[str]:
        return {item["label"] for item in client.complete(uri, text, needle, shift)}

    activations = labels("activation=relu", len("activation="))
    assert {"relu", "tanh", "softmax"} <= activations and "Dense" not in activations
    losses = labels("sparse_categorical_crossentropy", 0)
    assert {"mse", "huber", "sparse_categorical_crossentropy"} <= losses and "relu" not in losses
    assert {"Adam", "SGD"} <= labels("Adam(", 0)
    assert "digits" in labels("digits", 0)
    settings = labels("digits\n    \n", len("digits\n    "))
    assert {"epochs", "batch_size", "seed"} <= settings and "data" not in settings
    client.notify("textDocument/didClose", {"textDocument": {"uri": uri}})


def test_completion_of_layers_and_blocks_in_layers(client: Client, workspace: Path) -> None:
    uri = (workspace / "complete.net").as_uri()
    text = SPEC.replace("    twice(4)\n", "    twice(4)\n    Con\n")
    client.open(uri, text)
    client.diagnostics(uri)
    items = client.complete(uri, text, "    Con\n", 7)
    labels = {item["label"] for item in items}
    assert {"Conv2D", "Dense", "LSTM", "pair", "twice"} <= labels
    assert "adam" not in {label.lower() for label in labels}
    client.notify("textDocument/didClose", {"textDocument": {"uri": uri}})


def test_completion_of_argument_names_not_given_yet(client: Client, workspace: Path) -> None:
    uri = (workspace / "arguments.net").as_uri()
    text = SPEC.replace("Dense(32, activation=relu)", "Dense(32, activation=relu, )")
    client.open(uri, text)
    client.diagnostics(uri)
    items = client.complete(uri, text, "relu, )", 6)
    labels = {item["label"] for item in items}
    assert "use_bias" in labels
    assert "units" not in labels and "activation" not in labels  # given already
    (use_bias,) = [item for item in items if item["label"] == "use_bias"]
    assert use_bias["insertText"] == "use_bias="
    client.notify("textDocument/didClose", {"textDocument": {"uri": uri}})


def test_definition_of_a_block_a_use_and_a_tensor(client: Client, demo: str, workspace: Path) -> None:
    def definition(needle: str, shift: int = 1) -> dict[str, Any]:
        (found,) = client.request("textDocument/definition", {
            "textDocument": {"uri": demo}, "position": position(SPEC, needle, shift)
        })
        return found

    here = definition("pair(8)")
    assert here["uri"] == demo
    assert here["range"]["start"] == position(SPEC, "pair(units)")
    there = definition("twice(4)")
    assert there["uri"] == (workspace / "blocks.net").as_uri()
    assert there["range"]["start"] == position(LIBRARY, "twice")
    imported = definition('"blocks.net"', 3)
    assert imported["uri"] == (workspace / "blocks.net").as_uri()
    tensor = definition("(h)", 1)
    assert tensor["range"]["start"] == position(SPEC, "h = Dense")


def test_document_symbols(client: Client, demo: str) -> None:
    found = client.request("textDocument/documentSymbol", {"textDocument": {"uri": demo}})
    by_name = {s["name"]: s for s in found}
    assert set(by_name) == {"demo", "pair"}
    assert [c["name"] for c in by_name["demo"]["children"]] == ["input", "h", "p"]
    assert [c["name"] for c in by_name["pair"]["children"]] == ["a"]


def test_formatting_one_edit_and_none_for_a_spec_that_does_not_parse(
    client: Client, workspace: Path
) -> None:
    uri = (workspace / "format.net").as_uri()
    untidy = SPEC.replace("    h = Dense(32, activation=relu)", "h=Dense( 32,activation = relu )")
    client.open(uri, untidy)
    client.diagnostics(uri)
    options = {"tabSize": 2, "insertSpaces": True}
    (edit,) = client.request("textDocument/formatting", {"textDocument": {"uri": uri}, "options": options})
    assert edit["newText"] == SPEC
    assert edit["range"]["start"] == {"line": 0, "character": 0}
    client.notify("textDocument/didChange", {
        "textDocument": {"uri": uri, "version": 2}, "contentChanges": [{"text": "model {"}]
    })
    client.diagnostics(uri)
    assert client.request("textDocument/formatting", {"textDocument": {"uri": uri}, "options": options}) == []
    client.notify("textDocument/didClose", {"textDocument": {"uri": uri}})


PATCHED = """
import sys
from netspec.lsp import features
def broken(*args, **kwargs):
    raise RuntimeError("planted failure")
features.hover = broken
from netspec.lsp.server import serve
status = serve()
if "torch" in sys.modules or "tensorflow" in sys.modules:
    sys.exit(7)  # a framework was imported
sys.exit(status)
"""


def test_an_internal_error_is_logged_and_answered_empty_and_the_server_goes_on(
    workspace: Path,
) -> None:
    """Also: a client that prefers UTF-8 positions gets them."""
    client = start(PATCHED, {"general": {"positionEncodings": ["utf-8", "utf-16"]}})
    try:
        assert client.initialized["capabilities"]["positionEncoding"] == "utf-8"
        utf8 = EMOJI_LINE.index("activaton") + len("🙂".encode()) - 1
        assert _character_of_typo(client, (workspace / "emoji8.net").as_uri()) == utf8
        uri = (workspace / "demo.net").as_uri()
        client.open(uri, SPEC)
        assert client.diagnostics(uri) == []
        answer = client.request("textDocument/hover", {
            "textDocument": {"uri": uri}, "position": position(SPEC, "Dense(32", 2)
        })
        assert answer is None
        logged = client.wait_for("window/logMessage", lambda p: "planted failure" in p["message"])
        assert logged["type"] == 1
        symbols = client.request("textDocument/documentSymbol", {"textDocument": {"uri": uri}})
        assert {s["name"] for s in symbols} == {"demo", "pair"}  # still serving
        # exit without shutdown: status 1, as LSP asks (7 would be a framework imported)
        client.notify("exit", None)
        assert client.process.wait(timeout=TIMEOUT) == 1
    finally:
        kill(client)


def test_shutdown_then_exit_ends_with_status_0(client: Client) -> None:
    """The module's server, after every test above used it (the last test to use it)."""
    assert stop(client) == 0


def test_without_pygls_the_command_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from netspec import lsp

    monkeypatch.setitem(sys.modules, "pygls", None)
    assert lsp.main() == 2
    err = capsys.readouterr().err
    assert "pygls is not installed" in err
    assert "pip install 'netspec[lsp]'" in err


# --------------------------------------------------------------------------- positions


def test_positions_count_utf16_code_units() -> None:
    text = 'model m { # 🙂 é\n  x = "🙂🙂" Dense\n}'
    index = LineIndex(text)
    # "Dense" on line 2 starts at character 13 (1-based column 14), after two emoji:
    column = text.split("\n")[1].index("Dense") + 1
    assert index.position(2, column) == (1, column - 1 + 2)
    assert index.column(1, column - 1 + 2) == (2, column)
    # the middle of a surrogate pair is the emoji it belongs to
    emoji = text.split("\n")[1].index("🙂") + 1
    assert index.column(1, emoji) == (2, emoji)
    assert index.position(1, 13) == (0, 12)  # before the emoji: the same
    assert index.position(1, 14) == (0, 14)  # after it: one further
    assert index.position(1, 16) == (0, 16)


def test_positions_tabs_multiline_spans_and_clamping() -> None:
    text = "a\n\tb = Dense(3)\r\nend"
    index = LineIndex(text)
    assert index.position(2, 2) == (1, 1)  # a tab is one character to both
    span = Span(file="f", line=1, column=1, end_line=2, end_column=5)
    assert index.range(span) == ((0, 0), (1, 4))
    assert index.position(9, 9) == (2, 3)  # past the end: the end
    assert index.position(2, 99) == (1, len("\tb = Dense(3)\r"))
    assert index.offset(1, 1) == text.index("b")


def test_positions_in_utf8_and_utf32() -> None:
    text = "é🙂x"
    assert LineIndex(text, "utf-8").position(1, 3) == (0, 2 + 4)
    assert LineIndex(text, "utf-8").column(0, 6) == (1, 3)
    assert LineIndex(text, "utf-8").column(0, 3) == (1, 2)  # inside the emoji's bytes
    assert LineIndex(text, "utf-32").position(1, 3) == (0, 2)
    assert LineIndex(text, "utf-16").position(1, 3) == (0, 3)


# --------------------------------------------------------------------------- completion contexts


@pytest.mark.parametrize(
    ("before", "kind", "extra"),
    [
        ("model m {\n  layers {\n    De", "layer", {"prefix": "De"}),
        ("model m {\n  layers {\n    h = ", "layer", {}),
        ("model m {\n  layers {\n    repeat 3 {\n      ", "layer", {}),
        ("block b(n)(x) {\n  Dense(n)\n  ", "layer", {}),
        ("model m {\n  layers {\n    Dense(64, ", "argument", {"call": "Dense", "positional": 1}),
        ("model m {\n  layers {\n    Dense(units=3, act", "argument",
         {"given": frozenset({"units"}), "prefix": "act"}),
        ("model m {\n  layers {\n    Dense(3, activation=", "value",
         {"keyword": "activation", "call_family": "layer"}),
        ("model m {\n  layers {\n    Bidirectional(LSTM(", "argument",
         {"call": "LSTM", "call_family": "layer"}),
        ("model m {\n  layers {\n    Dense(3)(", "tensor", {}),
        ("model m {\n  loss ", "loss", {}),
        ("model m {\n  loss { out = ", "loss", {}),
        ("model m {\n  optimizer Ad", "optimizer", {}),
        ("model m {\n  optimizer Adam(", "argument", {"call_family": "optimizer"}),
        ("model m {\n  metrics [accuracy, ", "metric", {}),
        ("model m {\n  train {\n    data = ", "data", {}),
        ("model m {\n  train { epochs = 2, lr_schedule = ", "schedule", {}),
        ("model m {\n  train {\n    epochs = 2\n    ", "train_setting", {"given": frozenset({"epochs"})}),
        ("model m {\n  ", "section", {}),
        ("", "top", {}),
        ("model m {\n  layers {\n    # a comment: Den", "none", {}),
        ('model m {\n  layers {\n    Dense(3, name="De', "none", {}),
        ("model m {\n  layers {\n    repeat ", "none", {}),
    ],
)
def test_completion_context(before: str, kind: str, extra: dict[str, Any]) -> None:
    context = context_at(before + "\n  }\n}\n", len(before))
    assert context.kind == kind
    for name, value in extra.items():
        assert getattr(context, name) == value


# --------------------------------------------------------------------------- the one-line re-parse


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("    h = Dense(32, activation=relu)", "    h = Dense(33, activation=tanh)  # wider"),
        ("    twice(4)", "    twice(4) Dropout(0.5)"),
        ("    twice(4)", "    # gone"),
        ("    twice(4)", "    repeat 2 { Dense(4) }"),
        ("    twice(4)", "  loss mse"),  # two layers named so, as in a full parse
        ("    twice(4)\n", ""),  # a line removed: what follows moves up
        ("    twice(4)", "    twice(4)\n    Dropout(0.5)\n\n"),  # lines added
        ("    twice(4)", "    repeat 2 {\n      Dense(4)\n    }"),
        ("    p = pair(8)(h)\n    twice(4)", "    p = pair(\n      8)(h)"),
        # outside `layers`: the rest parsed again, the statements kept (moved)
        ("  input [16]", "  input [17]"),
        ("  loss      sparse_categorical_crossentropy", "  loss mse\n  metrics [mae]"),
        ("model demo {", "# a note\n\nmodel demo {"),
        ('use "blocks.net"\n', ""),
        ("  a = Dense(units, activation=relu)(x)", "  a = Dense(units)(x)\n  b = Dense(2)(a)"),
        ("    data = digits", "    data = digits\n    epochs = 3"),
    ],
)
def test_an_edit_splices_to_what_a_full_parse_gives(old: str, new: str) -> None:
    file = str(ROOT / "tests" / "blocks" / "lsp_splice.net")
    first = analyse(SPEC, file)
    assert first.parse_clean
    edited = SPEC.replace(old, new)
    second = analyse(edited, file, first)
    assert second.spliced
    assert second.spec == parse(edited, file, Diagnostics())
    assert second.diagnostics == analyse(edited, file).diagnostics


@pytest.mark.parametrize(
    "new",
    [
        "    twice(4", "    }", "    Dense(3)(", "    twice(4) }", "    twice(4) {", "    x = ",
        "  }\n  layers {", "  }\n  loss mse\n  layers {", "  }\n  output h\n  layers {",
    ],
)
def test_an_edit_the_lines_alone_cannot_tell_is_parsed_in_full(new: str) -> None:
    file = str(ROOT / "tests" / "blocks" / "lsp_splice.net")
    first = analyse(SPEC, file)
    second = analyse(SPEC.replace("    twice(4)", new), file, first)
    assert not second.spliced
    assert second.diagnostics == analyse(SPEC.replace("    twice(4)", new), file).diagnostics


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("  input [16]", "  input [16]\n  layers {\n  }"),  # a second layers section
        ("  layers {", "  layers { Dense(3)"),  # the section's own line
        ("  }\n  loss", "  loss"),  # its closing brace
    ],
)
def test_an_edit_of_the_layers_section_itself_is_parsed_in_full(old: str, new: str) -> None:
    file = str(ROOT / "tests" / "blocks" / "lsp_splice.net")
    first = analyse(SPEC, file)
    edited = SPEC.replace(old, new, 1)
    second = analyse(edited, file, first)
    assert not second.spliced
    assert second.diagnostics == analyse(edited, file).diagnostics


def test_random_line_edits_splice_to_what_a_full_parse_gives() -> None:
    """Lines of the seed specs deleted, repeated, swapped in from elsewhere, broken, anywhere
    in the file: whenever the partial re-parse is used, it is the full parse's tree."""
    rng = random.Random(15)
    spliced = 0
    for path in sorted((ROOT / "specs").glob("*.net")):
        text = path.read_text()
        lines = text.split("\n")
        first = Analysis(str(path), text, parse(text, str(path), Diagnostics()), None, [])
        first.parse_clean = True
        for _ in range(10):
            edited = list(lines)
            at = rng.randrange(len(lines))
            action = rng.choice(["delete", "repeat", "other", "break", "insert"])
            if action == "delete":
                del edited[at]
            elif action == "repeat":
                edited.insert(at, lines[at])
            elif action == "other":
                edited[at] = rng.choice(lines)
            elif action == "break":
                cut = rng.randrange(len(lines[at]) + 1)
                edited[at : at + 1] = [lines[at][:cut], lines[at][cut:]]
            else:
                edited.insert(at, "    Dense(7, activation=tanh)")
            new_text = "\n".join(edited)
            found = _spliced(first, new_text, str(path))
            if found is not None:
                spliced += 1
                assert found == parse(new_text, str(path), Diagnostics()), (path, action, at)
    assert spliced > 20  # the re-parse was tried often enough to tell


def test_a_search_space_is_checked_as_netspec_check_checks_it() -> None:
    """A spec with search values is a space, not an error: each point is checked (a
    breaking value is named, as `netspec check` names it) and hover shows the first values."""
    from netspec.lsp import features

    space = """\
model m {
  input [64]
  layers {
    Dense(choice(32, 64), activation=relu)
    Dense(10, activation=softmax)
  }
  loss sparse_categorical_crossentropy
  optimizer Adam(lr=log_range(1e-4, 1e-2))
}
"""
    analysis = analyse(space, "s.net")
    assert analysis.diagnostics == [] and analysis.searched
    assert "`dense`: output shape `[32]`" in (text := features.hover(analysis, None, 4, 6) or "")
    assert "(at the search space's first values)" in text
    (error,) = analyse(space.replace("choice(32, 64)", "choice(32, 0)"), "s.net").diagnostics
    assert error.code == "E0113" and error.span.line == 4
    assert error.message.startswith("with dense.units=choice(32, 0)=0: ")
