"""`--set key=value`: a train setting, or the optimizer's learning rate, from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT
from typer.testing import CliRunner

from netspec.cli import app
from netspec.frontend import check_source
from netspec.overrides import SettingError, merge, parse_assignments

DIGITS = ROOT / "specs" / "digits_mlp.net"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_assignments_keep_values_as_spec_text() -> None:
    parsed = parse_assignments(["lr=3e-4", " reshape = true", 'data=npz("f.npz", x="a")'])
    assert parsed == {"lr": "3e-4", "reshape": "true", "data": 'npz("f.npz", x="a")'}
    assert parse_assignments(["learning_rate=0.1"]) == {"lr": "0.1"}


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (["epoch=3"], "unknown train setting 'epoch' — did you mean 'epochs'?"),
        (["lrr=3"], "unknown train setting 'lrr' — did you mean 'lr'?"),
        (["reshape"], "--set takes key=value, got 'reshape'"),
        (["=3"], "--set takes key=value, got '=3'"),
        (["epochs="], "--set epochs= has no value"),
        (["epochs=2", "epochs=3"], "--set epochs is given twice"),
    ],
)
def test_malformed_assignments_are_refused(items: list[str], message: str) -> None:
    with pytest.raises(SettingError) as caught:
        parse_assignments(items)
    assert caught.value.message == message


def test_an_option_and_a_set_of_one_key_are_refused() -> None:
    with pytest.raises(SettingError, match="epochs is set twice: by --epochs and by --set"):
        merge({"epochs": "2"}, {"epochs": "3"})


def test_lr_replaces_the_optimizers_learning_rate_in_either_spelling() -> None:
    source = DIGITS.read_text(encoding="utf-8").replace("Adam(lr=1e-3)", "Adam(learning_rate=1e-3)")
    model, diagnostics = check_source(source, "digits.net", {"lr": "3e-4", "epochs": "3"})
    assert model is not None, [d.message for d in diagnostics]
    assert model.optimizer.params.lr == 3e-4
    assert model.train.epochs == 3
    bare = DIGITS.read_text(encoding="utf-8").replace("Adam(lr=1e-3)", "Adam")
    model, _ = check_source(bare, "digits.net", {"lr": "0.5"})
    assert model is not None and model.optimizer.params.lr == 0.5


@pytest.mark.parametrize(("target", "written"), [("torch", "lr=0.0003"), ("keras", "learning_rate=0.0003")])
def test_compile_applies_set(runner: CliRunner, target: str, written: str) -> None:
    result = runner.invoke(
        app, ["compile", str(DIGITS), "-t", target, "--set", "lr=3e-4", "--set", "epochs=3"]
    )
    assert result.exit_code == 0, result.output
    assert written in result.stdout
    assert '"epochs": 3' in result.stdout
    plain = runner.invoke(app, ["compile", str(DIGITS), "-t", target]).stdout
    assert written not in plain


def test_a_wrong_value_is_a_diagnostic_on_the_option(runner: CliRunner) -> None:
    result = runner.invoke(app, ["compile", str(DIGITS), "-t", "torch", "--set", "lr=0"])
    assert result.exit_code == 1
    assert "--lr:1:1: error[E0113]: Adam: lr should be greater than 0, got 0" in result.stderr
    assert "   1 | 0" in result.stderr  # the option's text, not the spec's first line
    result = runner.invoke(app, ["train", str(DIGITS), "--set", "epochs=2.5"])
    assert result.exit_code == 1
    assert "epochs should be a whole number, got 2.5" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "epoch=3"], "unknown train setting 'epoch' — did you mean 'epochs'?"),
        (["--epochs", "2", "--set", "epochs=3"], "epochs is set twice"),
    ],
)
def test_train_refuses_a_bad_set_before_anything_runs(
    runner: CliRunner, tmp_path: Path, args: list[str], message: str
) -> None:
    result = runner.invoke(app, ["train", str(DIGITS), "-o", str(tmp_path / "run"), *args])
    assert result.exit_code == 2
    assert message in result.stderr
    assert not (tmp_path / "run").exists()


def test_train_with_set_records_the_overrides(runner: CliRunner, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    data = tmp_path / "d.npz"
    np.savez(data, x=rng.normal(size=(64, 64)).astype(np.float32), y=rng.integers(0, 10, size=64))
    run = tmp_path / "run"
    args = [
        "train", str(DIGITS), "--device", "cpu", "--threads", "1", "--log", "quiet", "-o", str(run),
        "--set", "epochs=1", "--set", "lr=0.0125", "--set", f'data=npz("{data}")',
        "--set", "standardize=false",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, (result.output, result.exception)
    record = json.loads((run / "run.json").read_text(encoding="utf-8"))
    assert record["overrides"] == {
        "epochs": "1", "lr": "0.0125", "data": f'npz("{data}")', "standardize": "false"
    }
    history = json.loads((run / "history.json").read_text(encoding="utf-8"))
    assert history["lr"] == [0.0125]
    assert "lr=0.0125" in (run / "model.py").read_text(encoding="utf-8")
