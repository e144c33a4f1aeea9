"""What a run says of the steps it skipped for a NaN or infinite loss (on_nan = skip), the
same on both backends: the generated fit calls `on_skip(epoch, step, loss)` for each."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

SKIPS_SHOWN = 5
"""Skipped steps a run names one by one; it leaves the rest unsaid."""


def skip_reporter(reporter: Any) -> Callable[[int, int, float], None]:
    """The generated fit's `on_skip`: a message for each of the first SKIPS_SHOWN skips."""
    skipped = {"count": 0}

    def on_skip(epoch: int, step: int, loss: float) -> None:
        skipped["count"] += 1
        if skipped["count"] <= SKIPS_SHOWN:
            more = "; further ones go unsaid" if skipped["count"] == SKIPS_SHOWN else ""
            reporter.message(
                f"the loss is {loss} at epoch {epoch}, step {step}: skipped that step "
                f"(on_nan = skip){more}"
            )

    return on_skip
