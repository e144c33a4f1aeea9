"""How long `netspec lsp` takes from a change to its diagnostics, over a real stdio session.

Starts `python -m netspec lsp`, opens a spec, then sends `--changes` didChange notifications
one after another (full-document sync, as an editor configured so sends them) and times each
from the write of the notification to the arrival of its publishDiagnostics. Three kinds of
edit, on a 1,000-layer spec and on a 3-layer one for comparison:

* one line    - a layer's width changes (the edit typed most): the server parses that line
                alone and splices it into the previous syntax tree, then checks the model;
* added line  - a layer line is added in the middle (and removed again the next time): the
                changed lines are parsed alone, and the nodes after them move;
* train line  - `epochs` changes, outside `layers`: the rest of the text is parsed again
                with the section's lines left blank, and its statements are kept;
* whole text  - a comment on the first line changes too, so the changed lines reach across
                `layers {`: the whole text is parsed again, the figure without the splice.

Every edit alternates between a spec with an error (an unknown argument in the middle
layer; `epochs = 0` for "train line") and one without, so each reply carries diagnostics
or clears them. Target: median
< 200 ms on the 1,000-layer spec. Prints median and p90 (ms) and the load average.

`--full-parse` serves with the partial re-parse turned off (every edit parsed in full), for
the figures before it.

Run:  .venv/bin/python bench/lsp_latency.py [--layers 1000] [--changes 20] [--full-parse]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def spec(
    layers: int, width: int = 8, typo: bool = False, added: bool = False, note: str = "",
    epochs: int = 1,
) -> str:
    """A chain of `layers` Dense layers: `width` of the middle one, an unknown argument in it
    with `typo`, a layer more after it with `added`, a first line `# note`."""
    middle = layers // 2
    body = [f"    Dense({width if i == middle else 8}, activation=relu)" for i in range(layers)]
    if typo:
        body[middle] = body[middle].replace("activation", "activaton")
    if added:
        body.insert(middle + 1, "    Dense(8)")
    return (
        f"# {note}\nmodel bench {{\n  input [8]\n  layers {{\n" + "\n".join(body) + "\n    Dense(1)\n  }\n"
        "  loss      mse\n  optimizer Adam(lr=1e-3)\n  train {\n    data = digits\n"
        f"    epochs = {epochs}\n  }}\n}}\n"
    )


FULL_PARSE = """
import sys
from netspec.lsp import analysis
analysis._spliced = lambda previous, text, file: None
from netspec.lsp.server import serve
sys.exit(serve())
"""


class Session:
    def __init__(self, full_parse: bool = False) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        command = ["-c", FULL_PARSE] if full_parse else ["-m", "netspec", "lsp"]
        self.process = subprocess.Popen(
            [sys.executable, *command],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
        )
        self.next_id = 0

    def send(self, message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        assert self.process.stdin is not None
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.process.stdin.flush()

    def receive(self) -> dict[str, Any]:
        stream = self.process.stdout
        assert stream is not None
        length = 0
        while True:
            line = stream.readline()
            if not line:
                raise RuntimeError("the language server ended")
            if line in (b"\r\n", b"\n"):
                break
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        return json.loads(stream.read(length))

    def until(
        self, method: str | None = None, id_: int | None = None, uri: str | None = None
    ) -> dict[str, Any]:
        while True:
            message = self.receive()
            if "method" in message and "id" in message:
                self.send({"id": message["id"], "result": None})
            elif method is not None and message.get("method") == method:
                if uri is None or message["params"].get("uri") == uri:
                    return message
            elif id_ is not None and message.get("id") == id_ and "method" not in message:
                return message

    def request(self, method: str, params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.send({"id": self.next_id, "method": method, "params": params})
        return self.until(id_=self.next_id)

    def close(self) -> None:
        try:
            self.request("shutdown", None)
            self.send({"method": "exit"})
            self.process.wait(timeout=10)
        finally:
            if self.process.poll() is None:
                self.process.kill()


def measure(session: Session, uri: str, layers: int, changes: int, edit: str) -> list[float]:
    """Seconds from each didChange to its publishDiagnostics."""
    session.send({"method": "textDocument/didOpen", "params": {"textDocument": {
        "uri": uri, "languageId": "netspec", "version": 0, "text": spec(layers)}}})
    session.until("textDocument/publishDiagnostics", uri=uri)
    times = []
    for version in range(1, changes + 1):
        odd = version % 2 == 1
        if edit == "train line":
            text = spec(layers, epochs=0 if odd else version)
        else:
            text = spec(
                layers, width=8 + version, typo=odd, added=edit == "added line" and odd,
                note=f"version {version}" if edit == "whole text" else "",
            )
        start = time.perf_counter()
        session.send({"method": "textDocument/didChange", "params": {
            "textDocument": {"uri": uri, "version": version}, "contentChanges": [{"text": text}]}})
        reply = session.until("textDocument/publishDiagnostics", uri=uri)
        times.append(time.perf_counter() - start)
        found = reply["params"]["diagnostics"]
        assert bool(found) == odd, f"expected {'an error' if odd else 'none'}, got {found}"
    session.send({"method": "textDocument/didClose", "params": {"textDocument": {"uri": uri}}})
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layers", type=int, default=1000)
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--full-parse", action="store_true", help="no partial re-parse")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    if args.full_parse:
        print("every edit parsed in full (--full-parse)")
    session = Session(args.full_parse)
    try:
        session.request("initialize", {"processId": os.getpid(), "rootUri": None, "capabilities": {}})
        session.send({"method": "initialized", "params": {}})
        with tempfile.TemporaryDirectory() as folder:
            for layers in (args.layers, 3):
                for number, edit in enumerate(("one line", "added line", "train line", "whole text")):
                    uri = Path(folder, f"bench_{layers}_{number}.net").as_uri()
                    times = measure(session, uri, layers, args.changes, edit)
                    ms = sorted(t * 1000 for t in times)
                    p90 = ms[min(len(ms) - 1, round(0.9 * (len(ms) - 1)))]
                    print(
                        f"{layers:>5} layers, {edit:<10}: median {statistics.median(ms):6.1f} ms, "
                        f"p90 {p90:6.1f} ms  ({len(ms)} changes)"
                    )
    finally:
        session.close()
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
