"""The `netspec` command line: check, summary, compile, schema, exit statuses and imports."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, SPEC_IDS, SPECS, checked_model, generated_source, spec_name
from typer.testing import CliRunner

from netspec import __version__, catalogue
from netspec.catalogue.shapes import fmt
from netspec.cli import app

DIAGNOSTIC_KEYS = {
    "file", "line", "column", "end_line", "end_column", "severity", "code", "message", "hint",
    "related",
}

# Line 4 misspells `activation`: E0105 at 4:15, under `activaton`.
BROKEN_SPEC = """\
model broken {
  input [28, 28, 1]
  layers {
    Dense(10, activaton=relu)
  }
  loss      categorical_crossentropy
  optimizer Adam
}
"""


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    path = tmp_path / "broken.net"
    path.write_text(BROKEN_SPEC, encoding="utf-8")
    return path


@pytest.fixture
def in_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run from the repository root, so specs are named as `specs/NAME.net`."""
    monkeypatch.chdir(ROOT)


def flow(stem: str) -> str:
    """What `check` prints of a model: a chain on one line, a graph one line per layer."""
    model = checked_model(stem)
    if not model.is_chain:
        lines = ["inputs: " + ", ".join(f"{i.name} {fmt(i.shape)}" for i in model.inputs)]
        lines += [f"{x.name} {fmt(x.output_shape)} ← {', '.join(x.inputs)}" for x in model.layers]
        outputs = ", ".join(f"{o} {fmt(model.shape_of(o))}" for o in model.outputs)
        return "\n  ".join([*lines, f"outputs: {outputs}"])
    steps = [f"input {fmt(model.inputs[0].shape)}"]
    steps += [f"{layer.name} {fmt(layer.output_shape)}" for layer in model.layers]
    return " → ".join(steps)


# --------------------------------------------------------------------------- check


@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
def test_check_accepts_every_seed_spec(runner: CliRunner, spec: Path) -> None:
    result = runner.invoke(app, ["check", str(spec)])
    assert result.exit_code == 0, result.output
    model = checked_model(spec.stem)
    total = model.trainable_params + model.non_trainable_params
    assert f"ok, model {model.name}, {total:,} parameters" in result.stdout
    assert flow(spec.stem) in result.stdout
    assert "error" not in result.stderr


def test_check_prints_the_shape_flow(runner: CliRunner, in_repo_root: None) -> None:
    result = runner.invoke(app, ["check", "specs/mnist_mlp.net"])
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "specs/mnist_mlp.net: ok, model mnist_mlp, 203,530 parameters\n"
        "  input [28, 28, 1] → flatten [784] → dense [256] → dense_1 [10]\n"
    )


def test_check_several_files(runner: CliRunner) -> None:
    result = runner.invoke(app, ["check", *map(str, SPECS)])
    assert result.exit_code == 0, result.output
    assert result.stdout.count(": ok, model ") == len(SPECS)


def test_check_reports_an_error_like_a_compiler(runner: CliRunner, broken: Path) -> None:
    result = runner.invoke(app, ["check", str(broken)])
    assert result.exit_code == 1
    err = result.stderr
    assert f"{broken}:4:15: error[E0105]: Dense has no parameter 'activaton'" in err
    assert "   4 |     Dense(10, activaton=relu)" in err
    assert "     |               ^^^^^^^^^\n" in err
    assert "hint: did you mean 'activation'?" in err
    assert result.stdout == ""


def test_check_keeps_going_after_a_broken_file(runner: CliRunner, broken: Path) -> None:
    good = ROOT / "specs" / "mnist_mlp.net"
    result = runner.invoke(app, ["check", str(broken), str(good)])
    assert result.exit_code == 1
    assert "ok, model mnist_mlp" in result.stdout
    assert "error[E0105]" in result.stderr


def test_check_json_diagnostics(runner: CliRunner, broken: Path) -> None:
    result = runner.invoke(app, ["check", "--format", "json", str(broken)])
    assert result.exit_code == 1
    diagnostics = json.loads(result.stdout)
    assert isinstance(diagnostics, list)
    assert diagnostics
    for diagnostic in diagnostics:
        assert set(diagnostic) == DIAGNOSTIC_KEYS
    first = diagnostics[0]
    assert first == {
        "file": str(broken),
        "line": 4,
        "column": 15,
        "end_line": 4,
        "end_column": 24,
        "severity": "error",
        "code": "E0105",
        "message": "Dense has no parameter 'activaton'",
        "hint": "did you mean 'activation'?",
        "related": [],
    }
    assert result.stderr == ""


def test_check_json_of_a_valid_spec_is_an_empty_list(runner: CliRunner) -> None:
    result = runner.invoke(app, ["check", "-f", "json", str(SPECS[0])])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == []


def test_check_missing_file_exits_2(runner: CliRunner, tmp_path: Path) -> None:
    missing = tmp_path / "nope.net"
    result = runner.invoke(app, ["check", str(missing)])
    assert result.exit_code == 2
    assert f"{missing}:1:1: error[E0002]" in result.stderr
    assert "hint:" in result.stderr


def test_check_missing_file_json(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["check", "-f", "json", str(tmp_path / "nope.net")])
    assert result.exit_code == 2
    [diagnostic] = json.loads(result.stdout)
    assert diagnostic["code"] == "E0002"
    assert set(diagnostic) == DIAGNOSTIC_KEYS


def test_unknown_option_exits_2(runner: CliRunner) -> None:
    result = runner.invoke(app, ["check", "--no-such-option", str(SPECS[0])])
    assert result.exit_code == 2
    assert "--no-such-option" in result.stderr


def test_missing_argument_exits_2(runner: CliRunner) -> None:
    for command in (["check"], ["summary"], ["compile", "-t", "torch"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 2, command


def test_unknown_target_exits_2(runner: CliRunner) -> None:
    result = runner.invoke(app, ["compile", str(SPECS[0]), "-t", "jax"])
    assert result.exit_code == 2


# --------------------------------------------------------------------------- check --emit-ir


def _schema(runner: CliRunner) -> dict[str, Any]:
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_schema_is_a_json_schema(runner: CliRunner) -> None:
    schema = _schema(runner)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["type"] == "object"
    assert {"Layer", "Loss", "Optimizer", "DenseParams"} <= set(schema["$defs"])


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(_refs(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(value) for value in node))
    return set()


def test_schema_refs_all_resolve(runner: CliRunner) -> None:
    schema = _schema(runner)
    refs = _refs(schema)
    assert refs
    dangling = sorted(r for r in refs if r.removeprefix("#/$defs/") not in schema["$defs"])
    assert not dangling, f"$refs to no definition: {dangling}"


@pytest.mark.parametrize("stem", SPEC_IDS)
def test_emit_ir_matches_the_schema(runner: CliRunner, stem: str) -> None:
    result = runner.invoke(app, ["check", "--emit-ir", str(ROOT / spec_name(stem))])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    schema = _schema(runner)
    try:
        import jsonschema
    except ImportError:
        pass
    else:
        jsonschema.validate(data, schema)

    defs = schema["$defs"]
    assert set(data) == set(schema["properties"])
    assert set(schema.get("required", [])) <= set(data)
    assert data["name"] == stem
    model = checked_model(stem)
    if model.is_chain:  # each layer reads the one before it
        names = ["input", *(layer["name"] for layer in data["layers"])]
        assert [layer["inputs"] for layer in data["layers"]] == [[name] for name in names[:-1]]
    assert [layer["inputs"] for layer in data["layers"]] == [x.inputs for x in model.layers]
    for layer in data["layers"]:
        assert set(layer) == set(defs["Layer"]["properties"])
        entry = catalogue.lookup("layer", layer["kind"])
        assert entry is not None
        # Every hyper-parameter is written out, defaults included.
        params_schema = defs[entry.Params.__name__]
        assert set(layer["params"]) == set(params_schema.get("properties", {})), layer["kind"]
        if layer["kind"] == "Dense":
            assert layer["params"]["kernel_initializer"] == "glorot_uniform"
            assert layer["params"]["bias_initializer"] == "zeros"
            assert layer["params"]["use_bias"] is True
    called = [*((loss, "loss") for loss in data["losses"]), (data["optimizer"], "optimizer")]
    if data["train"]["data"] is not None:
        called.append((data["train"]["data"], "data"))
    for node, family in called:
        entry = catalogue.lookup(family, node["kind"])
        assert entry is not None, (family, node["kind"])
        properties = defs[entry.Params.__name__].get("properties", {})
        assert set(node["params"]) == set(properties), (family, node["kind"])
    shapes = {layer["name"]: layer["output_shape"] for layer in data["layers"]}
    assert data["outputs"] == model.outputs
    assert [shapes[name] for name in data["outputs"]] == [list(model.shape_of(o)) for o in model.outputs]


# --------------------------------------------------------------------------- summary


@pytest.mark.parametrize(("stem", "total"), [("mnist_mlp", "203,530"), ("mnist_cnn", "93,322")])
def test_summary_table(runner: CliRunner, stem: str, total: str) -> None:
    result = runner.invoke(app, ["summary", str(ROOT / spec_name(stem))])
    assert result.exit_code == 0, result.output
    assert f"Total params: {total}" in result.stdout
    assert f"Trainable params: {total}" in result.stdout
    assert "Non-trainable params: 0" in result.stdout
    for layer in checked_model(stem).layers:
        assert f"{layer.name} ({layer.kind})" in result.stdout


def test_summary_json(runner: CliRunner) -> None:
    result = runner.invoke(app, ["summary", "--format", "json", str(ROOT / "specs/mnist_mlp.net")])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["model"] == "mnist_mlp"
    assert data["input"] == [28, 28, 1]
    assert data["total_params"] == 203_530
    assert data["trainable_params"] == 203_530
    assert data["non_trainable_params"] == 0
    assert [layer["name"] for layer in data["layers"]] == ["flatten", "dense", "dense_1"]
    assert [layer["params"] for layer in data["layers"]] == [0, 200_960, 2_570]
    assert sum(layer["params"] for layer in data["layers"]) == data["total_params"]


def test_summary_of_a_broken_spec_exits_1(runner: CliRunner, broken: Path) -> None:
    result = runner.invoke(app, ["summary", str(broken)])
    assert result.exit_code == 1
    assert "error[E0105]" in result.stderr
    assert result.stdout == ""


# --------------------------------------------------------------------------- compile


@pytest.mark.parametrize("target", ["keras", "torch"])
def test_compile_to_stdout(runner: CliRunner, in_repo_root: None, target: str) -> None:
    result = runner.invoke(app, ["compile", "specs/mnist_cnn.net", "--target", target])
    assert result.exit_code == 0, result.output
    assert result.stdout == generated_source("mnist_cnn", target)
    assert result.stderr == ""


def test_compile_to_a_file(runner: CliRunner, in_repo_root: None, tmp_path: Path) -> None:
    output = tmp_path / "out" / "model.py"
    args = ["compile", "specs/mnist_mlp.net", "-t", "torch", "-o", str(output)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert output.read_text(encoding="utf-8") == generated_source("mnist_mlp", "torch")
    assert result.stdout == ""
    assert f"wrote {output}" in result.stderr


def test_compile_a_broken_spec_writes_nothing(
    runner: CliRunner, broken: Path, tmp_path: Path
) -> None:
    output = tmp_path / "model.py"
    result = runner.invoke(app, ["compile", str(broken), "-t", "keras", "-o", str(output)])
    assert result.exit_code == 1
    assert not output.exists()
    assert "error[E0105]" in result.stderr


# --------------------------------------------------------------------------- misc


def test_version(runner: CliRunner) -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"netspec {__version__}"


def test_help_lists_the_commands(runner: CliRunner) -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("check", "summary", "compile", "schema"):
        assert command in result.stdout


def test_the_cli_never_imports_a_framework() -> None:
    """check, summary, compile (both targets), schema and --help leave torch/keras unloaded."""
    script = textwrap.dedent(
        """
        import json, sys, tempfile
        from pathlib import Path
        from typer.testing import CliRunner
        from netspec.cli import app

        spec = "specs/mnist_cnn.net"
        out = Path(tempfile.mkdtemp())
        runs = [
            (["--help"], 0),
            (["--version"], 0),
            (["check", spec], 0),
            (["check", "--emit-ir", spec], 0),
            (["check", "-f", "json", spec], 0),
            (["summary", spec], 0),
            (["summary", "-f", "json", spec], 0),
            (["compile", spec, "-t", "torch"], 0),
            (["compile", spec, "-t", "keras"], 0),
            (["compile", spec, "-t", "torch", "-o", str(out / "t.py")], 0),
            (["compile", spec, "-t", "keras", "-o", str(out / "k.py")], 0),
            (["schema"], 0),
            (["fmt", "--check", spec], 0),
        ]
        runner = CliRunner()
        failures = []
        for args, status in runs:
            result = runner.invoke(app, args)
            if result.exit_code != status:
                failures.append([args, result.exit_code, result.output, repr(result.exception)])
        frameworks = sorted(
            name for name in sys.modules
            if name.split(".")[0] in ("torch", "tensorflow", "keras", "onnx", "onnxruntime")
        )
        print(json.dumps({"failures": failures, "frameworks": frameworks}))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["failures"] == []
    assert report["frameworks"] == []


# --------------------------------------------------------------------------- text as written

MARKUP = ":x: [bold]b[/bold] :thumbs_up:"  # rich would print ❌, a bold b and 👍


@pytest.mark.parametrize("colour", ["0", "1"])  # plain, and through rich's console
def test_a_diagnostic_quotes_the_spec_as_written(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, colour: str
) -> None:
    import re

    monkeypatch.setenv("TTY_COMPATIBLE", colour)
    path = tmp_path / "m.net"
    path.write_text(BROKEN_SPEC.replace("activaton=relu", f'activation="{MARKUP}"'))
    result = runner.invoke(app, ["summary", str(path)])
    err = re.sub(r"\x1b\[[0-9;]*m", "", result.stderr)
    assert result.exit_code == 1
    assert f"{path}:4:26: error[E0104]: Dense: unknown activation '{MARKUP}'\n" in err
    assert f'   4 |     Dense(10, activation="{MARKUP}")\n' in err
    assert "     | " + " " * 25 + "^" * (len(MARKUP) + 2) + "\n" in err  # under the string


def test_an_error_line_prints_a_path_as_written(runner: CliRunner, tmp_path: Path) -> None:
    name = MARKUP.replace("/", "")  # a file name: [bold] with no closing tag
    folder = tmp_path / f"run {name}"
    folder.mkdir()
    (folder / "spec.net").write_text("")  # a run's file: the folder holds a run
    spec = ROOT / "specs" / "mnist_mlp.net"
    result = runner.invoke(app, ["train", str(spec), "-o", str(folder)])
    assert f"error: {folder} holds a run already (spec.net)" in result.stderr
    missing = tmp_path / f"{name}.safetensors"
    result = runner.invoke(app, ["weights", "convert", str(spec), str(missing), "-o", "x"])
    assert result.stderr == f"error: {missing} does not exist\n"
