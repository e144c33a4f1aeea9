"""A fuzz target for the front end: generated and mutated specs through `check`, in a
worker process with a time limit per input and a memory limit.

`netspec check` must answer every input with diagnostics or a model, never a traceback,
never a hang. Inputs come from two sources, both seeded, so a run is reproducible:

- a mutator over every spec in specs/ and tests/ (token deletion, duplication and swap;
  huge, negative, zero and float numbers; hostile names and strings, NUL and surrogate
  escapes, paths of a FIFO, a device and a huge file; nesting; repeat counts);
- a grammar-aware generator of whole specs (inputs, layers harvested from the seeds, blocks
  with parameters, `if`, `repeat`, imports, train settings) with the same hostile values.

`run_campaign` is what tests/test_fuzz_frontend.py (a fixed-seed sample) and bench/fuzz.py
(the long campaign) call. Run this file with `--worker` to be the worker.
"""

from __future__ import annotations

import json
import os
import random
import re
import select
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# --------------------------------------------------------------------------- inputs

_TOKEN = re.compile(
    r'"(?:[^"\\\n]|\\.)*"|#[^\n]*|[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)'
    r"|[A-Za-z_][A-Za-z0-9_]*|//|==|!=|<=|>=|\s+|."
)
NUMBERS = [
    "0", "-1", "1", "2", "-0", "0.5", "1e-320", "1e308", "1e999", "-1e308", "4.95e16",
    "9223372036854775807", "9223372036854775808", "-9223372036854775809",
    "1000000000", "1000000000000000000", "9" * 40, "9" * 5000, "3.0", "1e9", "65536",
]
NAMES = [
    "os", "__import__", "eval", "exec", "True", "None", "class", "lambda", "import", "self",
    "x" * 300, "Dense", "input", "layers", "model", "relu", "repeat", "trainable", "e",
    "inf", "nan", "_", "__class__", "sys", "open", "print",
]
STRINGS = [
    r'"\ud800"', r'"\udfff\ud800"', r'"\u0000"', r'"a\u0000b"', '"../../../etc/passwd"',
    '"/dev/zero"', '"/dev/null"', '"/dev/stdin"', '"{fifo}"', '"{huge}"', '"{dir}"', '""',
    '"' + "a" * 5000 + '"', '"é\u00e9\u4e2d"', r'"\n\t\\"', r'"\""', '"relu"', '"x.net"',
    r'"\ud83d\ude00"', '"nonexistent/deep/path.net"', '"' + "../" * 50 + '"',
]
WRAPS = [("(", ")"), ("-", ""), ("[", "]"), ("not ", ""), ("+", "")]
UNICODE = ["\u00e9", "\u200b", "\ufeff", "\u202e", "\u4e2d", "\U0001f600", "\t", "\r", "\x0c", "\x7f", "\u2028"]
STATEMENT_WRAPS = ["if true {{ {} }}", "repeat {n} {{ {} }}", "if 1 > 0 {{ {} }} else {{ {} }}"]


def seed_paths() -> list[Path]:
    """Every spec in specs/ and tests/ (the error corpus, blocks, graphs…)."""
    return sorted(p for p in [*ROOT.glob("specs/**/*.net"), *ROOT.glob("tests/**/*.net")]
                  if p.is_file())


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


def _hostile(token: str, rng: random.Random, paths: dict[str, str]) -> str:
    if token[:1].isdigit() or (token[:1] in "+-." and token[1:2].isdigit()):
        return rng.choice(NUMBERS)
    if token.startswith('"'):
        return rng.choice(STRINGS).format(**paths)
    if token[:1].isalpha() or token[:1] == "_":
        return rng.choice(NAMES)
    return rng.choice(["{", "}", "(", ")", "[", "]", ",", "=", "*", "//", "==", ";", "\\", "'"])


def mutate(text: str, rng: random.Random, paths: dict[str, str], vocab: list[str]) -> str:
    """1 to 4 mutations of a spec's tokens."""
    toks = tokens(text)
    for _ in range(rng.randint(1, 4)):
        if not toks:
            toks = ["model"]
        i = rng.randrange(len(toks))
        kind = rng.randrange(11)
        if kind == 0:
            del toks[i]
        elif kind == 1:
            toks.insert(i, toks[i] * rng.choice([1, 2, 50]))
        elif kind == 2:
            j = rng.randrange(len(toks))
            toks[i], toks[j] = toks[j], toks[i]
        elif kind in (3, 4):
            toks[i] = _hostile(toks[i], rng, paths)
        elif kind == 5:
            left, right = rng.choice(WRAPS)
            depth = rng.choice([1, 3, 70, 300, 3000])
            toks[i] = left * depth + toks[i] + right * depth
        elif kind == 6:
            toks.insert(i, rng.choice(UNICODE))
        elif kind == 7:
            toks.insert(i, rng.choice(vocab))
        elif kind == 8:  # a statement (from this '{' to its '}') wrapped in if/repeat, deep
            wrap = rng.choice(STATEMENT_WRAPS)
            depth = rng.choice([1, 2, 40, 200])
            body = rng.choice(vocab)
            for _ in range(depth):
                body = wrap.format(body, body if wrap.count("{}") > 1 and depth < 5 else "",
                                   n=rng.choice(["2", "1000000000", "0", "n"]))
            toks.insert(i, " " + body + " ")
        elif kind == 9:
            toks.insert(0, f"use {rng.choice(STRINGS).format(**paths)}\n")
        else:  # a section or a line cut short: the rest of the file dropped
            toks = toks[: i + 1]
    return "".join(toks)


def harvest(texts: list[str]) -> list[str]:
    """Layer statements and values seen in the seeds, to build specs from."""
    calls = set()
    for text in texts:
        for match in re.finditer(r"\b[A-Z][A-Za-z0-9]*(?:\([^(){}\n]*\))?", text):
            calls.add(match.group())
    return sorted(calls)


def generate(rng: random.Random, paths: dict[str, str], vocab: list[str]) -> str:
    """A whole spec from the grammar: blocks, a model with its sections, hostile values."""

    def number() -> str:
        return rng.choice(NUMBERS[:12] if rng.random() < 0.7 else NUMBERS) if rng.random() < 0.3 \
            else str(rng.choice([1, 2, 3, 4, 8, 16, 32, 64]))

    def expression(names: list[str], depth: int = 0) -> str:
        roll = rng.random()
        if depth > 3 or roll < 0.4:
            return rng.choice(names) if names and rng.random() < 0.5 else number()
        if roll < 0.8:
            op = rng.choice(["+", "-", "*", "/", "//", "==", "<", "and", "or"])
            return f"({expression(names, depth + 1)} {op} {expression(names, depth + 1)})"
        return f"-{expression(names, depth + 1)}"

    def statement(names: list[str], blocks: list[str], depth: int = 0) -> str:
        roll = rng.random()
        if depth < 3 and roll < 0.1:
            return f"repeat {expression(names)} {{ {statements(names, blocks, depth + 1)} }}"
        if depth < 3 and roll < 0.2:
            cond = expression(names)
            other = f" else {{ {statements(names, blocks, depth + 1)} }}" if rng.random() < 0.5 else ""
            return f"if {cond} {{ {statements(names, blocks, depth + 1)} }}{other}"
        if blocks and roll < 0.4:
            block = rng.choice(blocks)
            args = ", ".join(expression(names) for _ in range(rng.randint(0, 2)))
            extra = rng.choice(["", ", repeat=" + number(), ", trainable=false"])
            return f"{block}({args}{extra})"
        call = rng.choice(vocab)
        if rng.random() < 0.3 and "(" in call:
            call = call[:-1] + (", " if not call.endswith("(") else "") + f"units={expression(names)})"
        return (f"t{rng.randint(0, 3)} = " if rng.random() < 0.2 else "") + call

    def statements(names: list[str], blocks: list[str], depth: int = 0) -> str:
        return " ".join(statement(names, blocks, depth) for _ in range(rng.randint(1, 4)))

    parts: list[str] = []
    if rng.random() < 0.2:
        parts.append(f"use {rng.choice(STRINGS).format(**paths)}")
    blocks: list[str] = []
    for b in range(rng.randint(0, 4)):
        params = [f"p{i}" for i in range(rng.randint(0, 3))]
        decl = ", ".join(p + (f" = {expression([])}" if rng.random() < 0.4 else "") for p in params)
        parts.append(f"block b{b}({decl}) {{ {statements(params, blocks)} }}")
        blocks.append(f"b{b}")
    shape = ", ".join(number() for _ in range(rng.randint(1, 3)))
    sections = [f"input [{shape}]", f"layers {{ {statements([], blocks)} }}"]
    sections.append("loss " + rng.choice(["mse", "categorical_crossentropy", "huber(delta=" + number() + ")", "mae"]))
    sections.append("optimizer " + rng.choice(["Adam", "SGD(lr=" + number() + ")", "Adagrad(" + expression([]) + ")", "RMSprop"]))
    if rng.random() < 0.5:
        sections.append("metrics [accuracy]")
    if rng.random() < 0.5:
        settings = rng.sample(
            [f"epochs = {number()}", f"batch_size = {number()}", f"seed = {number()}",
             f"class_weight = [{', '.join(number() for _ in range(rng.randint(1, 5)))}]",
             f"data = {rng.choice(['digits', 'npz(' + rng.choice(STRINGS).format(**paths) + ')'])}"],
            k=rng.randint(1, 3),
        )
        sections.append("train { " + " ".join(settings) + " }")
    rng.shuffle(sections)
    parts.append(f"model m {{ {' '.join(sections)} }}")
    return "\n".join(parts) + "\n"


def hostile_files(folder: Path) -> dict[str, str]:
    """A FIFO, a file over the size limit and a folder, for `use` to name."""
    fifo = folder / "fifo.net"
    if hasattr(os, "mkfifo") and not fifo.exists():
        os.mkfifo(fifo)
    huge = folder / "huge.net"
    if not huge.exists():
        huge.write_bytes(b"# " + b"x" * (1 << 21) + b"\n")
    return {"fifo": str(fifo), "huge": str(huge), "dir": str(folder)}


def inputs(seed: int, count: int, paths: dict[str, str]) -> Iterator[tuple[str, str]]:
    """(source, file name) pairs: 3 mutated seeds to 1 generated spec."""
    rng = random.Random(seed)
    seeds = [(p.read_text(encoding="utf-8"), str(p)) for p in seed_paths()]
    vocab = harvest([text for text, _ in seeds]) or ["Dense(1)"]
    for n in range(count):
        if n % 4 == 3:
            yield generate(rng, paths, vocab), str(ROOT / "tests" / "generated.net")
        else:
            text, file = rng.choice(seeds)
            yield mutate(text, rng, paths, vocab), file


# --------------------------------------------------------------------------- the worker


class _Timeout(BaseException):
    """Raised by the alarm: an input took longer than its limit (a hang)."""


def _one(source: str, file: str) -> dict[str, object]:
    from netspec.diagnostics import CODES, render_json, render_text
    from netspec.frontend import check_source

    sources: dict[str, str] = {}
    model, diagnostics = check_source(source, file, sources=sources)
    texts = {file: source, **sources}
    for d in diagnostics:
        assert d.code in CODES, d.code
        assert d.message.strip(), d
        rendered = render_text(d, texts)
        rendered.encode("utf-8")  # what the terminal gets: must be text
    render_json(diagnostics).encode("utf-8")
    if model is not None:
        model.model_dump_json()
    return {"outcome": "ok" if model is not None else "diagnostics"}


def worker(memory_mb: int, limit_s: float) -> None:
    """Answer one JSON line per input line on stdin: the outcome of checking it."""
    import resource
    import signal
    import traceback

    if memory_mb:
        resource.setrlimit(resource.RLIMIT_AS, (memory_mb << 20, memory_mb << 20))

    def alarm(signum: int, frame: object) -> None:
        raise _Timeout

    signal.signal(signal.SIGALRM, alarm)
    for line in sys.stdin:
        task = json.loads(line)
        start = time.perf_counter()
        signal.setitimer(signal.ITIMER_REAL, limit_s)
        try:
            result = _one(task["source"], task["file"])
        except _Timeout:
            result = {"outcome": "hang"}
        except MemoryError:
            result = {"outcome": "memory", "error": "MemoryError"}
        except BaseException:
            result = {"outcome": "traceback", "error": traceback.format_exc(limit=-6)}
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        result["s"] = time.perf_counter() - start
        result["rss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        sys.stdout.write(json.dumps(result) + "\n")
        sys.stdout.flush()


# --------------------------------------------------------------------------- the campaign


@dataclass
class Campaign:
    tried: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    failures: list[dict[str, object]] = field(default_factory=list)
    """Tracebacks, hangs and memory errors: the outcome, the error and the input."""
    peak_rss_mb: float = 0.0
    slowest_s: float = 0.0
    seconds: float = 0.0

    def count(self, outcome: str) -> int:
        return self.outcomes.get(outcome, 0)


class _Worker:
    def __init__(self, memory_mb: int, limit_s: float) -> None:
        env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--worker", str(memory_mb), str(limit_s)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, encoding="utf-8",
            env=env, cwd=str(ROOT),
        )

    def ask(self, source: str, file: str, wait_s: float) -> dict[str, object] | None:
        """The worker's answer, or None when it died or did not answer in `wait_s`."""
        assert self.process.stdin and self.process.stdout
        try:
            self.process.stdin.write(json.dumps({"source": source, "file": file}) + "\n")
            self.process.stdin.flush()
        except BrokenPipeError:
            return None
        ready, _, _ = select.select([self.process.stdout], [], [], wait_s)
        line = self.process.stdout.readline() if ready else ""
        return json.loads(line) if line else None

    def close(self) -> None:
        self.process.kill()
        self.process.wait()


def run_campaign(
    seed: int, count: int, limit_s: float = 5.0, memory_mb: int = 2048,
    progress: bool = False,
) -> Campaign:
    """Check `count` inputs from `seed`; each must end in a model or diagnostics within
    `limit_s` seconds and `memory_mb` MiB of address space."""
    campaign = Campaign()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="netspec-fuzz-") as folder:
        paths = hostile_files(Path(folder))
        worker_ = _Worker(memory_mb, limit_s)
        try:
            for source, file in inputs(seed, count, paths):
                campaign.tried += 1
                result = worker_.ask(source, file, wait_s=limit_s * 4 + 10)
                if result is None:  # died (killed for memory?) or stuck where no alarm reaches
                    worker_.close()
                    worker_ = _Worker(memory_mb, limit_s)
                    result = {"outcome": "hang", "error": "the worker did not answer"}
                outcome = str(result["outcome"])
                campaign.outcomes[outcome] = campaign.outcomes.get(outcome, 0) + 1
                campaign.slowest_s = max(campaign.slowest_s, float(result.get("s", 0.0)))
                campaign.peak_rss_mb = max(campaign.peak_rss_mb, int(result.get("rss_kb", 0)) / 1024)
                if outcome in ("traceback", "hang", "memory"):
                    campaign.failures.append({**result, "file": file, "source": source})
                if progress and campaign.tried % 1000 == 0:
                    print(f"  {campaign.tried} inputs, {len(campaign.failures)} failures, "
                          f"{time.perf_counter() - start:.0f} s", flush=True)
        finally:
            worker_.close()
    campaign.seconds = time.perf_counter() - start
    return campaign


if __name__ == "__main__" and sys.argv[1:2] == ["--worker"]:
    worker(int(sys.argv[2]), float(sys.argv[3]))
