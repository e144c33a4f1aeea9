"""How fast `netspec check` is, and whether it grows linearly with the number of layers.

Builds synthetic specs of 10, 100, 1,000 and 10,000 layers (input [64], then alternating
Dense(64, activation=relu) / Dropout(0.1), ending in Dense(10, activation=softmax)), writes
them to a temporary folder and, best of 3 runs each, times:

* parse    - `netspec.parse.parse` (text to syntax tree), in this process;
* check    - `netspec.frontend.check_spec` (syntax tree to checked IR: expand, then check), in this process;
* command  - the full `netspec check FILE` in a fresh subprocess, interpreter start included:
             its wall time, and its CPU time (user + system), which other load hardly moves.

The in-process runs come after one warm-up parse, so Lark's parser construction (a one-off
per process) is not charged to the first size; the subprocess column includes it.

Start-up, best of --startup-repeat runs each (default 15): `netspec check` of the seed spec
specs/mnist_cnn.net, `netspec --help` and a bare `python -c pass`, as wall and CPU seconds
and as a ratio to `python -c pass`, the figure that survives a noisy machine; with the
targets (check <= 0.3 s, --help <= 0.2 s). It prints the load average before and after.

Run:  .venv/bin/python bench/check_speed.py [--sizes 10 100 1000 10000] [--repeat 3]
      .venv/bin/python bench/check_speed.py --startup-only     # start-up figures alone
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from netspec.diagnostics import Diagnostics
from netspec.frontend import check_spec
from netspec.parse import parse

DEFAULT_SIZES = (10, 100, 1_000, 10_000)


def make_spec(n_layers: int) -> str:
    """A valid spec with exactly `n_layers` layers (n_layers >= 1)."""
    body = []
    for i in range(n_layers - 1):
        body.append("    Dense(64, activation=relu)" if i % 2 == 0 else "    Dropout(0.1)")
    body.append("    Dense(10, activation=softmax)")
    return (
        f"# synthetic benchmark spec: {n_layers} layers\n"
        f"model bench_{n_layers} {{\n"
        "  input [64]\n"
        "  layers {\n" + "\n".join(body) + "\n  }\n"
        "  loss      sparse_categorical_crossentropy\n"
        "  optimizer Adam(lr=1e-3)\n"
        "  metrics   [accuracy]\n"
        "  train { epochs = 1, batch_size = 32 }\n"
        "}\n"
    )


def best_of(repeat: int, fn) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _load_average() -> str:
    """The 1-minute load average: other work on the machine skews wall times."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:  # not available on this platform
        return "unknown"


SEED_SPEC = Path(__file__).resolve().parent.parent / "specs" / "mnist_cnn.net"
TARGETS = {"check": 0.3, "help": 0.2}  # seconds, wall, on the 2-core development machine


def netspec_command() -> list[str]:
    """The console script next to this interpreter when it runs `netspec.entry` (the entry
    point since the fast `check`; an install older than that runs typer for everything),
    else `python -m netspec`, which does."""
    script = Path(sys.executable).with_name("netspec")
    if script.exists() and "netspec.entry" in script.read_text(errors="replace"):
        return [str(script)]
    return [sys.executable, "-m", "netspec"]


def time_parse_check(source: str, file: str, repeat: int) -> tuple[float, float]:
    def do_parse():
        diagnostics = Diagnostics()
        spec = parse(source, file, diagnostics)
        assert spec is not None and not diagnostics.has_errors, list(diagnostics)
        return spec

    parse_time = best_of(repeat, do_parse)
    spec = do_parse()

    def do_check():
        diagnostics = Diagnostics()
        model = check_spec(spec, diagnostics)
        assert model is not None, [str(d.message) for d in diagnostics]

    check_time = best_of(repeat, do_check)
    return parse_time, check_time


def time_command(args: list[str], repeat: int) -> tuple[float, float]:
    """Best wall time and best CPU time (user + system) of a command in a fresh process.

    The CPU time is reported too because it hardly changes when other work shares the
    machine, while the wall time does.
    """
    best_wall = best_cpu = float("inf")
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        result = subprocess.run(args, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if result.returncode != 0:
            raise SystemExit(f"{' '.join(args)} failed:\n{result.stderr}")
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        best_wall, best_cpu = min(best_wall, wall), min(best_cpu, cpu)
    return best_wall, best_cpu


def startup(command: list[str], repeat: int) -> None:
    """Start-up figures: the seed spec's check, --help and a bare interpreter, best of
    `repeat`, in seconds and as multiples of `python -c pass`."""
    figures = {
        "check": time_command([*command, "check", str(SEED_SPEC)], repeat),
        "help": time_command([*command, "--help"], repeat),
        "python -c pass": time_command([sys.executable, "-c", "pass"], repeat),
    }
    bare_wall, bare_cpu = figures["python -c pass"]
    print(f"start-up, best of {repeat}: {' '.join(command)} check specs/mnist_cnn.net | --help")
    print(f"{'':16} | {'wall s':>7} | {'cpu s':>7} | {'wall / pass':>11} | {'cpu / pass':>10} | target")
    for name, (wall, cpu) in figures.items():
        target = TARGETS.get(name)
        verdict = (
            f"<= {target} s: {'yes' if wall <= target else 'NO'}" if target is not None else ""
        )
        print(
            f"{name:16} | {wall:>7.3f} | {cpu:>7.3f} | {wall / bare_wall:>10.1f}x | "
            f"{cpu / bare_cpu:>9.1f}x | {verdict}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES))
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure; the best counts")
    parser.add_argument(
        "--startup-repeat", type=int, default=15, help="runs per start-up figure; the best counts"
    )
    parser.add_argument(
        "--startup-only", action="store_true", help="only the start-up figures, no sizes"
    )
    args = parser.parse_args()
    if args.startup_only:
        print(f"load average before: {_load_average()} (figures taken under load > ~0.3 are noisy)")
        startup(netspec_command(), args.startup_repeat)
        print(f"load average after: {_load_average()}")
        return

    command = netspec_command()
    print(f"python {sys.version.split()[0]} on {os.cpu_count()} CPU(s); best of {args.repeat}")
    print(f"command: {' '.join(command)} check FILE")
    print(f"load average before: {_load_average()} (figures taken under load > ~0.3 are noisy)")
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        print("note: PYTHONDONTWRITEBYTECODE is set; modules without a .pyc compile on every run")
    print()

    # Warm-up: builds (or loads) the Lark parser once so the first size is not charged for it.
    parse(make_spec(2), "<warm-up>", Diagnostics())

    header = (
        f"{'layers':>7} | {'parse s':>8} | {'check s':>8} | {'parse+check s':>13} | "
        f"{'us/layer':>8} | {'netspec check s':>15} | {'(cpu s)':>7}"
    )
    print(header)
    print("-" * len(header))
    rows: dict[int, tuple[float, float]] = {}
    command_time: dict[int, float] = {}
    with tempfile.TemporaryDirectory(prefix="netspec-bench-") as tmp:
        for n in args.sizes:
            source = make_spec(n)
            path = Path(tmp) / f"bench_{n}.net"
            path.write_text(source, encoding="utf-8")
            parse_time, check_time = time_parse_check(source, str(path), args.repeat)
            rows[n] = (parse_time, check_time)
            total = parse_time + check_time
            wall, cpu = time_command([*command, "check", str(path)], args.repeat)
            command_time[n] = wall
            print(
                f"{n:>7} | {parse_time:>8.4f} | {check_time:>8.4f} | {total:>13.4f} | "
                f"{total / n * 1e6:>8.1f} | {wall:>15.3f} | {cpu:>7.3f}"
            )

    print()
    if 1_000 in rows and 10_000 in rows:
        (p1, c1), (p10, c10) = rows[1_000], rows[10_000]
        ratios = {
            "parse": (p10 / 10_000) / (p1 / 1_000),
            "check": (c10 / 10_000) / (c1 / 1_000),
            "parse+check": ((p10 + c10) / 10_000) / ((p1 + c1) / 1_000),
        }
        verdict = "yes" if all(r <= 2.0 for r in ratios.values()) else "NO"
        detail = ", ".join(f"{k} {r:.2f}x" for k, r in ratios.items())
        print(
            f"linear growth: {verdict} (time per layer at 10,000 vs 1,000: {detail}; "
            "linear means within 2x)"
        )
    if 1_000 in command_time:
        t = command_time[1_000]
        verdict = "yes" if t < 1.0 else "NO"
        print(f"`netspec check` on 1,000 layers under 1 s: {verdict} ({t:.3f} s)")

    print()
    startup(command, args.startup_repeat)
    print(f"load average after: {_load_average()}")


if __name__ == "__main__":
    main()
