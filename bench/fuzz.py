"""The long front-end fuzz campaign: `python bench/fuzz.py --inputs 100000 [--seed N]`.

Prints inputs tried, outcomes, tracebacks, hangs, memory errors and the peak memory of the
worker; writes each failing input to --out (default bench/fuzz-failures/) to minimize into
a tests/errors/ case. Exit status 1 when anything failed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from fuzz.frontend import run_campaign  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--limit-s", type=float, default=5.0, help="time limit per input")
    parser.add_argument("--memory-mb", type=int, default=2048, help="address space of the worker")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "fuzz-failures")
    args = parser.parse_args()
    campaign = run_campaign(args.seed, args.inputs, args.limit_s, args.memory_mb, progress=True)
    print(f"inputs tried: {campaign.tried}")
    print(f"outcomes: {json.dumps(campaign.outcomes, sort_keys=True)}")
    print(f"tracebacks: {campaign.count('traceback')}")
    print(f"hangs (> {args.limit_s:g} s): {campaign.count('hang')}")
    print(f"memory errors (> {args.memory_mb} MiB): {campaign.count('memory')}")
    print(f"peak memory of the worker: {campaign.peak_rss_mb:.0f} MiB (max RSS)")
    print(f"slowest input: {campaign.slowest_s:.2f} s; wall: {campaign.seconds:.0f} s")
    if campaign.failures:
        args.out.mkdir(parents=True, exist_ok=True)
        for i, failure in enumerate(campaign.failures):
            (args.out / f"{i:04d}-{failure['outcome']}.net").write_text(
                str(failure["source"]), encoding="utf-8", errors="backslashreplace"
            )
            (args.out / f"{i:04d}-{failure['outcome']}.txt").write_text(
                f"{failure['file']}\n{failure.get('error')}", encoding="utf-8"
            )
        print(f"failing inputs written to {args.out}")
    return 1 if campaign.failures else 0


if __name__ == "__main__":
    sys.exit(main())
