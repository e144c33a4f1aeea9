"""A fixed-seed sample of the front-end fuzz campaign (tests/fuzz/frontend.py): 2,000
mutated and generated specs through `check`, none may end in a traceback, a hang (over
5 s) or a MemoryError (2 GiB of address space). bench/fuzz.py runs the long campaign.

Before the limits of netspec/limits.py this sample found 31 tracebacks, 15 hangs and 5
memory errors; a minimized reproducer of each class is in tests/errors/ (limit_*.net)."""

from __future__ import annotations

from fuzz.frontend import run_campaign, seed_paths


def test_the_fuzzer_has_seeds_from_specs_and_tests() -> None:
    folders = {p.parent.name for p in seed_paths()}
    assert {"specs", "errors", "blocks"} <= folders


def test_two_thousand_inputs_end_in_diagnostics() -> None:
    campaign = run_campaign(seed=12, count=2000, limit_s=5.0, memory_mb=2048)
    assert campaign.tried == 2000
    report = [
        f"{f['outcome']} on {f['file']}:\n{f.get('error')}\n{str(f['source'])[:500]!r}"
        for f in campaign.failures[:5]
    ]
    assert not campaign.failures, "\n\n".join(report)
    assert campaign.count("diagnostics") > 1000  # the mutations do reach the checker's errors
