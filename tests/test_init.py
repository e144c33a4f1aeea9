"""`netspec init NAME --template T`: a commented starter spec that checks on bundled data."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ROOT
from typer.testing import CliRunner

from netspec import catalogue, templates
from netspec.cli import app
from netspec.frontend import check_file

TEMPLATE_DIR = ROOT / "netspec" / "templates"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_every_template_ships_as_a_net_file() -> None:
    assert {p.stem for p in TEMPLATE_DIR.glob("*.net")} == set(templates.TEMPLATES)
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")  # installed with netspec
    assert '    "netspec.templates",\n' in pyproject
    assert '"netspec.templates" = ["*.net"]' in pyproject


@pytest.mark.parametrize("template", list(templates.TEMPLATES))
def test_init_writes_a_spec_that_checks_on_bundled_data(
    runner: CliRunner, tmp_path: Path, template: str
) -> None:
    target = tmp_path / f"my_{template}"
    result = runner.invoke(app, ["init", str(target), "--template", template])
    assert result.exit_code == 0, result.output
    written = target.with_suffix(".net")
    assert f"wrote {written}: model my_{template}" in result.stdout
    text = written.read_text(encoding="utf-8")
    assert text.startswith("# A starter spec")
    assert sum(line.lstrip().startswith("#") or "  #" in line for line in text.splitlines()) >= 8
    model, diagnostics, _ = check_file(written)
    assert model is not None, [d.message for d in diagnostics]
    assert [d for d in diagnostics if d.severity.value == "warning"] == []
    assert model.name == f"my_{template}"
    source = catalogue.lookup("data", model.train.data.kind)
    assert source is not None and source.__name__ == "Digits"  # scikit-learn ships it


def test_init_refuses_to_overwrite_a_file(runner: CliRunner, tmp_path: Path) -> None:
    existing = tmp_path / "mine.net"
    existing.write_text("keep me\n", encoding="utf-8")
    result = runner.invoke(app, ["init", str(existing), "-t", "cnn"])
    assert result.exit_code == 1
    assert "exists; netspec init does not overwrite a file" in result.stderr
    assert existing.read_text(encoding="utf-8") == "keep me\n"


def test_init_names_the_model_after_the_file(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["init", str(tmp_path / "my-first.net")])
    assert result.exit_code == 0, result.output
    model, _, _ = check_file(tmp_path / "my-first.net")
    assert model is not None and model.name == "my_first"


def test_init_refuses_a_name_no_model_can_have(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["init", str(tmp_path / "3layers")])
    assert result.exit_code == 1
    assert "cannot name a model" in result.stderr
    assert not (tmp_path / "3layers.net").exists()


def test_init_unknown_template_is_a_usage_error(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["init", str(tmp_path / "x"), "--template", "vgg"])
    assert result.exit_code == 2
    assert not (tmp_path / "x.net").exists()
