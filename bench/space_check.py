"""How fast a search space is checked (netspec/space/checking.py), and how many points it takes.

    .venv/bin/python bench/space_check.py [--repeat 5]

Cases, each timed best of `--repeat` (find_space + examine, in this process, after a
warm-up), next to one plain check of the digits MLP (`frontend.check_source`):

- independent: the digits MLP with six independent choices of ten values (10⁶ points);
- group: the digits MLP's three Dense widths, ten values each: each feeds the next, so the
  three form one group whose 1,000 combinations must be enumerated;
- one bad: two Conv2D kernel choices of which only 7 with 7 breaks a 12x12 input, and
  two independent dimensions more (36 points);
- cap: four chained widths of ten values (10,000 combinations) with the cap at 1,000.

Then the wall time of `netspec check` on the independent space against the plain spec, in
fresh subprocesses (best of `--repeat`). Timings on a shared 2-core machine are noisy: the
ratios (per point against one plain check) say more than the seconds.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from netspec.diagnostics import Diagnostics
from netspec.frontend import check_source
from netspec.space import find_space
from netspec.space.checking import CAP, examine

ROOT = Path(__file__).resolve().parent.parent
DIGITS = (ROOT / "specs" / "digits_mlp.net").read_text(encoding="utf-8")

TEN_ACTIVATIONS = "choice(relu, tanh, elu, gelu, selu, sigmoid, silu, softplus, softsign, linear)"


def independent() -> str:
    source = DIGITS.replace("Dense(64, activation=relu)", f"Dense(64, activation={TEN_ACTIVATIONS})")
    source = source.replace("Adam(lr=1e-3)", "Adam(lr=choice(" + ", ".join(
        f"{k}e-4" for k in range(1, 11)) + "))")
    source = source.replace("epochs           = 20", "epochs = int_range(1, 10)")
    source = source.replace("batch_size       = 32", "batch_size = choice(" + ", ".join(
        str(8 * k) for k in range(1, 11)) + ")")
    return source.replace("seed             = 0", "seed = int_range(0, 9)")


def widths(layers: int) -> str:
    ten = "choice(" + ", ".join(str(8 * k) for k in range(1, 11)) + ")"
    body = "\n".join(f"    Dense({ten}, activation=relu)" for _ in range(layers))
    return DIGITS.replace(
        "    Dense(64, activation=relu)\n    Dense(64, activation=relu)\n", body + "\n"
    )


ONE_BAD = """\
model m {
  input [12, 12, 1]
  layers {
    Conv2D(4, choice(3, 5, 7), activation=relu)
    Conv2D(4, choice(3, 5, 7), activation=relu)
    Flatten
    Dense(10, activation=softmax)
  }
  loss sparse_categorical_crossentropy
  optimizer Adam(lr=log_range(1e-4, 1e-2))
  train { data = digits, batch_size = choice(16, 32) }
}
"""


def timed(source: str, repeat: int, cap: int = CAP) -> tuple[float, int, bool, int | None]:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        diagnostics = Diagnostics()
        space = find_space(source, "bench.net", diagnostics)
        assert space is not None
        result = examine(space, diagnostics, cap=cap)
        best = min(best, time.perf_counter() - start)
    return best, result.points, result.ok, space.size


def plain(repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat * 10):
        start = time.perf_counter()
        check_source(DIGITS, "digits_mlp.net")
        best = min(best, time.perf_counter() - start)
    return best


def command(path: Path, repeat: int) -> float:
    netspec = Path(sys.executable).parent / "netspec"
    argv = [str(netspec)] if netspec.exists() else [sys.executable, "-m", "netspec"]
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([*argv, "check", str(path)], capture_output=True, check=False)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    check_source(DIGITS)  # warm-up: the parser tables, pydantic validators
    one = plain(args.repeat)
    print(f"one plain check of digits_mlp: {one * 1000:.2f} ms")
    cases = [
        ("independent (6 x 10 values)", independent(), CAP),
        ("group (3 chained widths x 10)", widths(3), CAP),
        ("one bad (7 with 7)", ONE_BAD, CAP),
        ("cap (4 chained widths x 10, cap 1,000)", widths(4), 1000),
    ]
    print(f"{'case':<40} | {'points':>10} | {'checked':>7} | {'ok':>5} | {'ms':>8} | ms/point")
    print("-" * 90)
    for name, source, cap in cases:
        seconds, points, ok, size = timed(source, args.repeat, cap)
        shown = "continuous" if size is None else f"{size:,}"
        print(
            f"{name:<40} | {shown:>10} | {points:>7,} | {ok!s:>5} | {seconds * 1000:8.1f} | "
            f"{seconds * 1000 / points:.2f} ({seconds / points / one:.2f}x one check)"
        )
    with tempfile.TemporaryDirectory() as folder:
        space = Path(folder) / "space.net"
        space.write_text(independent(), encoding="utf-8")
        plain_file = Path(folder) / "plain.net"
        plain_file.write_text(DIGITS, encoding="utf-8")
        a, b = command(plain_file, args.repeat), command(space, args.repeat)
        print(f"netspec check, plain digits_mlp: {a:.3f} s; its 10^6-point space: {b:.3f} s "
              f"({b - a:+.3f} s)")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
