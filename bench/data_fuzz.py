"""The data fuzzer's long campaign: mutated .npz, .csv and IDX files through `netspec train`'s
data checks and `netspec predict`'s (tests/fuzz/data_fuzzing.py), in-process.

    python bench/data_fuzz.py --cases 5000 [--seed 1] [--show 5]

Prints the cases tried, then the count of each outcome (diagnostic, ok) and of each finding:
tracebacks, silent-garbage cases (prepared, yet NaN or infinite values would reach the model)
and pickle calls, with the first few of each. Exit status 1 when there is any finding.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "fuzz"))

import data_fuzzing


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=2000, help="mutated files to try")
    parser.add_argument("--seed", type=int, default=1, help="seed of the mutations")
    parser.add_argument("--show", type=int, default=5, help="findings of each kind to print")
    args = parser.parse_args()
    models = data_fuzzing.Models.make()
    outcomes: Counter[str] = Counter()
    found: dict[str, list[data_fuzzing.Result]] = {}
    start = time.perf_counter()
    for number, case in enumerate(data_fuzzing.cases(args.seed, args.cases)):
        with tempfile.TemporaryDirectory() as folder:
            for result in data_fuzzing.run_case(case, Path(folder), models):
                outcomes[result.outcome] += 1
                if result.outcome not in ("diagnostic", "ok"):
                    found.setdefault(result.outcome, []).append(result)
        if (number + 1) % 1000 == 0:
            print(f"  {number + 1:,} cases, {time.perf_counter() - start:.0f} s", file=sys.stderr)
    elapsed = time.perf_counter() - start
    print(
        f"cases tried: {args.cases:,} (seed {args.seed}), each through train and predict, "
        f"{elapsed:.1f} s"
    )
    for outcome in ("diagnostic", "ok", "traceback", "garbage", "pickle"):
        print(f"  {outcome:<10} {outcomes[outcome]:,}")
    for outcome, results in found.items():
        print(f"\n{outcome}: {len(results)}")
        for result in results[: args.show]:
            print(f"- {result.case.kind} {result.case.mutation!r} ({result.stage})")
            print("  " + result.detail.strip().replace("\n", "\n  "))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
