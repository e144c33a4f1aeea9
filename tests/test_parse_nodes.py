"""The parser builds syntax nodes without validating them (`model_construct`, for start-up
speed); these tests hold it to what validation would give: every tree it makes from the
specs and corpora here validates as its model, node for node, and no node has a field its
model lacks."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from netspec.diagnostics import Diagnostics
from netspec.parse import parse, parse_library

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted(
    [*ROOT.glob("specs/*.net"), *ROOT.glob("tests/**/*.net")], key=lambda p: str(p)
)


def _nodes(value: object):
    if isinstance(value, BaseModel):
        yield value
        for name in type(value).model_fields:
            yield from _nodes(getattr(value, name))
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _nodes(item)


def test_there_are_sources() -> None:
    assert len(SOURCES) >= 80


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_parsed_node_validates_as_its_model(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    tree: BaseModel | None = parse(source, str(path), Diagnostics())
    if tree is None:  # a library, or a corpus file with a syntax error
        tree = parse_library(source, str(path), Diagnostics())
    if tree is None:
        pytest.skip("a syntax error: no tree")
    assert type(tree).model_validate(tree.model_dump()) == tree
    for node in _nodes(tree):
        assert set(node.__dict__) == set(type(node).model_fields), type(node).__name__
        assert not node.__pydantic_extra__, type(node).__name__
