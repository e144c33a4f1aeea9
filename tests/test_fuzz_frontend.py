"""A fixed-seed sample of the front-end fuzz campaign (tests/fuzz/frontend.py): 2,000
mutated and generated specs through `check`, none may end in a traceback, a hang (over
5 s) or a MemoryError (2 GiB of address space). bench/fuzz.py runs the long campaign.

Before the limits of netspec/limits.py this sample found 31 tracebacks, 15 hangs and 5
memory errors; a minimized reproducer of each class is in tests/errors/ (limit_*.net)."""

from __future__ import annotations

import pytest
from fuzz.frontend import run_campaign, seed_paths


def test_the_fuzzer_has_seeds_from_specs_and_tests() -> None:
    folders = {p.parent.name for p in seed_paths()}
    assert {"specs", "errors", "blocks"} <= folders


def campaign_ends_in_diagnostics(count: int) -> None:
    campaign = run_campaign(seed=12, count=count, limit_s=5.0, memory_mb=2048)
    assert campaign.tried == count
    report = [
        f"{f['outcome']} on {f['file']}:\n{f.get('error')}\n{str(f['source'])[:500]!r}"
        for f in campaign.failures[:5]
    ]
    assert not campaign.failures, "\n\n".join(report)
    assert campaign.count("diagnostics") > count // 2  # the mutations reach the checker's errors


def test_three_hundred_inputs_end_in_diagnostics() -> None:
    """The quick loop's share of the sample; the full run (`pytest -m ""`) takes all 2,000."""
    campaign_ends_in_diagnostics(300)


@pytest.mark.slow
def test_two_thousand_inputs_end_in_diagnostics() -> None:
    campaign_ends_in_diagnostics(2000)
