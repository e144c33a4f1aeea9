"""Blocks, imports, repeat and arithmetic: expansion, naming, diagnostics, golden code.

tests/blocks/ holds a small spec made of blocks (one imported) whose generated code is
checked in under tests/golden/blocks/; rewrite it with `--update-golden` and review the diff.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from netspec import ir
from netspec.cli import app
from netspec.codegen import generate
from netspec.diagnostics import Diagnostics, render_text
from netspec.frontend import check_file, check_source
from netspec.parse import parse

HERE = Path(__file__).resolve().parent
FIXTURE = "tests/blocks/small_resnet.net"
GOLDEN = HERE / "golden" / "blocks"

_MODEL = """
model m {{
  input [{input}]
  layers {{
{layers}
  }}
  loss mse
  optimizer Adam
}}
"""


def spec(layers: str, blocks: str = "", input: str = "8") -> str:
    return blocks + _MODEL.format(input=input, layers=layers)


def checked(source: str, file: str = "<spec>") -> ir.Model:
    model, diagnostics = check_source(source, file)
    assert model is not None, [render_text(d, source) for d in diagnostics]
    return model


def without_spans(model: ir.Model) -> dict[str, object]:
    """The IR as JSON, spans left out: what two spellings of one model must share."""

    def strip(value: object) -> object:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k != "span"}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return strip(model.model_dump(mode="json"))  # type: ignore[return-value]


# --------------------------------------------------------------------------- expansion


def test_a_block_used_three_times_is_the_layers_written_out() -> None:
    blocked = spec(
        "    dense_block(16)\n    dense_block(8, rate=0.25)\n    dense_block(4)\n    Dense(1)",
        "block dense_block(units, rate = 0.5) {\n"
        "  Dense(units, activation=relu)\n  Dropout(rate)\n}\n",
    )
    by_hand = spec(
        "    dense_block_dense = Dense(16, activation=relu)\n"
        "    dense_block_dropout = Dropout(0.5)\n"
        "    dense_block_1_dense = Dense(8, activation=relu)\n"
        "    dense_block_1_dropout = Dropout(0.25)\n"
        "    dense_block_2_dense = Dense(4, activation=relu)\n"
        "    dense_block_2_dropout = Dropout(0.5)\n"
        "    Dense(1)"
    )
    assert without_spans(checked(blocked)) == without_spans(checked(by_hand))


def test_repeat_and_repeat_argument_unroll_the_same() -> None:
    a = checked(spec("    repeat 3 { Dense(4) }\n    Dense(1)"))
    b = checked(spec("    Dense(4, repeat=3)\n    Dense(1)"))
    c = checked(spec("    Dense(4)\n    Dense(4)\n    Dense(4)\n    Dense(1)"))
    assert without_spans(a) == without_spans(b) == without_spans(c)
    assert [layer.name for layer in a.layers] == ["dense", "dense_1", "dense_2", "dense_3"]


def test_nested_blocks_and_named_use_sites_name_their_layers() -> None:
    model = checked(
        spec(
            "    repeat 2 { pair(4) }\n    top = pair(2)\n    h = Dense(3, repeat=2)\n    Dense(1)",
            "block one(n) { Dense(n) }\nblock pair(n) {\n  one(n)\n  x2 = one(n * 2)\n}\n",
        )
    )
    assert [layer.name for layer in model.layers] == [
        "pair_one_dense", "pair_x2_dense", "pair_1_one_dense", "pair_1_x2_dense",
        "top_one_dense", "top_x2_dense", "h", "h_1", "dense",
    ]  # fmt: skip
    assert [layer.output_shape for layer in model.layers][:2] == [(4,), (8,)]


def test_generated_names_skip_names_the_model_took() -> None:
    model = checked(
        spec("    b(4)\n    b_dense = Dense(2)\n    Dense(1)", "block b(n) { Dense(n) }\n")
    )
    names = [layer.name for layer in model.layers]
    assert len(set(names)) == len(names) and "b_dense" in names


def test_defaults_may_use_earlier_parameters_and_names_pass_through() -> None:
    model = checked(
        spec(
            "    wide(4)\n    Dense(1)",
            "block wide(n, m = n * 3, act = relu) { Dense(m, activation=act) }\n",
        )
    )
    assert model.layers[0].output_shape == (12,)
    assert model.layers[0].params.activation == "relu"  # type: ignore[attr-defined]


def test_tensor_arguments_are_mapped_to_instance_names() -> None:
    source = spec(
        "    a = Dense(4)\n    b = Dense(4)\n    j = pick()(b, a)\n    Dense(1)",
        "block pick()(x, y) {\n  Dense(2)(y)\n  Dense(3)(x)\n}\n",
    )
    spec_file = parse(source, "<spec>", Diagnostics())
    assert spec_file is not None
    from netspec.expand import expand

    expanded, ok = expand(spec_file, Diagnostics())
    assert ok
    layers = [s for s in expanded.layers or [] if isinstance(s, ir.LayerStmt)]
    reads = {s.name: [i.name for i in s.inputs or []] for s in layers}
    assert reads["j_dense"] == ["a"] and reads["j_dense_1"] == ["b"]


# --------------------------------------------------------------------------- arithmetic


def test_arithmetic_folds_everywhere_a_number_is_allowed() -> None:
    model = checked(
        spec("    Dense(2 * (3 + 1))\n    Dropout(1 / 4)\n    Dense(7 // 2 - 2)", input="2 * 4")
    )
    assert model.inputs[0].shape == (8,)
    assert [layer.output_shape for layer in model.layers] == [(8,), (8,), (1,)]
    assert model.layers[1].params.rate == 0.25  # type: ignore[attr-defined]


def test_integer_arithmetic_stays_integer_and_slash_is_float() -> None:
    _, diagnostics = check_source(spec("    Dense(8 / 2)"))
    (d,) = list(diagnostics)
    assert d.code == "E0113" and "got 4.0" in d.message


_numbers = st.integers(min_value=-1000, max_value=1000)


@given(_numbers, _numbers, _numbers, st.sampled_from(["+", "-", "*", "//"]))
def test_expressions_evaluate_like_python(a: int, b: int, c: int, op: str) -> None:
    from netspec.expand import evaluate
    from netspec.parse import parse_value

    text = f"({a}) {op} {b} * ({c})" if op != "//" or b * c != 0 else f"{a} {op} 1"
    diagnostics = Diagnostics()
    value = parse_value(text, "<expr>", diagnostics)
    assert value is not None
    folded = evaluate(value, {}, diagnostics)
    assert isinstance(folded, ir.Literal) and not diagnostics.has_errors
    assert folded.value == eval(text)
    assert type(folded.value) is int


@given(st.integers(min_value=-50, max_value=50), st.integers(min_value=1, max_value=50))
def test_division_gives_a_float(a: int, b: int) -> None:
    from netspec.expand import evaluate
    from netspec.parse import parse_value

    diagnostics = Diagnostics()
    value = parse_value(f"{a} / {b}", "<expr>", diagnostics)
    folded = evaluate(value, {}, diagnostics)  # type: ignore[arg-type]
    assert isinstance(folded, ir.Literal) and folded.value == a / b
    assert isinstance(folded.value, float)


# --------------------------------------------------------------------------- if

_RESIDUAL = """
block residual(filters, stride = 1, in_filters = 4)(x) {
  Conv2D(filters, 3, strides=stride, padding=same)(x)
  y = BatchNormalization
  if stride > 1 or in_filters != filters {
    shortcut = Conv2D(filters, 1, strides=stride)(x)
  } else {
    shortcut = Identity()(x)
  }
  Add()(y, shortcut)
}
"""


def test_if_chooses_a_branch_per_instance() -> None:
    model = checked(
        spec("    residual(4)\n    residual(8, stride=2)\n    residual(8, in_filters=8)",
             _RESIDUAL, input="8, 8, 4")
    )
    by_name = {layer.name: layer for layer in model.layers}
    assert by_name["residual_shortcut"].kind == "Identity"
    assert by_name["residual_1_shortcut"].kind == "Conv2D"
    assert by_name["residual_2_shortcut"].kind == "Identity"
    assert by_name["residual_shortcut"].inputs == ["input"]
    assert by_name["residual_1_add"].inputs == ["residual_1_y", "residual_1_shortcut"]
    assert by_name["residual_1_add"].output_shape == (4, 4, 8)
    assert by_name["residual_2_add"].inputs == ["residual_2_y", "residual_2_shortcut"]


def test_else_if_and_nested_ifs_pick_one_statement() -> None:
    blocks = (
        "block pick(n) {\n"
        "  if n < 0 { Dense(1) } else if n == 0 { Dense(2) }\n"
        "  else if n <= 10 and not (n == 5) {\n"
        "    if n >= 8 { Dense(3) } else { Dense(4) }\n"
        "  } else { Dense(5) }\n"
        "}\n"
    )
    model = checked(spec("\n".join(f"    pick({n})" for n in (-1, 0, 9, 2, 5, 12)), blocks))
    assert [layer.params.units for layer in model.layers] == [1, 2, 3, 4, 5, 5]


def test_an_if_without_else_may_leave_out_its_statements() -> None:
    blocks = "block maybe(n, drop = false) {\n  Dense(n)\n  if drop { Dropout(0.5) }\n}\n"
    model = checked(spec("    maybe(4)\n    maybe(2, drop=true)", blocks))
    assert [layer.kind for layer in model.layers] == ["Dense", "Dense", "Dropout"]


def test_an_if_in_layers_compares_numbers_and_names() -> None:
    model = checked(spec('    if 2 * 3 == 6 and "a" != "b" { Dense(3) } else { Dense(4) }'))
    assert model.layers[0].params.units == 3
    blocks = 'block act(a = relu) {\n  if a == "relu" { Dense(1) } else { Dense(2) }\n}\n'
    model = checked(spec("    act\n    act(a=tanh)", blocks))
    assert [layer.params.units for layer in model.layers] == [1, 2]


def test_equality_keeps_booleans_apart_from_numbers() -> None:
    model = checked(spec("    if true == 1 or none == 0 { Dense(3) } else { Dense(4) }"))
    assert model.layers[0].params.units == 4


@given(
    st.integers(-5, 5),
    st.integers(-5, 5),
    st.sampled_from(["==", "!=", "<", ">", "<=", ">="]),
    st.sampled_from(["and", "or"]),
)
def test_conditions_evaluate_like_python(a: int, b: int, op: str, joiner: str) -> None:
    from netspec.expand import evaluate
    from netspec.parse import parse_value

    text = f"not {a} {op} {b} {joiner} {b} {op} {a}"
    diagnostics = Diagnostics()
    value = parse_value(text, "<expr>", diagnostics)
    folded = evaluate(value, {}, diagnostics)  # type: ignore[arg-type]
    assert isinstance(folded, ir.Literal) and folded.value is eval(text), text


def test_a_name_from_one_branch_is_not_visible_after_the_if() -> None:
    blocks = "block r(n, p = true)(x) {\n  if p { s = Dense(n)(x) }\n  Dense(n)(s)\n}\n"
    _, diagnostics = check_source(spec("    r(4)", blocks))
    (d,) = list(diagnostics)
    assert d.code == "E0177" and d.span.line == 3 and "if branch" in d.message


def test_a_condition_that_is_not_a_boolean_is_reported_at_its_span() -> None:
    source = spec("    b(3)", "block b(n) {\n  if n + 1 { Dense(n) }\n}\n")
    _, diagnostics = check_source(source)
    (d,) = list(diagnostics)
    assert d.code == "E0175" and (d.span.line, d.span.column, d.span.end_column) == (2, 6, 11)
    assert "the number 4" in d.message and d.related


# --------------------------------------------------------------------------- diagnostics


def test_an_error_in_one_instance_names_that_use_site() -> None:
    source = spec(
        "    squeeze(2)\n    squeeze(8)\n    squeeze(1)\n    Flatten\n    Dense(1)",
        "block squeeze(size) {\n  MaxPooling2D(size)\n}\n",
        input="8, 8, 1",
    )
    _, diagnostics = check_source(source, "<spec>")
    (d,) = list(diagnostics)
    assert d.code == "E0202" and d.span.line == 2  # the layer in the block
    (note,) = d.related
    assert note.span.line == source.split("\n").index("    squeeze(8)") + 1
    assert "'squeeze_1'" in note.message
    text = render_text(d, source)
    assert "note: in block 'squeeze' used here" in text and text.count("^") >= 2


def test_the_same_error_in_every_instance_is_one_diagnostic_naming_each() -> None:
    source = spec("    bad(1)\n    bad(2)\n    Dense(1)", "block bad(n) { Dense(n, activaton=relu) }\n")
    _, diagnostics = check_source(source)
    (d,) = list(diagnostics)
    assert d.code == "E0105" and len(d.related) == 2


def test_json_lists_related_notes() -> None:
    path = HERE / "errors" / "block_error_in_one_use.net"
    result = CliRunner().invoke(app, ["check", "--format", "json", str(path)])
    (item,) = json.loads(result.stdout)
    (note,) = item["related"]
    assert set(note) == {"file", "line", "column", "end_line", "end_column", "message"}
    assert note["file"] == str(path) and "squeeze" in note["message"]


def test_imports_resolve_relative_to_the_importing_file(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "a.net").write_text('use "b.net"\nblock a(n) { b(n) }\n')
    (tmp_path / "lib" / "b.net").write_text("block b(n) { Dense(n, activaton=relu) }\n")
    main = tmp_path / "main.net"
    main.write_text(spec("    a(4)\n    Dense(1)", 'use "lib/a.net"\n'))
    model, diagnostics, sources = check_file(main)
    assert model is None
    (d,) = list(diagnostics)
    assert d.span.file.endswith("b.net") and d.code == "E0105"
    assert [n.span.file for n in d.related] == [str(tmp_path / "lib" / "a.net"), str(main)]
    assert isinstance(sources, dict) and set(sources) == {str(main), *(n.span.file for n in d.related), d.span.file}
    assert "Dense(n, activaton=relu)" in render_text(d, sources)


def test_an_import_cycle_lists_the_chain(tmp_path: Path) -> None:
    (tmp_path / "a.net").write_text('use "b.net"\nblock a(n) { Dense(n) }\n')
    (tmp_path / "b.net").write_text('use "a.net"\nblock b(n) { Dense(n) }\n')
    main = tmp_path / "main.net"
    main.write_text(spec("    a(4)", 'use "a.net"\n'))
    _, diagnostics, _ = check_file(main)
    (d,) = list(diagnostics)
    assert d.code == "E0161" and d.span.file == str(tmp_path / "b.net")
    assert d.message.count("→") == 2 and "a.net → " in d.message


def test_an_imported_file_is_parsed_once(tmp_path: Path) -> None:
    (tmp_path / "common.net").write_text("block c(n) { Dense(n) }\n")
    (tmp_path / "x.net").write_text('use "common.net"\nblock x(n) { c(n) }\n')
    (tmp_path / "y.net").write_text('use "common.net"\nblock y(n) { c(n) }\n')
    main = tmp_path / "main.net"
    main.write_text(spec("    x(4)\n    y(2)", 'use "x.net"\nuse "y.net"\n'))
    model, diagnostics, _ = check_file(main)
    assert model is not None, list(diagnostics)
    assert [layer.name for layer in model.layers] == ["x_c_dense", "y_c_dense"]


def test_a_library_with_a_model_is_a_syntax_error(tmp_path: Path) -> None:
    (tmp_path / "lib.net").write_text(spec("    Dense(1)"))
    main = tmp_path / "main.net"
    main.write_text(spec("    Dense(1)", 'use "lib.net"\n'))
    _, diagnostics, _ = check_file(main)
    (d,) = list(diagnostics)
    assert d.code == "E0160" and d.span.file == str(main) and d.span.line == 1
    assert "only 'use' lines and block definitions" in (d.hint or "")


SECRET = "SECRET-7f3a"


@pytest.mark.parametrize(
    "text", [f"root:x:0:0:{SECRET}:/root:/bin/bash\n", f"block b(n) {{\n  Dense(n {SECRET}=1)\n}}\n"]
)
def test_an_import_that_does_not_parse_is_named_not_quoted(tmp_path: Path, text: str) -> None:
    (tmp_path / "lib.net").write_text(text)
    main = tmp_path / "main.net"
    main.write_text(spec("    Dense(1)", 'use "lib.net"\n'))
    result = CliRunner().invoke(app, ["check", str(main)])
    assert result.exit_code == 1 and SECRET not in result.stdout + result.stderr
    assert "E0160" in result.stderr
    (d,) = list(check_file(main)[1])
    line = text.count("\n", 0, text.index(SECRET)) + 1
    assert (d.code, d.span.file, d.span.line) == ("E0160", str(main), 1)
    assert f"cannot import {tmp_path / 'lib.net'}: it does not parse" in d.message
    assert f"line {line}," in d.message and f"netspec check {tmp_path / 'lib.net'}" in (d.hint or "")


# --------------------------------------------------------------------------- trainable


def test_trainable_false_freezes_an_instance() -> None:
    model = checked(
        spec("    base = cb(4, trainable=false)\n    Dense(1)",
             "block cb(n) {\n  Dense(n)\n  BatchNormalization\n}\n")
    )
    frozen = [layer for layer in model.layers if not layer.trainable]
    assert [layer.name for layer in frozen] == ["base_dense", "base_batch_normalization"]
    assert all(layer.trainable_params == 0 for layer in frozen)
    assert model.non_trainable_params == 8 * 4 + 4 + 4 * 4
    keras_code = generate(model, "keras")
    unfrozen = generate(checked(spec("    Dense(1)")), "keras")
    assert keras_code.count("trainable=False") == unfrozen.count("trainable=False") + 2
    torch_code = generate(model, "torch")
    assert "self.base_dense.requires_grad_(False)" in torch_code
    assert "self.base_batch_normalization.eval()" in torch_code


def test_trainable_must_be_a_boolean() -> None:
    _, diagnostics = check_source(spec("    Dense(1, trainable=1)"))
    assert [d.code for d in diagnostics] == ["E0113"]


def test_frozen_torch_layers_get_no_gradient() -> None:
    torch = pytest.importorskip("torch")
    model = checked(spec("    Dense(4, trainable=false)\n    Dense(1)"))
    namespace: dict[str, object] = {}
    exec(compile(generate(model, "torch"), "<generated>", "exec"), namespace)
    net = namespace["build_model"]()  # type: ignore[operator]
    frozen = sum(p.numel() for p in net.parameters() if not p.requires_grad)
    assert frozen == model.non_trainable_params == 8 * 4 + 4
    net(torch.zeros(2, 8)).sum().backward()
    assert net.dense.weight.grad is None and net.dense_1.weight.grad is not None


# --------------------------------------------------------------------------- golden code


@pytest.mark.parametrize("target", ["keras", "torch"])
def test_block_fixture_matches_golden(target: str, update_golden: bool) -> None:
    model, diagnostics, _ = check_file(FIXTURE)
    assert model is not None, list(diagnostics)
    code = generate(model, target)
    path = GOLDEN / f"small_resnet.{target}.py"
    if update_golden:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(code, encoding="utf-8")
        return
    assert path.read_text(encoding="utf-8") == code, "run pytest --update-golden and review"


def test_residual_blocks_wire_their_shortcut() -> None:
    model, diagnostics, _ = check_file("tests/blocks/residual_graph.net")
    assert model is not None, list(diagnostics)
    by_name = {layer.name: layer for layer in model.layers}
    assert by_name["residual_s"].inputs == ["conv_bn_batch_normalization"]
    assert by_name["residual_add"].inputs == ["residual_c_batch_normalization", "residual_s"]
    assert by_name["residual_1_h_conv2d"].inputs == ["residual_add"]
    assert by_name["r_s"].output_shape == (16, 16, 32)
    assert model.outputs == [model.layers[-1].name]


# --------------------------------------------------------------------------- block paths


def test_each_checked_layer_carries_its_block_instances_outermost_first() -> None:
    source = spec(
        "    repeat 2 { pair(4) }\n    top = pair(2)\n    h = Dense(3)\n    Dense(1)",
        "block one(n) { Dense(n) }\nblock pair(n) {\n  one(n)\n  x2 = one(n * 2)\n}\n",
    )
    model = checked(source)
    paths = {layer.name: [(use.name, use.block) for use in layer.blocks] for layer in model.layers}
    assert paths == {
        "pair_one_dense": [("pair", "pair"), ("pair_one", "one")],
        "pair_x2_dense": [("pair", "pair"), ("pair_x2", "one")],
        "pair_1_one_dense": [("pair_1", "pair"), ("pair_1_one", "one")],
        "pair_1_x2_dense": [("pair_1", "pair"), ("pair_1_x2", "one")],
        "top_one_dense": [("top", "pair"), ("top_one", "one")],
        "top_x2_dense": [("top", "pair"), ("top_x2", "one")],
        "h": [],
        "dense": [],
    }
    lines = source.splitlines()
    outer, inner = model.layers[4].blocks  # top's: the model's use, then the block's
    assert lines[outer.span.line - 1][outer.span.column - 1 :].startswith("pair(2)")
    assert lines[inner.span.line - 1][inner.span.column - 1 :].startswith("one(n)")
    # the same instance is one object in each of its layers' paths
    assert model.layers[4].blocks[0] is model.layers[5].blocks[0]


def test_the_layers_of_one_instance_share_one_path_and_dumps_leave_it_out() -> None:
    model = checked(spec("    b(4)\n    Dense(1)", "block b(n) { Dense(n) Dense(n) Dropout(0.5) }\n"))
    first, second, third, last = model.layers
    assert first.blocks and first.blocks is second.blocks is third.blocks  # not a copy each
    assert last.blocks == ()
    assert all("blocks" not in layer for layer in model.model_dump(mode="json")["layers"])
