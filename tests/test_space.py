"""Search spaces (issue 16): finding the dimensions, writing a point in, checking a space."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from netspec.diagnostics import Diagnostics
from netspec.frontend import check_source
from netspec.space import concrete_source, find_space

SPECS = Path(__file__).resolve().parent.parent / "specs"

MLP = """\
# a comment that stays
model m {
  input [64]
  layers {
    h = Dense(choice(32, 64, 128), activation=choice(relu, tanh))  # width
    Dense(int_range(8, 16))
    Dense(10, activation=softmax)
  }
  loss sparse_categorical_crossentropy
  optimizer Adam(lr=log_range(1e-4, 1e-2))
  train { data = digits, batch_size = choice(16, 32), validation_split = range(0.1, 0.3) }
}
"""

BLOCKS = """\
block stem(width = choice(16, 32)) {
  Dense(width, activation=relu)
  Dense(choice(8, 4))
}
model m {
  input [64]
  layers {
    s = stem(width=choice(8, 16))
    stem
    repeat int_range(1, 3) { Dense(32) }
    Dense(10, activation=softmax, repeat=choice(1, 2))
  }
  loss sparse_categorical_crossentropy
  optimizer Adam(lr=1e-3)
  train { data = digits }
}
"""


def space_of(source: str, file: str = "s.net"):
    diagnostics = Diagnostics()
    space = find_space(source, file, diagnostics)
    return space, diagnostics


def test_find_space_names_kinds_and_bounds() -> None:
    space, diagnostics = space_of(MLP)
    assert space is not None and not diagnostics.has_errors
    found = {d.name: (d.kind, d.choices, d.low, d.high) for d in space.dimensions}
    assert found == {
        "h.units": ("choice", ("32", "64", "128"), None, None),
        "h.activation": ("choice", ("relu", "tanh"), None, None),
        "dense.units": ("int_range", None, 8, 16),
        "optimizer.lr": ("log_range", None, 1e-4, 1e-2),
        "train.batch_size": ("choice", ("16", "32"), None, None),
        "train.validation_split": ("range", None, 0.1, 0.3),
    }
    assert [d.name for d in space.dimensions][:2] == ["h.units", "h.activation"]  # source order
    first = space.dimensions[0]
    assert (first.span.line, first.span.column, first.file) == (5, 15, "s.net")
    assert isinstance(space.dimension("dense.units").low, int)
    assert space.dimension("h.units").size == 3 and space.size is None  # a float range


def test_block_arguments_defaults_and_repeat_counts_are_dimensions() -> None:
    space, diagnostics = space_of(BLOCKS)
    assert space is not None and not diagnostics.has_errors
    assert [d.name for d in space.dimensions] == [
        "stem.width",  # the block parameter's default
        "stem.dense_1.units",  # inside the block's body: one dimension for every instance
        "s.width",  # the use site's argument
        "dense.repeat",  # repeat N { Dense(32) }: named after its first statement
        "dense_1.repeat",  # Dense(…, repeat=…)
    ]
    assert space.size == 2 * 2 * 2 * 3 * 2


def test_a_plain_spec_has_no_dimensions() -> None:
    space, diagnostics = space_of((SPECS / "digits_mlp.net").read_text())
    assert space is not None and space.dimensions == () and len(diagnostics) == 0


def test_names_taken_twice_get_a_suffix() -> None:
    source = MLP.replace("Dense(int_range(8, 16))", "Dense(int_range(8, 16), units=choice(1, 2))")
    space, _ = space_of(source)
    assert space is not None
    assert [d.name for d in space.dimensions if d.name.startswith("dense.")] == [
        "dense.units", "dense.units_2"
    ]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("range(0.5, 0.1)", "low bound 0.5 is not below its high bound 0.1"),
        ("range(0.5, 0.5)", "low bound 0.5 is not below its high bound 0.5"),
        ("log_range(0, 1e-2)", "log_range's bounds must be above 0, got 0"),
        ("log_range(-1, 1)", "log_range's bounds must be above 0, got -1"),
        ("int_range(1, 4.5)", "int_range's bounds are whole numbers, got 4.5"),
        ("int_range(4, 1)", "low bound 4 is not below its high bound 1"),
        ("range(1)", "range takes two numbers, low and high; got 1"),
        ("range(a, 2)", "range's bounds are plain numbers"),
        ("choice()", "choice() has no options"),
        ("choice(1, choice(2, 3))", "search-space values do not nest"),
        ("choice(1, range(2, 3))", "search-space values do not nest"),
        ("range(low=1, high=2)", "range takes its values by position, not 'low='"),
    ],
)
def test_malformed_search_values_are_diagnosed(value: str, message: str) -> None:
    source = MLP.replace("int_range(8, 16)", value)
    space, diagnostics = space_of(source)
    assert space is None
    errors = [d for d in diagnostics if d.code == "E0191"]
    assert len(errors) == 1 and message in errors[0].message, [d.message for d in diagnostics]
    assert errors[0].span.line == 6 and errors[0].hint


def test_a_choice_of_one_value_is_a_warning() -> None:
    space, diagnostics = space_of(MLP.replace("int_range(8, 16)", "choice(12)"))
    assert space is not None and not diagnostics.has_errors
    (warning,) = [d for d in diagnostics if d.code == "W0193"]
    assert warning.hint == "write the value itself: 12"


def test_concrete_source_is_a_plain_spec_with_comments_kept() -> None:
    space, _ = space_of(MLP)
    assert space is not None
    point = {
        "h.units": 64, "h.activation": "tanh", "dense.units": 9, "optimizer.lr": 3e-4,
        "train.batch_size": "32", "train.validation_split": 0.2,
    }
    text = concrete_source(space, point)
    assert "# a comment that stays" in text and "# width" in text
    assert "h = Dense(64, activation=tanh)" in text
    assert "Dense(9)" in text and "Adam(lr=0.0003)" in text
    assert "batch_size = 32, validation_split = 0.2 }" in text
    again, diagnostics = space_of(text)
    assert again is not None and again.dimensions == ()
    model, diagnostics = check_source(text)
    assert model is not None, [d.message for d in diagnostics]
    assert model.layers[0].output_shape == (64,) and model.train.batch_size == 32
    assert model.optimizer.params.lr == pytest.approx(3e-4)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("h.units", 48, "h.units takes one of 32, 64, 128, not 48"),
        ("h.units", True, "h.units takes one of 32, 64, 128, not true"),
        ("dense.units", 17, "dense.units=17 lies outside int_range(8, 16)"),
        ("dense.units", 8.5, "dense.units takes a whole number, not 8.5"),
        ("optimizer.lr", 0.1, "optimizer.lr=0.1 lies outside log_range(0.0001, 0.01)"),
        ("optimizer.lr", "fast", "optimizer.lr takes a number, not fast"),
    ],
)
def test_concrete_source_refuses_a_value_outside_the_space(
    name: str, value: object, message: str
) -> None:
    space, _ = space_of(MLP)
    assert space is not None
    point: dict[str, object] = {
        "h.units": 64, "h.activation": "relu", "dense.units": 9, "optimizer.lr": 3e-4,
        "train.batch_size": 32, "train.validation_split": 0.2,
    }
    point[name] = value
    with pytest.raises(ValueError, match=re.escape(message)):
        concrete_source(space, point)


def test_concrete_source_wants_every_dimension_and_no_other() -> None:
    space, _ = space_of(MLP)
    assert space is not None
    with pytest.raises(ValueError, match=re.escape("no value for h.activation")):
        concrete_source(space, {"h.units": 64})
    full = {d.name: d.choices[0] if d.choices else d.low for d in space.dimensions}
    with pytest.raises(ValueError, match="no dimension bogus"):
        concrete_source(space, {**full, "bogus": 1})


def test_concrete_source_of_blocks_and_repeats_checks() -> None:
    space, _ = space_of(BLOCKS)
    assert space is not None
    point = {"stem.width": 32, "stem.dense_1.units": 4, "s.width": 16, "dense.repeat": 3,
             "dense_1.repeat": 2}
    text = concrete_source(space, point)
    model, diagnostics = check_source(text)
    assert model is not None, [d.message for d in diagnostics]
    kinds = [layer.name for layer in model.layers]
    assert len(kinds) == 2 + 2 + 3 + 2


# -- one model from a space: refused until every dimension is fixed (--set NAME=VALUE)


def test_check_source_refuses_a_space_at_its_first_search_value() -> None:
    model, diagnostics = check_source(MLP, "s.net")
    assert model is None
    (error,) = list(diagnostics)
    assert error.code == "E0190" and (error.span.line, error.span.column) == (5, 15)
    assert "h.units = choice(32, 64, 128) (and 5 more)" in error.message
    assert error.hint is not None and "netspec tune" in error.hint and "--set h.units=32" in error.hint


def test_set_fixes_dimensions_and_a_fully_fixed_space_checks() -> None:
    fixed = {"h.units": "128", "h.activation": "tanh", "dense.units": "12",
             "optimizer.lr": "1e-3", "train.batch_size": "16"}
    model, diagnostics = check_source(MLP, "s.net", fixed)
    assert model is None
    (error,) = list(diagnostics)
    assert error.code == "E0190" and "train.validation_split" in error.message
    # a plain train setting's override replaces its search value as it replaces any value
    model, diagnostics = check_source(MLP, "s.net", {**fixed, "validation_split": "0.25"})
    assert model is not None, [d.message for d in diagnostics]
    assert model.layers[0].output_shape == (128,) and model.layers[1].output_shape == (12,)
    assert model.train.batch_size == 16 and model.train.validation_split == 0.25


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("h.units", "48", "--set h.units=48: h.units takes one of 32, 64, 128, not 48"),
        ("dense.units", "40", "dense.units=40 lies outside int_range(8, 16)"),
        ("h.unit", "32", "the spec has no dimension h.unit"),
    ],
)
def test_set_refuses_a_value_outside_the_space(key: str, value: str, message: str) -> None:
    model, diagnostics = check_source(MLP, "s.net", {key: value})
    assert model is None
    (error,) = [d for d in diagnostics if d.code == "E0194"]
    assert message in error.message and error.span.file == f"--{key}"
    assert error.hint


def test_a_search_value_in_an_imported_file_is_refused_there() -> None:
    main = Path(__file__).resolve().parent / "space" / "uses_searching_block.net"
    model, diagnostics = check_source(main.read_text(), str(main))
    assert model is None
    errors = list(diagnostics)
    assert {d.code for d in errors} == {"E0192"} and len(errors) == 2
    assert all(d.span.file.endswith("searching_block.net") for d in errors)
    assert "stands only in the main spec file" in errors[0].message
