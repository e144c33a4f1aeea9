"""docs/semantics.md states what every catalogue entry means: a new entry needs its section."""

from __future__ import annotations

import re

import pytest
from conftest import ROOT

from netspec import catalogue

DOCUMENTED_FAMILIES = (
    "layer",
    "activation",
    "initializer",
    "loss",
    "metric",
    "schedule",
    "optimizer",
)


def headings() -> set[str]:
    text = (ROOT / "docs" / "semantics.md").read_text(encoding="utf-8")
    return {m.group(1).strip() for m in re.finditer(r"^###\s+(.+)$", text, flags=re.MULTILINE)}


@pytest.mark.parametrize("family", DOCUMENTED_FAMILIES)
def test_every_catalogue_entry_is_documented(family: str) -> None:
    missing = [e.kind for e in catalogue.entries(family) if e.kind not in headings()]
    assert not missing, f"docs/semantics.md has no '### <name>' section for {family}s {missing}"
