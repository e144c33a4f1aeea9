"""The Python API: netspec.check_file, netspec.compile, netspec.train (README's example)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, generated_source

import netspec
from netspec import templates

DIGITS = ROOT / "specs" / "digits_mlp.net"


def test_import_netspec_stays_light() -> None:
    script = (
        "import sys, netspec; "
        "print(sorted(m for m in ('pydantic', 'lark', 'netspec.check', 'netspec.train', 'torch', "
        "'tensorflow', 'numpy') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_check_file_is_the_checkers() -> None:
    model, diagnostics, source = netspec.check_file(DIGITS)
    assert model is not None and model.name == "digits_mlp"
    assert list(diagnostics) == []
    assert source == DIGITS.read_text(encoding="utf-8")


def test_compile_takes_a_path_a_text_or_a_checked_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # the generated header names the spec as given
    expected = generated_source("digits_mlp", "torch")
    assert netspec.compile("specs/digits_mlp.net", target="torch") == expected
    model, _, _ = netspec.check_file("specs/digits_mlp.net")
    assert netspec.compile(model, target="torch") == expected
    text = DIGITS.read_text(encoding="utf-8")
    assert "class " in netspec.compile(text, target="keras")


def test_compile_with_settings_overrides_them() -> None:
    source = netspec.compile(DIGITS, target="torch", lr=3e-4, epochs=3, standardize=False)
    assert "lr=0.0003" in source and '"epochs": 3' in source


def test_errors_raise_with_the_diagnostics() -> None:
    with pytest.raises(netspec.SpecError) as caught:
        netspec.compile(DIGITS.read_text(encoding="utf-8").replace("Dense(10", "Dense(-10"))
    assert "error[E0113]" in str(caught.value) and "Dense(-10" in str(caught.value)
    assert caught.value.diagnostics
    with pytest.raises(netspec.SpecError, match="lr should be greater than 0"):
        netspec.compile(DIGITS, lr=0)
    with pytest.raises(netspec.SettingError, match="did you mean 'epochs'"):
        netspec.compile(DIGITS, epoch=3)
    with pytest.raises(ValueError, match="unknown target"):
        netspec.compile(DIGITS, target="jax")


def test_train_returns_the_history_and_the_run_folder(tmp_path: Path) -> None:
    spec, _ = templates.write(str(tmp_path / "starter"), "mlp")
    run = netspec.train(
        spec, epochs=2, lr=0.002, batch_size=64, device="cpu", threads=1, log="quiet",
        out=tmp_path / "run",
    )
    assert run.run_dir == tmp_path / "run"
    assert set(run.history) >= {"loss", "accuracy", "val_loss", "val_accuracy", "lr"}
    assert run.history["lr"] == [0.002, 0.002]
    assert len(run.history["loss"]) == 2 and run.history["loss"][1] < run.history["loss"][0]
    assert run.test is not None and run.test["accuracy"] > 0.5
    assert json.loads((run.run_dir / "history.json").read_text(encoding="utf-8")) == run.history
    record = json.loads((run.run_dir / "run.json").read_text(encoding="utf-8"))
    assert record["overrides"] == {"epochs": "2", "lr": "0.002", "batch_size": "64"}


def test_train_reports_a_bad_spec_without_training(tmp_path: Path) -> None:
    spec = tmp_path / "broken.net"
    spec.write_text(DIGITS.read_text(encoding="utf-8").replace("Dense(10", "Dens(10"), "utf-8")
    with pytest.raises(netspec.SpecError, match="unknown layer 'Dens'"):
        netspec.train(spec, out=tmp_path / "run")
    with pytest.raises(netspec.SettingError, match="did you mean 'batch_size'"):
        netspec.train(DIGITS, batchsize=8, out=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_the_train_package_stays_importable_and_callable() -> None:
    import netspec.train as package
    from netspec.train import TrainOptions

    assert package is netspec.train and callable(netspec.train)
    assert TrainOptions().backend == "torch"
