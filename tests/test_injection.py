"""Generated code is code execution: a hostile spec yields inert code or a diagnostic.

Strings from a spec may reach a generated module only as string constants; names from a spec
only as names the grammar and the checker allow. The tests compare each module generated from
a hostile spec with the one generated from a benign twin: once their string constants are
blanked out, the two syntax trees must be identical, so the hostile text changed no code.
"""

from __future__ import annotations

import ast
import json
import keyword
import math
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT
from hypothesis import example, given, settings
from hypothesis import strategies as st

from netspec import ir
from netspec.catalogue.base import PyCall
from netspec.codegen import TARGETS, generate
from netspec.codegen.writer import (
    UnsafeValue,
    Writer,
    call,
    camel_case,
    identifier,
    literal,
    string,
)
from netspec.diagnostics import Severity
from netspec.frontend import check_file, check_source

HOSTILE = [
    'a"); import os; os.system("x") #.npz',
    "'",
    '"',
    "\n",
    "\r\n",
    '""" ',
    "'''",
    "\\",
    "C:\\data\\",
    "__import__('os').system('echo pwned')",
    "'); __import__('os').system('echo pwned'); ('",
    '"); __import__("os").system("echo pwned"); ("',
    "\\'; exec('x') #",
    "x\n# comment\nimport os\nos.system('echo pwned')\n",
    "{x}{m}{0}{{}}",
    "é ü ß 漢字 🙂 \u2028 \u2029 \x85 \x0c \x7f \t",  # NUL is refused by check (E0182)
    '"\'"\'\\\\\\"',
]

SPEC = """model m {{
  input [4]
  layers {{
    Dense(3, activation=softmax)
  }}
  loss categorical_crossentropy
  optimizer Adam
  metrics [accuracy]
  train {{ data = {data} }}
}}
"""

# Calls no generated module makes: builtins by bare name, and attributes by name.
FORBIDDEN_CALLS = {"__import__", "eval", "exec", "compile", "open", "getattr", "setattr",
                   "breakpoint", "input", "globals", "locals", "vars", "system", "popen"}  # fmt: skip


def _compile(source: str, file: str = "<spec>") -> ir.Model:
    model, diagnostics = check_source(source, file)
    errors = [d.message for d in diagnostics if d.severity is Severity.ERROR]
    assert model is not None, errors
    return model


def _blank_strings(tree: ast.AST) -> str:
    """The tree's dump with every string constant replaced by the same placeholder.

    It changes `tree`: pass a tree parsed for it alone.
    """

    class Blank(ast.NodeTransformer):
        def visit_Constant(self, node: ast.Constant) -> ast.Constant:
            if isinstance(node.value, str):
                return ast.copy_location(ast.Constant("<str>"), node)
            return node

    return ast.dump(Blank().visit(tree))


def _train_dict(tree: ast.Module) -> dict[str, Any]:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "TRAIN" for t in node.targets
        ):
            value = ast.literal_eval(node.value)
            assert isinstance(value, dict)
            return value
    raise AssertionError("no TRAIN = {...} in the generated module")


def _strings_in(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings_in(k), *_strings_in(v))]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in _strings_in(v)]
    return []


def _called_names(tree: ast.AST) -> set[str]:
    """Bare names called (`exec(...)`), and attributes called on `os`/`subprocess`/anything
    named system or popen (`model.compile()` and `model.eval()` are the generator's own)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name):
                names.add(func.id)
            elif isinstance(func, ast.Attribute) and (
                func.attr in ("system", "popen", "__import__")
                or (isinstance(func.value, ast.Name) and func.value.id in ("os", "subprocess"))
            ):
                names.add(func.attr)
    return names


def _assert_inert(hostile_code: str, benign_code: str, payloads: list[str]) -> ast.Module:
    tree = ast.parse(hostile_code)
    assert _blank_strings(ast.parse(hostile_code)) == _blank_strings(ast.parse(benign_code)), (
        "the spec's text changed the structure of the generated code"
    )
    assert not (_called_names(tree) & FORBIDDEN_CALLS)
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    assert "os" not in names and "__import__" not in names
    # every payload is a string constant, whole, and no other constant holds a piece of it
    constants = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)]
    for payload in payloads:
        assert payload in constants
        if len(payload) > 3:
            partial = [c for c in constants if isinstance(c, str) and payload in c and c != payload]
            assert not partial, partial
    return tree


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("payload", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_data_path_is_a_string_constant(payload: str, target: str) -> None:
    hostile = _compile(SPEC.format(data=f"npz({json.dumps(payload)}, x={json.dumps(payload)})"))
    benign = _compile(SPEC.format(data='npz("data.npz", x="inputs")'))
    code = generate(hostile, target)
    tree = _assert_inert(code, generate(benign, target), [payload])

    train = _train_dict(tree)
    assert train["data"]["kind"] == "npz"
    assert train["data"]["params"]["path"] == payload
    assert train["data"]["params"]["x"] == payload
    assert _strings_in(train).count(payload) == 2


@pytest.mark.parametrize("target", TARGETS)
def test_hostile_csv_and_idx_arguments(target: str) -> None:
    payload = HOSTILE[0]
    for data, benign_data in [
        (f"csv({json.dumps(payload)}, target={json.dumps(payload)})", 'csv("a.csv", target="y")'),
        (f"idx({json.dumps(payload)})", 'idx("folder")'),
    ]:
        hostile = generate(_compile(SPEC.format(data=data)), target)
        benign = generate(_compile(SPEC.format(data=benign_data)), target)
        tree = _assert_inert(hostile, benign, [payload])
        assert payload in _strings_in(_train_dict(tree))


@pytest.mark.parametrize(
    "file",
    [
        "evil'\nimport os\nos.system('echo pwned')\n#.net",
        "evil\"\"\"\n'''.net",
        "evil\\\r\n\u2028\x85.net",
        "evil\udcff.net",  # a byte that was not UTF-8, as os.fsdecode gives it
    ],
    ids=["quote-newline", "triple-quotes", "backslash-cr", "surrogate"],
)
@pytest.mark.parametrize("target", TARGETS)
def test_hostile_spec_path_stays_in_the_header_comment(file: str, target: str) -> None:
    source = SPEC.format(data="digits")
    code = generate(_compile(source, file), target)
    benign = generate(_compile(source, "model.net"), target)
    assert _blank_strings(ast.parse(code)) == _blank_strings(ast.parse(benign))
    header = code.split("\n", 1)[0]
    assert header.startswith("# Generated by netspec") and repr(file) in header
    assert code.count("\n") == benign.count("\n"), "the path added no line"
    code.encode("utf-8")  # writable as a UTF-8 file


@pytest.mark.parametrize("target", TARGETS)
def test_spec_file_named_with_quotes_and_newline(tmp_path: Path, target: str) -> None:
    name = 'it\'s a\n"spec".net'
    try:
        path = tmp_path / name
        path.write_text(SPEC.format(data="digits"), encoding="utf-8")
    except OSError:  # pragma: no cover - a filesystem that refuses such names
        pytest.skip("the filesystem refuses quotes or newlines in file names")
    model, diagnostics, _ = check_file(path)
    assert model is not None, [d.message for d in diagnostics]
    code = generate(model, target)
    tree = ast.parse(code)
    assert code.split("\n", 1)[0].endswith("; edit the spec, not this file.")
    assert repr(str(path)) in code.split("\n", 1)[0]
    benign = generate(_compile(SPEC.format(data="digits"), "model.net"), target)
    assert _blank_strings(tree) == _blank_strings(ast.parse(benign))


@pytest.mark.parametrize(
    "source",
    [
        # model names that try to be Python
        "model os.system('x') { }",
        "model m(); import os; m { }",
        'model "m" { }',
        "model __import__('os') { }",
        "model m\nimport os\n{ }",
        # layer names that try to be Python
        "model m { input [4] layers { os.system = Dense(3) } }",
        "model m { input [4] layers { x; import os = Dense(3) } }",
        'model m { input [4] layers { "name" = Dense(3) } }',
        "model m { input [4] layers { a-b = Dense(3) } }",
        'model m { input [4] layers { Dense(3, name="x\'); import os") } }',
        "model m { input [4] layers { __import__('os').system('x') } }",
        "model m { input [4] layers { Dense(3)(x) } }",
        "model m { loss __import__('os') }",
        'model m { train { data = npz("a") + "b" } }',
        'model m { train { data = npz("a", **kw) } }',
        'model m { train { data = npz("a")\nimport os } }',
        'model m { train { data = npz("a\nb") } }',
        "model m { train { data = npz('a') } }",
    ],
)
def test_hostile_syntax_is_refused(source: str) -> None:
    model, diagnostics = check_source(source)
    assert model is None
    assert [d.code for d in diagnostics if d.severity is Severity.ERROR]


HOSTILE_LAYER_NAMES = ["__import__", "_x", "eval", "exec_", "forward", "self", "x", "torch", "nn",
                       "keras", "layers", "inputs", "class", "import", "lambda", "None", "True",
                       "def", "__class__", "parameters", "state_dict", "to", "super_"]  # fmt: skip


@pytest.mark.parametrize("name", HOSTILE_LAYER_NAMES)
def test_layer_names_are_refused_or_inert(name: str) -> None:
    source = (
        f"model m {{ input [4] layers {{ {name} = Dense(3, activation=softmax) }} "
        "loss categorical_crossentropy optimizer Adam }"
    )
    model, diagnostics = check_source(source)
    if model is None:
        assert any(d.code in ("E0121", "E0001") for d in diagnostics)
        return
    assert name.isidentifier() and not keyword.iskeyword(name) and not name.startswith("_")
    benign = _compile(source.replace(f"{name} =", "hidden ="))
    for target in TARGETS:
        code = generate(model, target)
        tree = ast.parse(code)
        benign_code = generate(benign, target).replace("hidden", name)
        assert ast.dump(tree) == ast.dump(ast.parse(benign_code))


HOSTILE_TENSOR_NAMES = [*HOSTILE_LAYER_NAMES, "tf", "math", "ops", "np", "F", "sum", "zip",
                        "total_loss", "losses", "weights", "image", "build_model"]  # fmt: skip


@pytest.mark.parametrize("name", HOSTILE_TENSOR_NAMES)
@pytest.mark.parametrize("role", ["input", "layer"])
def test_tensor_names_are_refused_or_inert(name: str, role: str) -> None:
    """A graph's tensor names become Python variables (and forward's arguments): each is
    refused, or generates the very code a plain name does, so it can shadow nothing."""
    if role == "input":
        source = (
            f"model m {{ input {name} [4] input other [4] layers {{ a = Dense(3)({name}) "
            f"b = Dense(3)(other) c = Add()(a, b) d = Dense(2)(c) e = Dense(1)(c) }} "
            "output [d, e] loss { d = mse, e = mse } optimizer Adam }"
        )
    else:
        source = (
            f"model m {{ input [4] layers {{ {name} = Dense(3)(input) b = Dense(3)(input) "
            f"c = Concatenate()({name}, b) d = Dense(2)(c) e = Dense(1)({name}) }} "
            "output [d, e] loss { d = mse, e = mse } optimizer Adam }"
        )
    model, diagnostics = check_source(source)
    if model is None:
        assert any(d.code in ("E0121", "E0001") for d in diagnostics), [
            d.message for d in diagnostics
        ]
        return
    benign = _compile(re.sub(rf"\b{re.escape(name)}\b", "hidden", source))
    for target in TARGETS:
        tree = ast.parse(generate(model, target))
        benign_code = re.sub(r"\bhidden\b", name, generate(benign, target))
        assert ast.dump(tree) == ast.dump(ast.parse(benign_code)), (name, target)


def _top_level_names(code: str) -> list[str]:
    names: list[str] = []
    for node in ast.parse(code).body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names += [(a.asname or a.name).split(".")[0] for a in node.names]
        elif isinstance(node, ast.Assign):
            names += [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.append(node.name)
    return names


def test_model_names_never_shadow_what_the_module_defines() -> None:
    """A model named like anything the module defines still gets a class of its own."""
    base = (
        "model {name} {{ input [4] layers {{ LSTM(4) }} loss binary_crossentropy optimizer Adam }}"
    )
    source = base.replace("LSTM(4)", "Reshape([2, 2]) LSTM(4) Dense(1, activation=sigmoid)")
    candidates = set()
    for target in TARGETS:
        candidates |= set(_top_level_names(generate(_compile(source.format(name="m")), target)))
    candidates |= {"none", "true", "false", "None", "True", "False", "_1abc", "_", "__", "Model"}
    for name in sorted(candidates):
        for target in TARGETS:
            model, diagnostics = check_source(source.format(name=name))
            if model is None:
                assert diagnostics.has_errors
                continue
            code = generate(model, target)
            names = _top_level_names(code)
            duplicates = sorted({n for n in names if names.count(n) > 1})
            assert not duplicates, (name, target, duplicates)


def test_layer_padding_modules_never_clash_with_layer_names() -> None:
    source = """model m {
      input [8, 8, 1]
      layers {
        c = Conv2D(4, 2, padding=same)
        c_pad = Conv2D(4, 1)
        p = MaxPooling2D(3, strides=2, padding=same)
        p_pad = Flatten
        pad_c = Dense(3, activation=softmax)
      }
      loss categorical_crossentropy
      optimizer Adam
    }"""
    tree = ast.parse(generate(_compile(source), "torch"))
    init = next(
        n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "__init__"
    )
    attributes = [
        t.attr
        for n in init.body
        if isinstance(n, ast.Assign)
        for t in n.targets
        if isinstance(t, ast.Attribute)
    ]
    assert len(attributes) == len(set(attributes)), attributes


# --------------------------------------------------------------------------- the writer

plain = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(exclude_categories=())),  # surrogates included
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(inner, max_size=4).map(tuple)
        | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=15,
)


def _same(a: Any, b: Any) -> bool:
    """Equal with the same types all the way down (1 is not True, (1,) is not [1])."""
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, float):
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    return bool(a == b)


@settings(max_examples=200, deadline=None)
@given(plain)
@example(float("-0.0"))
@example((1,))
@example(())
@example(("\"'", "\\", "\n\r\t\x00\u2028\ud800", '"""', "'''"))
@example(1e308)
@example(5e-324)
@example(10**400)
def test_literal_round_trips(value: Any) -> None:
    text = literal(value)
    assert "\n" not in text and "\r" not in text, "a literal is one line"
    assert _same(ast.literal_eval(text), value)
    # as the right-hand side of an assignment it is one constant expression, nothing else
    node = ast.parse(f"X = {text}").body[0]
    assert isinstance(node, ast.Assign)
    assert not any(isinstance(n, (ast.Call, ast.Name, ast.Attribute)) for n in ast.walk(node.value))


@settings(max_examples=200, deadline=None)
@given(st.text(st.characters(exclude_categories=())))
@example("it's")
@example('say "hi"')
@example("\\'")
@example('\\"')
def test_string_is_a_double_quoted_literal(text: str) -> None:
    quoted = string(text)
    assert quoted.startswith('"') and quoted.endswith('"')
    assert ast.literal_eval(quoted) == text
    (statement,) = ast.parse(quoted).body
    assert isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant)


@pytest.mark.parametrize(
    "value", [float("nan"), float("inf"), float("-inf"), [1.0, float("nan")], {"a": float("inf")}]
)
def test_literal_refuses_non_finite_numbers(value: Any) -> None:
    with pytest.raises(UnsafeValue):
        literal(value)


@pytest.mark.parametrize("value", [object(), b"bytes", {True: 2}, {("a",): 1}, {1, 2}, 1j, Path("x")])
def test_literal_refuses_other_types(value: Any) -> None:
    with pytest.raises(UnsafeValue):
        literal(value)


@pytest.mark.parametrize(
    "name",
    [
        "a b",
        "class",
        "None",
        "True",
        "1a",
        "",
        "a.b",
        "a-b",
        "a;b",
        "a\n",
        "é",
        "x()",
        "__import__('os')",
    ],
)
def test_identifier_refuses(name: str) -> None:
    with pytest.raises(UnsafeValue):
        identifier(name)


@settings(max_examples=150, deadline=None)
@given(st.from_regex(r"[A-Za-z_][A-Za-z0-9_]*", fullmatch=True))
def test_identifier_accepts_names_and_camel_case_always_gives_one(name: str) -> None:
    if keyword.iskeyword(name):
        with pytest.raises(UnsafeValue):
            identifier(name)
    else:
        assert identifier(name) == name
    class_name = camel_case(name)
    assert class_name.isidentifier() and not keyword.iskeyword(class_name)
    assert re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", class_name)


def test_calls_refuse_unsafe_names() -> None:
    for func in ["os.system('x'); f", "f()", "a b", "", "a..b", ".a"]:
        with pytest.raises(UnsafeValue):
            call(PyCall(func))
    with pytest.raises(UnsafeValue):
        call(PyCall("f", (), {"a=1, b": 2}))
    with pytest.raises(UnsafeValue):
        call(PyCall("f", (), {"class": 2}))
    assert (
        call(PyCall("nn.Linear", (3, "x\n'"), {"bias": True}))
        == 'nn.Linear(3, "x\\n\'", bias=True)'
    )


def test_docstrings_are_netspec_text_only() -> None:
    w = Writer()
    for text in ['a """ b', "back\\slash"]:
        with pytest.raises(UnsafeValue):
            w.docstring(text)


@settings(max_examples=100, deadline=None)
@given(
    st.text(
        st.characters(exclude_categories=("Cs",), exclude_characters="\x00"),  # NUL: E0182
        min_size=1, max_size=20,
    )
)
def test_any_data_path_round_trips_through_both_generators(payload: str) -> None:
    model, diagnostics = check_source(SPEC.format(data=f"npz({json.dumps(payload)})"))
    assert model is not None, [d.message for d in diagnostics]
    for target in TARGETS:
        train = _train_dict(ast.parse(generate(model, target)))
        assert train["data"]["params"]["path"] == payload


# --------------------------------------------------------------------------- the parser cache


class _Planted:
    """Unpickling this creates `marker`: what a file planted in the cache folder could run."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


@pytest.fixture
def fresh_parser(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """The parser built anew with the cache folder under `tmp_path` (and after the test with
    the usual one)."""
    from netspec import parse

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    parse._parser.cache_clear()
    yield parse
    parse._parser.cache_clear()


def test_a_file_planted_in_the_parser_cache_runs_nothing(fresh_parser: Any, tmp_path: Path) -> None:
    """The cache holds data that loads without running code: a pickle planted under every
    name in the cache folder (those netspec wrote, and Lark's pickle name) is never unpickled,
    and specs still check."""
    import pickle

    import lark

    assert check_file(ROOT / "specs" / "mnist_mlp.net")[0] is not None  # writes its cache
    folder = tmp_path / "cache" / "netspec"
    marker = tmp_path / "marker"
    planted = b"0" * 64 + b"\n" + pickle.dumps(_Planted(marker)) + pickle.dumps(_Planted(marker))
    for path in [*folder.iterdir(), folder / f"parser-lark-{lark.__version__}.pickle"]:
        path.write_bytes(planted)
    fresh_parser._parser.cache_clear()
    model, diagnostics, _ = check_file(ROOT / "specs" / "mnist_mlp.net")
    assert not marker.exists()
    assert model is not None, [d.message for d in diagnostics]


def test_the_parser_loads_from_its_cache_and_parses_alike(
    fresh_parser: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once written, the cache file gives the parser without building it (the ~50 ms it
    saves), and that parser reads every spec, and every syntax error, as the built one."""
    from netspec import parser_cache

    built = fresh_parser._parser()
    assert parser_cache.cache_path() is not None
    fresh_parser._parser.cache_clear()

    class NoBuild(parser_cache.Lark):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            raise AssertionError("the parser was built again, not loaded from the cache")

    monkeypatch.setattr(parser_cache, "Lark", NoBuild)
    loaded = fresh_parser._parser()
    for spec in sorted((ROOT / "specs").glob("*.net")):
        text = spec.read_text(encoding="utf-8")
        tree = loaded.parse(text, start="start")
        assert tree == built.parse(text, start="start"), spec
        assert _positions(tree) == _positions(built.parse(text, start="start")), spec
    for broken in ["model m { input x: [3] layers { Dense(10 } }", "model { }", "model m { ]"]:
        with pytest.raises(Exception) as from_built:
            built.parse(broken, start="start")
        with pytest.raises(Exception) as from_loaded:
            loaded.parse(broken, start="start")
        assert str(from_loaded.value) == str(from_built.value)


def _positions(tree: Any) -> list[tuple[int, int, int, int]]:
    """Where each node of a syntax tree starts and ends (spans in diagnostics come from them)."""
    return [
        (t.meta.line, t.meta.column, t.meta.end_line, t.meta.end_column)
        for t in tree.iter_subtrees()
        if not t.meta.empty
    ]


def test_a_cache_folder_others_may_write_is_not_used(fresh_parser: Any, tmp_path: Path) -> None:
    from netspec import parser_cache

    folder = tmp_path / "cache" / "netspec"
    folder.mkdir(parents=True)
    folder.chmod(0o777)
    assert parser_cache.cache_path() is None
    assert check_file(ROOT / "specs" / "mnist_mlp.net")[0] is not None
    assert list(folder.iterdir()) == []


def test_a_generated_module_runs_from_its_text_not_from_the_file_or_a_pyc(tmp_path: Path) -> None:
    """What runs is the text netspec generated, even if the file changed after it was written;
    no bytecode cache is written beside it (nor read: a planted .pyc never runs)."""
    from netspec.train.context import load_module

    path = tmp_path / "model.py"
    path.write_text("WHO = 'changed since'\n", encoding="utf-8")
    module = load_module(path, "from_text", "WHO = 'netspec'\n")
    assert module.WHO == "netspec"
    assert module.__file__ == str(path)
    assert not (tmp_path / "__pycache__").exists()
