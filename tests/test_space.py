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


# -- checking a whole space


def examined(source: str, cap: int | None = None):
    from netspec.space.checking import CAP, examine

    space, diagnostics = space_of(source)
    assert space is not None, [d.message for d in diagnostics]
    result = examine(space, diagnostics, cap=cap or CAP)
    return result, list(diagnostics)


CONVS = """\
model m {
  input [12, 12, 1]
  layers {
    Conv2D(4, choice(3, 5, 7), activation=relu)
    Conv2D(4, kernel_size=choice(3, 5, 7), activation=relu)
    Flatten
    Dense(10, activation=softmax)
  }
  loss sparse_categorical_crossentropy
  optimizer Adam(lr=log_range(1e-4, 1e-2))
  train { data = digits, batch_size = choice(16, 32) }
}
"""


def test_the_one_invalid_combination_is_an_error_naming_both_values() -> None:
    result, diagnostics = examined(CONVS)
    assert not result.ok
    (error,) = diagnostics  # 7 then 7 leaves a 6x6 input for a 7x7 window; no other point fails
    assert error.code == "E0202" and error.span.line == 5 and error.hint
    assert error.message.startswith(
        "with conv2d.kernel_size=choice(3, 5, 7)=7 and conv2d_1.kernel_size=choice(3, 5, 7)=7: "
        "Conv2D window [7, 7] is larger than its input [6, 6, 4]"
    )
    notes = {(r.span.line, r.message) for r in error.related}
    assert notes == {(4, "conv2d.kernel_size = 7 here"), (5, "conv2d_1.kernel_size = 7 here")}
    # the two kernels interact (one feeds the other); the optimizer and batch size do not
    assert [(g.dimensions, g.size, g.checked) for g in result.groups] == [
        (("conv2d.kernel_size", "conv2d_1.kernel_size"), 9, 9)
    ]


def test_a_valid_space_checks_ok_and_silently() -> None:
    result, diagnostics = examined(CONVS.replace("choice(3, 5, 7)", "choice(3, 5)", 1))
    assert result.ok and diagnostics == []


@pytest.mark.parametrize("options", ["choice(8, 0)", "choice(0, 8)"])
def test_a_value_invalid_on_its_own_is_named(options: str) -> None:
    """Also when it is the first value (the reference point then moves to a valid one)."""
    result, diagnostics = examined(MLP.replace("int_range(8, 16)", options))
    assert not result.ok
    (error,) = diagnostics
    assert error.code == "E0113" and error.message.startswith(
        f"with dense.units={options}=0: "
    ), error.message


def test_a_million_independent_points_check_with_few() -> None:
    source = (SPECS / "digits_mlp.net").read_text()
    activations = "choice(relu, tanh, elu, gelu, selu, sigmoid, silu, softplus, softsign, linear)"
    source = source.replace("Dense(64, activation=relu)", f"Dense(64, activation={activations})")
    source = source.replace("Adam(lr=1e-3)", "Adam(lr=choice(" + ", ".join(
        f"{k}e-4" for k in range(1, 11)) + "))")
    source = source.replace("epochs           = 20", "epochs = int_range(1, 10)")
    source = source.replace("batch_size       = 32", "batch_size = choice(" + ", ".join(
        str(8 * k) for k in range(1, 11)) + ")")
    source = source.replace("seed             = 0", "seed = int_range(0, 9)")
    space, _ = space_of(source)
    assert space is not None and space.size == 10**6
    result, diagnostics = examined(source)
    assert result.ok and diagnostics == []
    assert result.points == 1 + 6 * 9 and result.groups == []


def test_an_interacting_group_over_the_cap_is_checked_in_part() -> None:
    result, diagnostics = examined(CONVS.replace("choice(3, 5, 7)", "choice(1, 2, 3)"), cap=2)
    assert result.ok
    (warning,) = diagnostics
    assert warning.code == "W0195" and "conv2d.kernel_size, conv2d_1.kernel_size interact" in (
        warning.message
    )
    # 5 points varied one at a time, then 2 more (the cap): 7 of 9
    assert "7 of their 9 combinations were checked" in warning.message
    assert (result.groups[0].checked, result.groups[0].size) == (7, 9)


def test_a_dimension_hidden_at_the_reference_is_checked_where_it_shows() -> None:
    """Its `if` branch is not taken at the first values: the condition uncovers it."""
    source = MLP.replace(
        "Dense(int_range(8, 16))", "if choice(false, true) { Dense(choice(4, 0)) }"
    )
    result, diagnostics = examined(source)
    assert not result.ok
    (error,) = diagnostics
    assert error.code == "E0113"
    assert error.message.startswith("with if_line6=choice(false, true)=true and dense.units="), (
        error.message
    )


def test_dimensions_that_decide_a_block_together_are_enumerated_together() -> None:
    """Neither argument alone takes the branch that fails; together they do."""
    source = """\
block pick(a, c) {
  if a and c { Dense(0) } else { Dense(4) }
}
model m {
  input [8]
  layers {
    pick(a=choice(false, true), c=choice(false, true))
    Dense(2)
  }
  loss mse
  optimizer Adam
}
"""
    result, diagnostics = examined(source)
    assert not result.ok
    (error,) = diagnostics
    assert error.message.startswith("with pick.a=choice(false, true)=true and pick.c="), (
        error.message
    )


def test_parameter_totals_over_independent_groups_are_checked() -> None:
    """Each branch alone stays under 10**12 parameters; the two big ones together do not."""
    source = """\
model m {
  input [1000000]
  layers {
    a = Dense(choice(1, 600000))(input)
    b = Dense(choice(1, 600000))(input)
    p = Dense(1)(a)
    q = Dense(1)(b)
    Add()(p, q)
  }
  loss mse
  optimizer Adam
}
"""
    result, diagnostics = examined(source)
    assert not result.ok
    (error,) = [d for d in diagnostics if d.code != "W0232"]  # each branch alone is too big here
    assert error.code == "E0231" and error.message.startswith(
        "with a.units=choice(1, 600000)=600000 and b.units=choice(1, 600000)=600000: "
    ), error.message
    assert result.groups == []  # independent: no product enumerated


@pytest.fixture
def small_host(monkeypatch: pytest.MonkeyPatch):
    """A host whose memory is what the test says (W0232 compares with it)."""
    from netspec import memory

    def host(total: float) -> None:
        figure = memory.Memory(int(total), None, "the test's figure")
        monkeypatch.setattr(memory, "host_memory", lambda: figure)

    return host


def test_a_model_too_large_for_memory_at_some_points_is_warned_with_them(small_host) -> None:
    """W0232 over a space: at the point combining independent groups' largest parameter
    totals when neither alone is too large, and at the one value that is."""
    source = """\
model m {
  input [100]
  layers {
    Dense(choice(8, 2000))
    Dense(8)
    Dense(choice(8, 2000))
    Dense(2, activation=softmax)
  }
  loss sparse_categorical_crossentropy
  optimizer Adam
}
"""
    small_host(3.7e6)  # Adam: 16 bytes a parameter; 2000 alone 3.5 MB, 2000 and 2000 3.8 MB
    result, diagnostics = examined(source)
    assert result.ok and result.groups == []  # a warning; two groups, never multiplied
    (warning,) = diagnostics
    assert warning.code == "W0232" and warning.message.startswith(
        "with dense.units=choice(8, 2000)=2000 and dense_2.units=choice(8, 2000)=2000: "
        "training takes about 3.8 MB for the model's 240,010 parameters"
    ), warning.message
    (warning,) = examined(source.replace("choice(8, 2000))\n    Dense(8)", "choice(8, 20000))\n    Dense(8)"))[1]
    assert warning.message.startswith("with dense.units=choice(8, 20000)=20000: training "), (
        warning.message
    )


def test_a_batch_and_a_width_too_large_together_are_warned(small_host) -> None:
    """One layer's output for a batch: the width and the batch size are independent
    groups, each fits alone, the two largest together do not."""
    source = """\
model m {
  input [4]
  layers {
    Dense(choice(8, 100000))
    Dense(2, activation=softmax)
  }
  loss sparse_categorical_crossentropy
  optimizer Adam
  train { batch_size = choice(32, 4096) }
}
"""
    small_host(50e6)
    result, diagnostics = examined(source)
    assert result.ok
    (warning,) = diagnostics
    assert warning.code == "W0232" and warning.message.startswith(
        "with dense.units=choice(8, 100000)=100000 and train.batch_size=choice(32, 4096)=4096: "
        "dense's output [100000] takes about 1.6 GB for a batch of 4096, more than the 50.0 MB"
    ), warning.message
    small_host(50e9)
    assert examined(source)[1] == []


def test_netspec_check_prints_the_space_and_exits_by_its_validity(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from netspec.check_command import run

    good = tmp_path / "good.net"
    good.write_text(MLP)
    assert run([good]) == 0
    out = capsys.readouterr()
    lines = out.out.splitlines()
    assert lines[0] == (
        f"{good}: ok, model m, search space of 6 dimensions, "
        "108 points × 2 continuous ranges (" + lines[0].split("(")[-1]
    )
    assert any(line.split() == ["h.units", "choice", "32,", "64,", "128", "(3", "values)"]
               for line in lines)
    assert any("optimizer.lr" in line and "log scale" in line for line in lines)
    bad = tmp_path / "bad.net"
    bad.write_text(CONVS)
    assert run([bad]) == 1
    out = capsys.readouterr()
    assert "error[E0202]: with conv2d.kernel_size=choice(3, 5, 7)=7" in out.err and out.out == ""
    malformed = tmp_path / "malformed.net"
    malformed.write_text(MLP.replace("int_range(8, 16)", "int_range(16, 8)"))
    assert run([malformed]) == 1
    assert "E0191" in capsys.readouterr().err


def test_compile_refuses_a_space_with_the_hint(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from netspec.cli import app

    spec = tmp_path / "space.net"
    spec.write_text(MLP)
    out = tmp_path / "model.py"
    result = CliRunner().invoke(app, ["compile", str(spec), "-t", "torch", "-o", str(out)])
    assert result.exit_code == 1 and not out.exists()
    assert "E0190" in result.output and "run `netspec tune`" in result.output
    fixed = ["--set", "h.units=32", "--set", "h.activation=relu", "--set", "dense.units=8",
             "--set", "optimizer.lr=1e-3", "--set", "train.batch_size=16",
             "--set", "train.validation_split=0.1"]
    result = CliRunner().invoke(app, ["compile", str(spec), "-t", "torch", "-o", str(out), *fixed])
    assert result.exit_code == 0, result.output
    assert out.exists()


def test_a_dimension_at_its_reference_value_that_takes_part_is_named_too() -> None:
    """Kernel 9 breaks only with the first input height (8): both are named."""
    source = """\
model m {
  input [choice(8, 16), 8, 1]
  layers {
    c = Conv2D(4, [choice(3, 9), 3])
    Flatten
    Dense(10, activation=softmax)
  }
  loss sparse_categorical_crossentropy
  optimizer Adam(lr=choice(1e-3, 1e-2))
}
"""
    result, diagnostics = examined(source)
    assert not result.ok
    (error,) = diagnostics
    assert error.message.startswith(
        "with input.shape.0=choice(8, 16)=8 and c.kernel_size.0=choice(3, 9)=9: Conv2D window"
    ), error.message


def test_train_refuses_a_space_before_it_trains(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from netspec.cli import app

    spec = tmp_path / "space.net"
    spec.write_text(MLP)
    result = CliRunner().invoke(app, ["train", str(spec), "--out", str(tmp_path / "runs")])
    assert result.exit_code == 1
    assert "E0190" in result.output and "--set h.units=32" in result.output
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


@pytest.mark.parametrize("path", sorted(SPECS.glob("*.net")), ids=lambda p: p.stem)
def test_a_space_of_one_value_per_dimension_checks_as_the_plain_spec(path: Path) -> None:
    """Every whole number in the layers written as choice(n, n): the same verdict, the same
    layers, and each dimension named and found."""
    import re

    source = path.read_text(encoding="utf-8")
    start = source.index("layers {")
    numbers = [
        m for m in re.finditer(r"(?<![\w.\-\[])\d+(?![\w.e])", source[start:])
        if "#" not in source[: start + m.start()].rsplit("\n", 1)[-1]  # not in a comment
    ][:4]
    spaced = source
    for match in reversed(numbers):
        at = start + match.start()
        spaced = spaced[:at] + f"choice({match.group()}, {match.group()})" + spaced[
            start + match.end():]
    space, diagnostics = space_of(spaced, str(path))
    assert space is not None and len(space.dimensions) == len(numbers) > 0
    result = examine_all(space, diagnostics)
    plain, _ = check_source(source, str(path))
    assert result.ok == (plain is not None), [d.message for d in diagnostics]
    fixed = {d.name: d.choices[0] for d in space.dimensions}
    model, _ = check_source(concrete_source(space, fixed), str(path))
    assert plain is not None and model is not None
    assert [layer.output_shape for layer in model.layers] == [
        layer.output_shape for layer in plain.layers
    ]


def examine_all(space, diagnostics):
    from netspec.space.checking import examine

    return examine(space, diagnostics, {})
