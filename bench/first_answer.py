"""How soon `netspec train` answers: its first line, and a data mistake's error.

For each backend (torch, keras) it runs, in fresh subprocesses, `netspec train` on
specs/digits_mlp.net (one epoch, `--log plain`, stdout a pipe) and times, from the start of
the process:

* first line   - the first line on stdout (what the user sees first);
* device line  - the `device …` line, printed once the framework has loaded;
* first epoch  - the first `epoch 1/1` line (the process is stopped there);

and two specs whose data does not fit them, until the process has exited with the error:

* labels      - digits' 10 classes against a model with 5 outputs (error E0404);
* no folder   - an image folder that does not exist (error E0402).

Each figure is the median of `--repeat` runs, with its ratio to a bare `python -c pass`
(the fastest of 10: a baseline of a few hundredths of a second moves a lot with load).
The load average is printed before and after: on a shared 2-core machine wall times move
with other work, the ratios less so.

Run:  .venv/bin/python bench/first_answer.py [--repeat 3] [--backends torch keras]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DIGITS = ROOT / "specs" / "digits_mlp.net"


def _load_average() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "unknown"


def _netspec() -> list[str]:
    return [sys.executable, "-m", "netspec"]


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def time_lines(args: list[str], marks: dict[str, str], stop: str) -> dict[str, float]:
    """Seconds from the start until the first stdout line, and until the first line that
    starts with each mark; the process is killed once the `stop` mark is seen."""
    start = time.perf_counter()
    process = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=_environment(),
        cwd=ROOT,
    )
    assert process.stdout is not None
    seen: dict[str, float] = {}
    for line in process.stdout:
        now = time.perf_counter() - start
        seen.setdefault("first line", now)
        for name, prefix in marks.items():
            if line.startswith(prefix):
                seen.setdefault(name, now)
        if stop in seen:
            process.kill()
            break
    process.wait()
    return seen


def time_exit(args: list[str]) -> tuple[float, int, str]:
    """Seconds until the process has exited, its status and its stderr's first line."""
    start = time.perf_counter()
    done = subprocess.run(
        args, capture_output=True, text=True, env=_environment(), cwd=ROOT, check=False
    )
    first = next((line for line in done.stderr.splitlines() if "error" in line), "")
    return time.perf_counter() - start, done.returncode, first


def bad_specs(folder: Path) -> dict[str, tuple[Path, list[str]]]:
    """Specs whose data does not fit them, with the extra arguments they take."""
    text = DIGITS.read_text(encoding="utf-8")
    labels = folder / "labels.net"
    labels.write_text(text.replace("Dense(10, activation=softmax)", "Dense(5, activation=softmax)"))
    images = folder / "images.net"
    images.write_text(
        text.replace("input [64]", "input [8, 8, 1]").replace(
            "layers {", "layers {\n    Flatten"
        )
    )
    missing = 'image_folder("' + str(folder / "no-such-folder") + '")'
    return {"labels": (labels, []), "no folder": (images, ["--data", missing])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backends", nargs="+", default=["torch", "keras"])
    options = parser.parse_args()
    print(f"load average before: {_load_average()}")
    bare = min(time_exit([sys.executable, "-c", "pass"])[0] for _ in range(10))
    rows: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        specs = bad_specs(folder)
        for backend in options.backends:
            figures: dict[str, list[float]] = {}
            for attempt in range(options.repeat):
                out = folder / f"run-{backend}-{attempt}"
                seen = time_lines(
                    [*_netspec(), "train", str(DIGITS), "--backend", backend, "--epochs", "1",
                     "--log", "plain", "--out", str(out)],
                    {"device line": "device ", "first epoch": "epoch 1/1"},
                    stop="first epoch",
                )
                for name, seconds in seen.items():
                    figures.setdefault(name, []).append(seconds)
                for name, (spec, extra) in specs.items():
                    seconds, status, first = time_exit(
                        [*_netspec(), "train", str(spec), "--backend", backend, "--log", "plain",
                         "--out", str(folder / "never"), *extra]
                    )
                    assert status == 1, (name, status, first)
                    figures.setdefault(f"error: {name}", []).append(seconds)
            rows[backend] = {name: statistics.median(v) for name, v in figures.items()}
    names = ["first line", "device line", "first epoch", "error: labels", "error: no folder"]
    header = f"{'':18}" + "".join(f"| {b:>18} " for b in options.backends)
    print(header)
    print("-" * len(header))
    for name in names:
        cells = ""
        for backend in options.backends:
            value = rows[backend].get(name)
            cells += f"| {value:7.2f} s {value / bare:6.0f}x " if value is not None else f"| {'-':>18} "
        print(f"{name:18}{cells}")
    print(f"bare interpreter start (python -c pass, fastest of 10): {bare:.3f} s; Nx = ratio to it")
    print(f"load average after: {_load_average()}")


if __name__ == "__main__":
    main()
