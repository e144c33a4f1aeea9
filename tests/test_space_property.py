"""check_space against brute force (issue 16): on small random spaces whose shapes interact,
its verdict is the brute force's (invalid iff some point is), and every error it reports
names values at which the spec really fails (tests/space_spaces.py builds the spaces).

The plain tests below are the disagreements the property found, minimised.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from space_spaces import disagreement, spaces

from netspec.diagnostics import Diagnostics
from netspec.space import examine, find_space

PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
LONG = settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))


@PROPERTY
@given(spaces(dimensions=4, points=36))
def test_check_space_agrees_with_brute_force(source: str) -> None:
    problem = disagreement(source)
    assert problem is None, f"{problem}\n{source}"


@pytest.mark.slow
@LONG
@given(spaces(dimensions=5, points=200))
def test_check_space_agrees_with_brute_force_on_more_spaces(source: str) -> None:
    problem = disagreement(source)
    assert problem is None, f"{problem}\n{source}"


def examined(source: str):
    diagnostics = Diagnostics()
    space = find_space(source, "s.net", diagnostics)
    assert space is not None, [d.message for d in diagnostics]
    return examine(space, diagnostics), list(diagnostics)


# -- what the property found


def test_a_search_value_the_parser_refuses_makes_the_space_invalid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A choice in `metrics` is a parse error (E0113, the parser drops it and goes on): no
    point is a valid spec, so `netspec check` fails (it said ok, exit 0)."""
    from netspec.check_command import run

    source = """\
model m {
  input [8]
  layers { Dense(choice(2, 3), activation=softmax) }
  loss sparse_categorical_crossentropy
  optimizer Adam
  metrics [choice(accuracy, mean_absolute_error)]
}
"""
    diagnostics = Diagnostics()
    assert find_space(source, "s.net", diagnostics) is None
    assert [d.code for d in diagnostics] == ["E0113"]
    spec = tmp_path / "s.net"
    spec.write_text(source)
    assert run([spec]) == 1
    err = capsys.readouterr().err
    assert err.count("error[E0113]: a metric is a name such as accuracy") == 1, err


def test_a_layer_nothing_reads_is_checked_at_every_combination() -> None:
    """`c` is no part of the model (nothing reads it) but is checked: a 5x5 window on a
    4-high input fails, with neither value failing alone."""
    source = """\
model m {
  input [choice(6, 4), 6, 1]
  layers {
    c = Conv2D(2, choice(3, 5))(input)
    f = Flatten()(input)
    Dense(3, activation=softmax)(f)
  }
  loss sparse_categorical_crossentropy
  optimizer Adam
}
"""
    assert disagreement(source) is None
    result, diagnostics = examined(source)
    assert not result.ok
    (error,) = [d for d in diagnostics if d.code == "E0202"]
    assert error.message.startswith(
        "with input.shape.0=choice(6, 4)=4 and c.kernel_size=choice(3, 5)=5: "
    ), error.message


def test_block_parameters_in_one_expression_are_enumerated_together() -> None:
    """`rows * extra` hides `extra` while `rows` is 0 and hides `rows` while `extra` is 0:
    changed one at a time neither changes a layer; together they make Dense(-4)."""
    source = """\
block head(rows = 0, extra = 0) {
  Dense(4 - rows * extra * 2)
}
model m {
  input [8]
  layers {
    head(rows=choice(0, 2), extra=choice(0, 2))
    Dense(2, activation=softmax)
  }
  loss sparse_categorical_crossentropy
  optimizer Adam
}
"""
    assert disagreement(source) is None
    result, diagnostics = examined(source)
    assert not result.ok
    (error,) = diagnostics
    assert error.code == "E0113" and error.message.startswith(
        "with head.rows=choice(0, 2)=2 and head.extra=choice(0, 2)=2: "
    ), error.message
