"""`netspec fmt`: the canonical layout, comments kept, idempotent, and safe.

Safe means a formatted spec checks to the same IR (positions aside) as the original, for
every spec in specs/ and tests/ that parses; idempotent means formatting it again changes
nothing. Random layouts of those specs format to one text, and random expressions keep
their syntax tree (the formatter writes parentheses only where precedence needs them).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import ROOT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_properties import _render as render_stack
from test_properties import mutated_spec, render_value, stack_with_input, values
from typer.testing import CliRunner

from netspec import fmt
from netspec.cli import app
from netspec.diagnostics import Diagnostics
from netspec.fmt import FormatError, format_source, without_spans
from netspec.frontend import check_source

MESSY = """\
# a header comment

use "blocks.net"
block conv(filters, stride=1,) {   # conv + bn
  Conv2D(filters,3, strides = stride,
         padding=same)   # same size
  # normalize
  BatchNormalization
  if stride>1 or (1+2)*3 != filters { s = Identity()(x) } else { Identity }
}
model m { input [4,]
 layers { Flatten Dense(3, a=-(1+2)*3, b=- 1, c=2-(3-4)) x = Dense(3)(h, g,)  # on dense
   repeat 2 {
     Dense(2)


     Dense(3)
     # end of repeat
   }
 }
 loss { a = mse, bbbbb = huber(delta=2) }
 optimizer adam(lr=1e-3)
 metrics [accuracy]
 train {epochs=3, batch_size = 4  # four
 seed=0 # zero
 }
}
# the end
"""

CANONICAL = """\
# a header comment

use "blocks.net"

block conv(filters, stride = 1) {  # conv + bn
  Conv2D(filters, 3, strides=stride, padding=same)  # same size
  # normalize
  BatchNormalization
  if stride > 1 or (1 + 2) * 3 != filters {
    s = Identity()(x)
  } else {
    Identity
  }
}

model m {
  input [4]
  layers {
    Flatten
    Dense(3, a=-(1 + 2) * 3, b=- 1, c=2 - (3 - 4))
    x = Dense(3)(h, g)  # on dense
    repeat 2 {
      Dense(2)

      Dense(3)
      # end of repeat
    }
  }
  loss {
    a     = mse
    bbbbb = huber(delta=2)
  }
  optimizer adam(lr=1e-3)
  metrics   [accuracy]
  train {
    epochs     = 3
    batch_size = 4  # four
    seed       = 0  # zero
  }
}
# the end
"""


def _format(source: str, file: str = "spec.net") -> str:
    diagnostics = Diagnostics()
    formatted = format_source(source, file, diagnostics)
    assert formatted is not None, list(diagnostics)
    return formatted


def _comments(source: str) -> list[str]:
    return [c.text for c in fmt._comments(source)]


def test_a_messy_spec_gets_the_canonical_layout() -> None:
    assert _format(MESSY) == CANONICAL


def test_the_canonical_layout_is_a_fixed_point() -> None:
    assert _format(CANONICAL) == CANONICAL


def test_a_hash_inside_a_string_is_no_comment() -> None:
    source = 'model m {\n  input [4]\n  layers { Dense(1) }\n  train { data = csv("a#b.csv") }\n}\n'
    formatted = _format(source)
    assert 'data = csv("a#b.csv")' in formatted
    assert _comments(formatted) == []


def test_a_comment_before_a_closing_brace_stays_in_the_body() -> None:
    source = "model m {\n  input [4]\n  layers {\n  Dense(1)\n# last\n  }\n}\n"
    assert "    Dense(1)\n    # last\n  }\n" in _format(source)


def test_a_library_without_a_model_is_formatted() -> None:
    source = "block head(units) { Dense(units, activation=relu) }\nblock b { Flatten }\n"
    assert _format(source) == (
        "block head(units) {\n  Dense(units, activation=relu)\n}\n\nblock b {\n  Flatten\n}\n"
    )


# ------------------------------------------------------------ every spec in the repository
def _parsing_specs() -> list[Path]:
    files = sorted((ROOT / "specs").glob("*.net")) + sorted((ROOT / "tests").rglob("*.net"))
    return [p for p in files if format_source(p.read_text("utf-8"), str(p), Diagnostics())]


PARSING = _parsing_specs()


def _ir(source: str, file: str) -> tuple[object, list[str]]:
    model, diagnostics = check_source(source, file)
    dumped = None if model is None else without_spans(model.model_dump())
    return dumped, [d.code for d in diagnostics]


def test_the_repository_has_specs_to_format() -> None:
    assert len(PARSING) > 100


@pytest.mark.parametrize("path", PARSING, ids=lambda p: str(p.relative_to(ROOT)))
def test_formatting_keeps_the_ir_and_the_comments_and_is_idempotent(path: Path) -> None:
    source = path.read_text("utf-8")
    formatted = _format(source, str(path))
    assert _format(formatted, str(path)) == formatted
    # The same checked model (or the same diagnostics), read where the original lies so
    # that `use` imports resolve alike.
    assert _ir(formatted, str(path)) == _ir(source, str(path))
    assert _comments(formatted) == _comments(source)


# ------------------------------------------------------------------------ random layouts
LAYOUT_SPECS = sorted((ROOT / "specs").glob("*.net")) + sorted((ROOT / "tests" / "blocks").glob("*.net"))
_TOKEN_OR_GAP = re.compile(r'"(?:[^"\\\n]|\\.)*"|#[^\n]*|\s+|[^\s"#]+')


@st.composite
def _relayouts(draw: st.DrawFn) -> tuple[str, str]:
    """A spec with every gap between tokens respaced: the same newlines (a comment ends at
    one, a blank line is kept), any spaces and tabs around them."""
    path = draw(st.sampled_from(LAYOUT_SPECS))
    canonical = _format(path.read_text("utf-8"), str(path))
    pieces = []
    for piece in _TOKEN_OR_GAP.findall(canonical):
        if piece.isspace():
            newlines = min(piece.count("\n"), 2)
            indent = st.sampled_from(["", " ", "   ", "\t", " \t  "])
            parts = [draw(indent) for _ in range(newlines + 1)]
            piece = "\n".join(parts) if newlines else (parts[0] or " ")
        pieces.append(piece)
    return str(path), "".join(pieces)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_relayouts())
def test_any_layout_of_a_spec_formats_to_one_text(case: tuple[str, str]) -> None:
    file, relaid = case
    original = Path(file).read_text("utf-8")
    assert _format(relaid, file) == _format(original, file)


# ------------------------------------------------------------------ random valid specs
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stack_with_input(), st.sampled_from(["\n    ", " ", "\n\n    # a comment\n    "]))
def test_random_valid_stacks_check_to_the_same_ir(stack, separator: str) -> None:
    """test_properties' valid stacks, laid out three ways, some with comments between layers."""
    input_shape, layers = stack
    source = render_stack(input_shape, layers, separator)
    formatted = _format(source)
    assert _format(formatted) == formatted
    ir, codes = _ir(formatted, "spec.net")
    assert ir is not None, codes
    assert (ir, codes) == _ir(source, "spec.net")
    assert _comments(formatted) == _comments(source)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values.flatmap(render_value))
def test_random_values_keep_their_tree_and_comments(written: str) -> None:
    """Any value test_properties writes (nested lists, strings with quotes and '#', comments
    and newlines between items) keeps its syntax tree and its comments, in order."""
    source = f"model m {{\n  input [4]\n  layers {{ Dense(1) }}\n  train {{ x = {written} }}\n}}\n"
    formatted = _format(source)  # raises FormatError if the tree changed
    assert _format(formatted) == formatted
    assert _comments(formatted) == _comments(source)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_spec())
def test_mutated_specs_format_or_get_a_diagnostic(text: str) -> None:
    """test_properties' mutated specs (characters dropped or put in, tokens doubled, lines
    swapped, numbers changed): formatted to a fixed point when they parse, a syntax
    diagnostic when not; never an exception."""
    diagnostics = Diagnostics()
    formatted = format_source(text, "mutated.net", diagnostics)
    if formatted is None:
        assert diagnostics.has_errors
    else:
        assert _format(formatted, "mutated.net") == formatted


# --------------------------------------------------------------------- random expressions
_ATOMS = st.sampled_from(["1", "2.5", "-3", "1e-3", "x", "depth", "true", "false", "none", '"s"'])
_BINARY = st.sampled_from(["or", "and", "==", "<", "+", "-", "*", "/", "//"])


def _expressions() -> st.SearchStrategy[str]:
    """Fully parenthesized expressions of every operator, nested at random."""
    return st.recursive(
        _ATOMS,
        lambda inner: st.one_of(
            st.tuples(inner, _BINARY, inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
            st.tuples(st.sampled_from(["not ", "-", "+"]), inner).map(lambda t: f"({t[0]}({t[1]}))"),
        ),
        max_leaves=8,
    )


@settings(max_examples=100, deadline=None)
@given(_expressions())
def test_expressions_keep_their_syntax_tree(expression: str) -> None:
    source = f"model m {{\n  input [4]\n  layers {{\n    Dense(units={expression})\n  }}\n}}\n"
    formatted = _format(source)  # raises FormatError if the tree changed
    assert _format(formatted) == formatted
    # No parentheses to spare: without any one pair the text reads otherwise, or not at all.
    written = formatted.split("units=", 1)[1].rsplit(")", 1)[0]
    tree = fmt._syntax(formatted, "spec.net", library=False)
    opened: list[int] = []
    for index, character in enumerate(written):
        if character == "(":
            opened.append(index)
        elif character == ")":
            start = opened.pop()
            bare = written[:start] + " " + written[start + 1 : index] + " " + written[index + 1 :]
            assert fmt._syntax(formatted.replace(written, bare), "spec.net", False) != tree


# --------------------------------------------------------------------------- the command
@pytest.fixture
def messy(tmp_path: Path) -> Path:
    path = tmp_path / "messy.net"
    path.write_text(MESSY, encoding="utf-8")
    return path


def test_check_prints_a_diff_exits_1_and_changes_nothing(messy: Path) -> None:
    result = CliRunner().invoke(app, ["fmt", "--check", str(messy)])
    assert result.exit_code == 1
    assert f"--- {messy}\n+++ {messy} (formatted)\n" in result.stdout
    assert "-  Conv2D(filters,3, strides = stride,\n" in result.stdout
    assert "+  Conv2D(filters, 3, strides=stride, padding=same)  # same size\n" in result.stdout
    assert messy.read_text("utf-8") == MESSY


def test_fmt_rewrites_then_check_passes(messy: Path, tmp_path: Path) -> None:
    tidy = tmp_path / "tidy.net"
    tidy.write_text(CANONICAL, encoding="utf-8")
    result = CliRunner().invoke(app, ["fmt", str(messy), str(tidy)])
    assert result.exit_code == 0, result.output
    assert messy.read_text("utf-8") == CANONICAL
    assert f"formatted {messy}" in result.stderr and "tidy.net" not in result.stderr
    again = CliRunner().invoke(app, ["fmt", "--check", str(messy), str(tidy)])
    assert again.exit_code == 0 and again.stdout == ""


def test_a_file_that_does_not_parse_gets_the_diagnostic_and_is_left_alone(tmp_path: Path) -> None:
    broken = tmp_path / "broken.net"
    text = "model m {\n  layers { Dense(3 }\n}\n"
    broken.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(app, ["fmt", str(broken)])
    assert result.exit_code == 1
    assert f"{broken}:2:20: error[E0001]" in result.stderr
    assert broken.read_text("utf-8") == text


def test_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["fmt", str(tmp_path / "missing.net")])
    assert result.exit_code == 2
    assert "E0002" in result.stderr


def test_a_formatter_bug_leaves_the_file_alone(
    messy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The formatted text is parsed again: a layout that would change the syntax tree (here
    a dropped layer) is refused, never written."""
    real = fmt.format_tree

    def drops_a_layer(tree: object, source: str) -> str:
        return real(tree, source).replace("    Flatten\n", "", 1)  # type: ignore[arg-type]

    monkeypatch.setattr(fmt, "format_tree", drops_a_layer)
    with pytest.raises(FormatError):
        format_source(MESSY, "messy.net", Diagnostics())
    result = CliRunner().invoke(app, ["fmt", str(messy)])
    assert result.exit_code == 3
    assert "left as it is" in result.stderr
    assert messy.read_text("utf-8") == MESSY


@pytest.mark.parametrize(
    ("body", "written"),
    [
        ("train { }", "  train {}\n"),
        ("train {\n}  # none yet", "  train {}  # none yet\n"),
        ("train {\n  # none yet\n}", "  train {\n    # none yet\n  }\n"),
        ("train { seed = 0, }", "  train {\n    seed = 0\n  }\n"),
    ],
)
def test_an_empty_body_is_written_on_one_line_unless_it_holds_a_comment(
    body: str, written: str
) -> None:
    source = f"model m {{\n  input [4]\n  layers {{ Dense(1) }}\n  {body}\n}}\n"
    formatted = _format(source)
    assert formatted.endswith(written + "}\n"), formatted
    assert _format(formatted) == formatted


def test_a_number_no_value_stands_for_gets_its_diagnostic_and_is_left_alone(
    tmp_path: Path,
) -> None:
    path = tmp_path / "huge.net"
    text = "model m {\n  input [4]\n  layers { Dense(99999999999999999999) }\n}\n"
    path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(app, ["fmt", str(path)])
    assert result.exit_code == 1
    assert "E0180" in result.stderr
    assert path.read_text("utf-8") == text


def test_stdin_is_formatted_to_stdout() -> None:
    result = CliRunner().invoke(app, ["fmt", "-"], input=MESSY)
    assert result.exit_code == 0, result.output
    assert result.stdout == CANONICAL
    checked = CliRunner().invoke(app, ["fmt", "--check", "-"], input=MESSY)
    assert checked.exit_code == 1 and "+++ <stdin> (formatted)" in checked.stdout


def test_crlf_lines_and_a_missing_last_newline(tmp_path: Path) -> None:
    """The layout writes '\\n' line ends and a last newline; the diff marks a last line
    without one as `diff` does, so `patch` can apply it."""
    path = tmp_path / "crlf.net"
    path.write_bytes(b"model m {\r\n  input [4]  # four\r\n  layers { Dense(1) }\r\n}")
    result = CliRunner().invoke(app, ["fmt", "--check", str(path)])
    assert result.exit_code == 1
    assert "-}\n\\ No newline at end of file\n+model m {\n" in result.stdout
    assert CliRunner().invoke(app, ["fmt", str(path)]).exit_code == 0
    assert path.read_bytes() == b"model m {\n  input [4]  # four\n  layers {\n    Dense(1)\n  }\n}\n"


def test_a_folder_stands_for_the_net_files_under_it(tmp_path: Path) -> None:
    (tmp_path / "deep").mkdir()
    (tmp_path / "deep" / "a.net").write_text(MESSY, encoding="utf-8")
    (tmp_path / "b.net").write_text(CANONICAL, encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not a spec", encoding="utf-8")
    result = CliRunner().invoke(app, ["fmt", "--check", str(tmp_path)])
    assert result.exit_code == 1
    assert f"+++ {tmp_path / 'deep' / 'a.net'} (formatted)" in result.stdout
    assert "1 of 2 file(s) would be reformatted" in result.stderr


def test_a_layer_longer_than_the_width_gets_one_argument_a_line() -> None:
    arguments = "64, 3, strides=2, padding=same, kernel_initializer=he_normal, name=\"a_much_longer_layer_name\""
    source = (
        "model m {\n  input [8, 8, 1]\n  layers {\n"
        f"    h = Conv2D({arguments})  # long\n    Dense(3)  # short\n    Dense(2, activation=relu)\n"
        "  }\n}\n"
    )
    formatted = _format(source)
    assert formatted == (
        "model m {\n  input [8, 8, 1]\n  layers {\n"
        "    h = Conv2D(\n      64,\n      3,\n      strides=2,\n      padding=same,\n"
        "      kernel_initializer=he_normal,\n      name=\"a_much_longer_layer_name\"\n"
        "    )         # long\n    Dense(3)  # short\n    Dense(2, activation=relu)\n  }\n}\n"
    )
    assert all(len(line) <= fmt.MAX_WIDTH for line in formatted.splitlines())
    assert _format(formatted) == formatted
    assert _ir(formatted, "spec.net") == _ir(source, "spec.net")
