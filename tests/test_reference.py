"""`netspec layers` and docs/language.md's reference tables, both rendered from the catalogue."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import ROOT
from typer.testing import CliRunner

from netspec import catalogue, reference
from netspec.catalogue.base import FAMILIES
from netspec.cli import app

LANGUAGE_MD = ROOT / "docs" / "language.md"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


# --------------------------------------------------------------------------- generated docs


def test_language_md_tables_are_the_catalogue() -> None:
    """Fails when the catalogue changes and docs/language.md was not regenerated."""
    text = LANGUAGE_MD.read_text(encoding="utf-8")
    assert reference.regions(text), "docs/language.md has no generated regions"
    assert reference.regenerate(text) == text, (
        "docs/language.md is stale: run python -m netspec.reference --write docs/language.md"
    )


def test_language_md_documents_every_layer() -> None:
    text = LANGUAGE_MD.read_text(encoding="utf-8")
    assert reference.undocumented(text) == []
    headings = {line[4:] for line in text.splitlines() if line.startswith("### ")}
    for kind in ("GRU", "BatchNormalization", "Embedding", "AveragePooling2D",
                 "GlobalAveragePooling2D", "Add", "Concatenate", "LayerNormalization"):
        assert kind in headings
    missing = [e.kind for e in catalogue.entries("layer") if e.kind not in headings]
    assert missing == []


@pytest.mark.parametrize(
    ("region", "names"),
    [
        ("losses", catalogue.names("loss", include_aliases=False)),
        ("activations", catalogue.names("activation", include_aliases=False)),
        ("initializers", catalogue.names("initializer", include_aliases=False)),
        ("metrics", catalogue.names("metric", include_aliases=False)),
        ("schedules", catalogue.names("schedule", include_aliases=False)),
        ("data", catalogue.names("data", include_aliases=False)),
        ("optimizers", catalogue.names("optimizer", include_aliases=False)),
    ],
)
def test_each_family_table_names_every_entry(region: str, names: list[str]) -> None:
    rendered = reference.render_region(region)
    assert [n for n in names if f"`{n}`" not in rendered and f"### {n}" not in rendered] == []


def test_check_mode_reports_a_stale_file(tmp_path: Path) -> None:
    stale = tmp_path / "language.md"
    text = LANGUAGE_MD.read_text(encoding="utf-8")
    stale.write_text(text.replace("| `units` | int > 0 |", "| `units` | int |", 1), encoding="utf-8")
    assert reference.main([str(stale), "--check"]) == 1
    assert reference.main([str(stale), "--write"]) == 0
    assert stale.read_text(encoding="utf-8") == text
    assert reference.main([str(stale), "--check"]) == 0


def test_a_file_without_a_region_for_some_layers_is_refused(tmp_path: Path) -> None:
    partial = tmp_path / "partial.md"
    partial.write_text("<!-- generated: layers core -->\n<!-- end generated -->\n", encoding="utf-8")
    assert "LSTM" in reference.undocumented(partial.read_text(encoding="utf-8"))
    assert reference.main([str(partial), "--check"]) == 1


# --------------------------------------------------------------------------- what the catalogue states


@pytest.mark.parametrize("family", [f for f in FAMILIES if f not in ("activation", "initializer")])
def test_every_parameter_is_described(family: str) -> None:
    """Each parameter's row in the reference needs its description, in the catalogue."""
    missing = [
        f"{entry.kind}.{name}"
        for entry in catalogue.entries(family)
        for name, field in entry.Params.model_fields.items()
        if not field.description
    ]
    assert missing == []


def test_every_layer_states_its_shape_rule_in_one_line() -> None:
    for entry in catalogue.entries("layer"):
        rule = getattr(entry, "shape_rule", "")
        assert rule and "\n" not in rule, entry.kind


@pytest.mark.parametrize(
    ("kind", "param", "type_and_range", "default"),
    [
        ("Dense", "units", "int > 0", None),
        ("Dense", "activation", "activation", "linear"),
        ("Conv2D", "kernel_size", "int | [int, int], each > 0", None),
        ("Conv2D", "padding", "valid | same", "valid"),
        ("MaxPooling2D", "strides", "int | [int, int], each > 0", "pool_size"),
        ("Dropout", "rate", "float, in [0, 1)", None),
        ("MultiHeadAttention", "value_dim", "int > 0 | none", "none"),
        ("BatchNormalization", "momentum", "float, in [0, 1]", "0.99"),
        ("Reshape", "target_shape", "[int, …], non-empty, each ≥ -1", None),
        ("Bidirectional", "layer", "layer", None),
    ],
)
def test_parameter_types_ranges_and_defaults(
    kind: str, param: str, type_and_range: str, default: str | None
) -> None:
    (doc,) = reference.find(kind)
    (p,) = [p for p in doc.params if p.name == param]
    assert reference._type_and_range(p) == type_and_range
    assert p.default == default


def test_adam_epsilon_default_is_written_as_a_spec_would() -> None:
    (doc,) = reference.find("Adam")
    epsilon = next(p for p in doc.params if p.name == "epsilon")
    assert epsilon.default == "1e-7"


# --------------------------------------------------------------------------- netspec layers


def test_layers_lists_every_family_and_entry(runner: CliRunner) -> None:
    result = runner.invoke(app, ["layers"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    for heading in ("Layers", "Losses", "Optimizers", "Metrics", "Learning-rate schedules",
                    "Data sources"):
        assert f"\n{heading}\n" in f"\n{out}"
    for family in FAMILIES:
        for name in catalogue.names(family, include_aliases=False):
            assert name in out, (family, name)
    assert "Dense(units) — fully connected layer (alias Linear)" in out
    assert "shape: [n] → [units]" in out
    assert "kernel_size         int | [int, int], each > 0" in out


def test_layers_name_shows_one_entry_in_detail(runner: CliRunner) -> None:
    result = runner.invoke(app, ["layers", "Dense"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "Dense(units) — fully connected layer (alias Linear)  [layer]"
    assert any(line.split()[:4] == ["units", "int", ">", "0"] and "number of output units" in line
               for line in lines)
    assert "    shape: [n] → [units]; [steps, n] → [steps, units] (every step alike)" in lines
    assert "Conv2D" not in result.stdout


def test_layers_finds_aliases_case_insensitively_and_in_every_family(runner: CliRunner) -> None:
    assert runner.invoke(app, ["layers", "Linear"]).stdout.startswith("Dense(units)")
    assert runner.invoke(app, ["layers", "gru"]).stdout.startswith("GRU(units)")
    both = runner.invoke(app, ["layers", "mse"]).stdout
    assert "[loss]" in both and "[metric]" in both
    assert "[optimizer]" in runner.invoke(app, ["layers", "Adam"]).stdout
    assert "[data source]" in runner.invoke(app, ["layers", "digits"]).stdout


def test_layers_family_word_lists_that_family(runner: CliRunner) -> None:
    out = runner.invoke(app, ["layers", "losses"]).stdout
    assert out.startswith("Losses\n")
    assert "huber" in out and "Dense" not in out


def test_layers_unknown_name_is_a_did_you_mean_error(runner: CliRunner) -> None:
    result = runner.invoke(app, ["layers", "Dnse"])
    assert result.exit_code == 1
    assert "nothing in the catalogue is called 'Dnse'" in result.stderr
    assert "did you mean 'Dense'?" in result.stderr
    assert "Traceback" not in result.output


def test_layers_json(runner: CliRunner) -> None:
    result = runner.invoke(app, ["layers", "Conv2D", "--format", "json"])
    assert result.exit_code == 0
    (doc,) = json.loads(result.stdout)
    assert doc["name"] == "Conv2D" and doc["positional"] == ["filters", "kernel_size"]
    assert dict(doc["facts"])["shape"].startswith("`[h, w, c]` → `[h', w', filters]`")
    every = json.loads(runner.invoke(app, ["layers", "-f", "json"]).stdout)
    assert {d["family"] for d in every} == set(FAMILIES)


def test_layers_and_init_import_no_framework(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import json, sys
        from typer.testing import CliRunner
        from netspec.cli import app
        runner = CliRunner()
        runs = (["layers"], ["layers", "LSTM"], ["init", {str(tmp_path / "new")!r}, "-t", "resnet"])
        codes = [runner.invoke(app, args).exit_code for args in runs]
        heavy = sorted({{n.split(".")[0] for n in sys.modules}} & {{"torch", "tensorflow", "keras"}})
        print(json.dumps({{"codes": codes, "heavy": heavy}}))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {"codes": [0, 0, 0], "heavy": []}
    assert (tmp_path / "new.net").is_file()
