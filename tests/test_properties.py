"""Property tests: valid stacks check with the right shapes, mutated specs never crash the
compiler, and the parser reads values back exactly.

Shapes and parameter counts are computed here independently of netspec's catalogue.
"""

from __future__ import annotations

import ast
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from netspec import ir
from netspec.codegen import generate
from netspec.diagnostics import Diagnostic, Diagnostics, Severity, render_text
from netspec.frontend import check_source
from netspec.parse import parse

ROOT = Path(__file__).resolve().parent.parent
SEEDS = {
    path.name: path.read_text(encoding="utf-8")
    for path in [
        *sorted((ROOT / "specs").glob("*.net")),
        *sorted((ROOT / "tests" / "errors").glob("*.net")),
    ]
}

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ACTIVATIONS = ["linear", "relu", "sigmoid", "tanh", "gelu", "elu", "selu", "softplus", "silu"]


# --------------------------------------------------------------------------- (a) valid stacks


@dataclass
class Expected:
    text: str
    output_shape: tuple[int, ...]
    params: int


def _window(n: int, k: int, s: int, d: int, padding: str) -> int:
    if padding == "same":
        return math.ceil(n / s)
    return (n - ((k - 1) * d + 1)) // s + 1


def _dense(draw: st.DrawFn, shape: tuple[int, ...], last: bool = False) -> Expected:
    units = draw(st.integers(2, 12)) if last else draw(st.integers(1, 64))
    activation = "softmax" if last else draw(st.sampled_from(ACTIVATIONS))
    use_bias = True if last else draw(st.booleans())
    args = [f"units={units}" if draw(st.booleans()) else str(units)]
    if activation != "linear" or draw(st.booleans()):
        args.append(f"activation={activation}")
    if not use_bias:
        args.append("use_bias=false")
    params = shape[-1] * units + (units if use_bias else 0)
    return Expected(f"Dense({', '.join(args)})", (*shape[:-1], units), params)


@st.composite
def flat_layer(draw: st.DrawFn, shape: tuple[int, ...]) -> Expected:
    kind = draw(st.sampled_from(["Dense", "Dropout", "Activation"]))
    if kind == "Dense":
        return _dense(draw, shape)
    if kind == "Dropout":
        rate = draw(st.sampled_from(["0", "0.0", "0.1", "0.25", "5e-1", "0.99"]))
        return Expected(f"Dropout({rate})", shape, 0)
    activation = draw(st.sampled_from(ACTIVATIONS))
    return Expected(f"Activation({activation})", shape, 0)


def _pair_text(draw: st.DrawFn, pair: tuple[int, int]) -> str:
    if pair[0] == pair[1] and draw(st.booleans()):
        return str(pair[0])
    return f"[{pair[0]}, {pair[1]}]"


@st.composite
def image_layer(draw: st.DrawFn, shape: tuple[int, int, int]) -> Expected | None:
    """A Conv2D or MaxPooling2D that fits `shape`, or None when nothing fits."""
    h, w, c = shape
    padding = draw(st.sampled_from(["valid", "same"]))
    strides = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    if draw(st.booleans()):  # Conv2D
        dilation = (1, 1)
        if padding == "valid" and draw(st.integers(0, 4)) == 0:
            dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
            strides = (1, 1)  # Keras refuses strides > 1 with dilation > 1
        limit_h = (h - 1) // dilation[0] + 1 if padding == "valid" else 5
        limit_w = (w - 1) // dilation[1] + 1 if padding == "valid" else 5
        kernel = (draw(st.integers(1, min(limit_h, 5))), draw(st.integers(1, min(limit_w, 5))))
        filters = draw(st.integers(1, 16))
        use_bias = draw(st.booleans())
        args = [str(filters), _pair_text(draw, kernel)]
        if strides != (1, 1):
            args.append(f"strides={_pair_text(draw, strides)}")
        if padding == "same" or draw(st.booleans()):
            args.append(f"padding={padding}")
        if dilation != (1, 1):
            args.append(f"dilation_rate={_pair_text(draw, dilation)}")
        if not use_bias:
            args.append("use_bias=false")
        args.append(f"activation={draw(st.sampled_from(ACTIVATIONS))}")
        out = (
            _window(h, kernel[0], strides[0], dilation[0], padding),
            _window(w, kernel[1], strides[1], dilation[1], padding),
            filters,
        )
        params = kernel[0] * kernel[1] * c * filters + (filters if use_bias else 0)
        return Expected(f"Conv2D({', '.join(args)})", out, params)
    if padding == "valid" and (h < 1 or w < 1):
        return None
    limit_h, limit_w = (h, w) if padding == "valid" else (4, 4)
    pool = (draw(st.integers(1, min(limit_h, 4))), draw(st.integers(1, min(limit_w, 4))))
    args = [_pair_text(draw, pool)]
    pool_strides = pool
    if draw(st.booleans()):
        pool_strides = strides
        args.append(f"strides={_pair_text(draw, strides)}")
    if padding == "same" or draw(st.booleans()):
        args.append(f"padding={padding}")
    out = (
        _window(h, pool[0], pool_strides[0], 1, padding),
        _window(w, pool[1], pool_strides[1], 1, padding),
        c,
    )
    return Expected(f"MaxPooling2D({', '.join(args)})", out, 0)


def _render(input_shape: tuple[int, ...], layers: list[Expected], sep: str) -> str:
    body = sep.join(layer.text for layer in layers)
    return (
        "# generated\nmodel generated {\n"
        f"  input [{', '.join(map(str, input_shape))}]\n"
        f"  layers {{\n    {body}\n  }}\n"
        "  loss categorical_crossentropy\n"
        "  optimizer Adam(lr=1e-3)\n"
        "  metrics [accuracy]\n"
        "  train { epochs = 1, batch_size = 8 }\n"
        "}\n"
    )


@st.composite
def stack_with_input(draw: st.DrawFn) -> tuple[tuple[int, ...], list[Expected]]:
    layers: list[Expected] = []
    if draw(st.booleans()):
        input_shape: tuple[int, ...] = (draw(st.integers(1, 200)),)
        shape = input_shape
        for _ in range(draw(st.integers(0, 5))):
            layer = draw(flat_layer(shape))
            layers.append(layer)
            shape = layer.output_shape
    else:
        input_shape = (draw(st.integers(1, 32)), draw(st.integers(1, 32)), draw(st.integers(1, 4)))
        shape = input_shape
        for _ in range(draw(st.integers(0, 4))):
            layer = draw(image_layer(shape))  # type: ignore[arg-type]
            if layer is None:
                break
            layers.append(layer)
            shape = layer.output_shape
        layers.append(Expected("Flatten", (math.prod(shape),), 0))
        shape = layers[-1].output_shape
        for _ in range(draw(st.integers(0, 2))):
            layer = draw(flat_layer(shape))
            layers.append(layer)
            shape = layer.output_shape
    layers.append(_dense(draw, shape, last=True))
    return input_shape, layers


@PROPERTY
@given(stack_with_input(), st.sampled_from(["\n    ", " ", "\n\n    # a comment\n    "]))
def test_valid_stacks_infer_shapes_and_parameter_counts(
    stack: tuple[tuple[int, ...], list[Expected]], sep: str
) -> None:
    input_shape, layers = stack
    text = _render(input_shape, layers, sep)
    model, diagnostics = check_source(text, "generated.net")
    errors = [d for d in diagnostics if d.severity is Severity.ERROR]
    assert not errors, "\n".join(render_text(d, text) for d in errors)
    assert model is not None
    assert model.inputs[0].shape == input_shape
    assert len(model.layers) == len(layers)
    previous = input_shape
    for got, want in zip(model.layers, layers, strict=True):
        assert got.input_shape == previous, want.text
        assert got.output_shape == want.output_shape, want.text
        assert got.trainable_params == want.params, want.text
        assert got.non_trainable_params == 0
        previous = got.output_shape
    assert model.output_shape == layers[-1].output_shape
    assert model.trainable_params == sum(layer.params for layer in layers)
    assert len({layer.name for layer in model.layers}) == len(layers), "names are unique"


# --------------------------------------------------------------------------- (b) mutations

INSERTABLE = list("{}()[],=#\"'\\-+.:;@$ \t\n") + list("aZ_e019") + ["true", "é", "\u2028", "\r"]
_NUMBER = re.compile(r"(?<![A-Za-z_0-9.])[+-]?\d+(?:\.\d*)?(?:[eE][+-]?\d+)?")
_TOKEN = re.compile(
    r"[A-Za-z_][A-Za-z0-9_]*|[+-]?\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\"(?:[^\"\\\n]|\\.)*\"|\S"
)

NEW_NUMBERS = st.one_of(
    st.integers(-(10**6), 10**6).map(str),
    st.sampled_from(["-1", "0", "-0.0", "1e999", "-1e999", "1e-320", "99999999999999999999999",
                     "1" * 400, "2.5E+4", "0.5", "1.", ".5", "3.0", "1e308", "-7", "+3"]),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
)  # fmt: skip


@st.composite
def mutation(draw: st.DrawFn, text: str) -> str:
    kind = draw(st.sampled_from(["delete", "insert", "duplicate", "swap", "number"]))
    if kind == "delete" and text:
        i = draw(st.integers(0, len(text) - 1))
        return text[:i] + text[i + 1 :]
    if kind == "insert":
        i = draw(st.integers(0, len(text)))
        return text[:i] + draw(st.sampled_from(INSERTABLE)) + text[i:]
    if kind == "duplicate":
        tokens = list(_TOKEN.finditer(text))
        if tokens:
            m = draw(st.sampled_from(tokens))
            return text[: m.end()] + " " + m.group() + text[m.end() :]
    if kind == "swap":
        lines = text.split("\n")
        i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
        lines[i], lines[j] = lines[j], lines[i]
        return "\n".join(lines)
    numbers = list(_NUMBER.finditer(text))
    if numbers:
        m = draw(st.sampled_from(numbers))
        return text[: m.start()] + draw(NEW_NUMBERS) + text[m.end() :]
    return text


@st.composite
def mutated_spec(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(sorted(SEEDS.values())))
    for _ in range(draw(st.integers(1, 4))):
        text = draw(mutation(text))
    return text


def _assert_within(text: str, line: int, column: int) -> None:
    lines = text.split("\n")  # Lark counts lines by '\n' alone
    assert 1 <= line <= len(lines), (line, len(lines))
    assert 1 <= column <= len(lines[line - 1]) + 1, (line, column, lines[line - 1])


def _assert_caret_under_span(d: Diagnostic, text: str) -> None:
    """The rendered carets sit under exactly the text the span covers."""
    rendered = render_text(d, text).split("\n")
    assert rendered[0].startswith(f"mutated.net:{d.span.line}:{d.span.column}: ")
    line = text.split("\n")[d.span.line - 1].rstrip("\r")
    if d.span.end_line != d.span.line or d.span.end_column == d.span.column or "\t" in line:
        return
    shown, carets = rendered[1], rendered[2]
    start, width = carets.index("^"), carets.count("^")
    assert shown[start : start + width] == line[d.span.column - 1 : d.span.end_column - 1]


def assert_robust(text: str) -> None:
    model, diagnostics = check_source(text, "mutated.net")
    items = list(diagnostics)
    if model is None:
        assert any(d.severity is Severity.ERROR for d in items), "no model but no error"
    else:
        assert not any(d.severity is Severity.ERROR for d in items)
    for d in items:
        assert d.message.strip()
        _assert_within(text, d.span.line, d.span.column)
        _assert_within(text, d.span.end_line, d.span.end_column)
        assert (d.span.end_line, d.span.end_column) >= (d.span.line, d.span.column)
        _assert_caret_under_span(d, text)
    if model is not None:  # what checks also compiles, to Python that parses
        for target in ("keras", "torch"):
            ast.parse(generate(model, target))


@PROPERTY
@given(mutated_spec())
@example("")
@example("model")
@example("model m {")
@example("model m { input [" + "9" * 5000 + "] }")
@example("model m { layers { Dense(" + "9" * 5000 + ") } }")
@example('model m { train { data = npz("\\q") } }')
@example("model m {\r  input [1]\r  layers { Dense(1) }\r  loss mse\r  optimizer SGD\r")
@example("model m {\n}\n\n\n")
@example("model m { input [1e999] }")
@example("model m { layers { Dense(3) Dense(3) } metrics accuracy metrics [acc] }")
def test_mutated_specs_never_crash(text: str) -> None:
    assert_robust(text)


# --------------------------------------------------------------------------- (c) values

_KEYWORDS = {"model", "input", "layers", "loss", "optimizer", "metrics", "train", "true", "false",
             "output", "loss_weights",
             "none"}  # fmt: skip

names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True).filter(
    lambda n: n not in _KEYWORDS
)


@dataclass(frozen=True)
class Num:
    """A number as written in a spec, with the value it must parse to."""

    text: str
    value: int | float


@st.composite
def numbers(draw: st.DrawFn) -> Num:
    sign = draw(st.sampled_from(["", "-", "+"]))
    digits = draw(st.from_regex(r"[0-9]{1,6}", fullmatch=True))
    form = draw(st.sampled_from(["int", "decimal", "exp", "decimal_exp", "leading_dot"]))
    if form == "int":
        text = sign + digits
        return Num(text, int(text))
    exponent = f"{draw(st.sampled_from('eE'))}{draw(st.sampled_from(['', '+', '-']))}"
    exponent += str(draw(st.integers(0, 30)))
    fraction = draw(st.from_regex(r"[0-9]{0,4}", fullmatch=True))
    text = {
        "decimal": f"{sign}{digits}.{fraction}",
        "exp": f"{sign}{digits}{exponent}",
        "decimal_exp": f"{sign}{digits}.{fraction}{exponent}",
        "leading_dot": f"{sign}.{digits}",
    }[form]
    return Num(text, float(text))


@dataclass(frozen=True)
class Sym:
    name: str


def _values(leaf: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(leaf, lambda inner: st.lists(inner, max_size=4), max_leaves=12)


leaves = st.one_of(
    numbers(),
    st.booleans(),
    st.none(),
    st.text(alphabet=st.characters(exclude_characters="\x00"), max_size=12),  # NUL: E0182
    names.map(Sym),
)
values = _values(leaves)


@st.composite
def spacing(draw: st.DrawFn) -> str:
    return draw(st.sampled_from(["", " ", "\n", "  \n\t", " # comment ]\n", "\n# , ) }\n  "]))


@st.composite
def render_value(draw: st.DrawFn, value: Any) -> str:
    if isinstance(value, Num):
        return value.text
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=draw(st.booleans()))
    if isinstance(value, Sym):
        return value.name
    items = [draw(spacing()) + draw(render_value(v)) + draw(spacing()) for v in value]
    trailing = "," if items and draw(st.booleans()) else ""
    return "[" + ",".join(items) + trailing + draw(spacing()) + "]"


def expected_python(value: Any) -> Any:
    if isinstance(value, Num):
        return value.value
    if isinstance(value, Sym):
        return ("symbol", value.name)
    if isinstance(value, list):
        return [expected_python(v) for v in value]
    return value


def as_python(node: ir.Value) -> Any:
    if isinstance(node, ir.Literal):
        return node.value
    if isinstance(node, ir.Symbol):
        return ("symbol", node.name)
    assert isinstance(node, ir.ListValue), node
    return [as_python(item) for item in node.items]


def _same(got: Any, want: Any) -> bool:
    """Equal, and of the same type (1 is not 1.0, True is not 1)."""
    if isinstance(want, list):
        return isinstance(got, list) and len(got) == len(want) and all(map(_same, got, want))
    return type(got) is type(want) and got == want


def _parse(text: str) -> ir.SpecFile:
    diagnostics = Diagnostics()
    spec = parse(text, "values.net", diagnostics)
    assert spec is not None and not len(diagnostics), [d.message for d in diagnostics]
    return spec


@PROPERTY
@given(values.flatmap(lambda v: st.tuples(st.just(v), render_value(v))))
@example((Num("1e-3", 0.001), "1e-3"))
@example((Num("2.5E+4", 25000.0), "2.5E+4"))
@example((Num("-7", -7), "-7"))
@example(
    (
        'a "quoted" \\ back\nslash\t\u00e9\u2028',
        '"a \\"quoted\\" \\\\ back\\nslash\\t\\u00e9\u2028"',
    )
)
@example(([[1, [True, None]], []], "[[1, [true, none]], []]"))
def test_values_parse_to_python(case: tuple[Any, str]) -> None:
    value, text = case
    want = expected_python(value)
    spec = _parse(f"model m {{\n  train {{ key = {text} }}\n}}\n")
    assert spec.train is not None
    (setting,) = spec.train
    assert setting.key == "key"
    got = as_python(setting.value)
    assert _same(got, want), (text, got, want)

    spec = _parse(f"model m {{ layers {{ Layer({text}, k={text}) }} }}")
    assert spec.layers is not None
    (statement,) = spec.layers
    positional, keyword = statement.call.args
    assert _same(as_python(positional.value), want)
    assert keyword.keyword == "k" and _same(as_python(keyword.value), want)


def test_numbers_keep_their_type() -> None:
    cases = {"1e-3": 0.001, "2.5E+4": 25000.0, "-7": -7, "+3": 3, "1.": 1.0, ".5": 0.5,
             "007": 7, "1E3": 1000.0, "-0": 0, "9223372036854775807": 9223372036854775807}  # fmt: skip
    for text, want in cases.items():
        spec = _parse(f"model m {{ train {{ v = {text} }} }}")
        assert spec.train is not None
        got = as_python(spec.train[0].value)
        assert _same(got, want), (text, got)


@settings(max_examples=100, deadline=None)
@given(
    st.text(
        alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters="\x00"),
        max_size=30,
    )
)
def test_any_string_round_trips(text: str) -> None:
    spec = _parse(f"model m {{ train {{ s = {json.dumps(text)} }} }}")
    assert spec.train is not None
    assert as_python(spec.train[0].value) == text


# --------------------------------------------------------------------------- (d) graphs


@st.composite
def shuffled_dags(draw: st.DrawFn) -> tuple[list[tuple[str, list[str]]], list[int]]:
    """A random DAG of Dense layers (each reads 1-3 earlier tensors, merged by Add) and an
    order to write its statements in."""
    count = draw(st.integers(1, 12))
    nodes: list[tuple[str, list[str]]] = []
    for i in range(count):
        earlier = ["input"] + [f"t{j}" for j in range(i)]
        reads = draw(st.lists(st.sampled_from(earlier), min_size=1, max_size=3, unique=True))
        nodes.append((f"t{i}", reads))
    order = draw(st.permutations(range(count)))
    return nodes, list(order)


@given(shuffled_dags())
@settings(max_examples=60, deadline=None)
def test_graph_statements_in_any_order_give_one_topological_model(dag) -> None:
    """However the statements of a DAG are ordered, the checked model is the same graph,
    ordered so each layer follows what it reads; nothing is lost or invented."""
    nodes, order = dag
    statements = []
    for index in order:
        name, reads = nodes[index]
        if len(reads) == 1:
            statements.append(f"{name} = Dense(2)({reads[0]})")
        else:  # the merge of several reads, then the Dense
            statements.append(f"{name}_sum = Add()({', '.join(reads)})")
            statements.append(f"{name} = Dense(2)({name}_sum)")
    text = (
        "model m { input [2] layers { " + " ".join(statements) + " } "
        f"output {nodes[-1][0]} loss mse optimizer SGD }}"
    )
    model, diagnostics = check_source(text)
    assert model is not None, [d.message for d in diagnostics]
    seen = {"input"}
    for layer in model.layers:
        assert set(layer.inputs) <= seen
        seen.add(layer.name)
    # exactly the layers the output depends on survive, each Dense with 2·2 + 2 weights
    needed, stack = set(), [nodes[-1][0]]
    reads_of = dict(nodes)
    while stack:
        name = stack.pop()
        if name in needed or name == "input":
            continue
        needed.add(name)
        stack.extend(reads_of[name])
    dense = [layer for layer in model.layers if layer.kind == "Dense"]
    assert {layer.name for layer in dense} == needed
    assert model.trainable_params == 6 * len(needed)
