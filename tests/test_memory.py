"""A model legal on paper but larger than the machine: `check` warns (W0232) with the bytes,
`train` refuses before it imports a framework. Nothing here allocates the model."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from netspec import memory
from netspec.cli import app
from netspec.frontend import check_source

HUGE = """
model huge {
  input [400000]
  layers { Dense(2000000) Dense(10, activation=softmax) }
  loss sparse_categorical_crossentropy
  optimizer Adam(lr=1e-3)
  train { batch_size = 32 }
}
"""
"""800 billion weights: 12.8 TB with their gradients and Adam's two values each."""

WIDE = """
model wide {
  input [20000000]
  layers { Activation(relu) Dense(1) }
  loss mse
  optimizer SGD(lr=0.1)
  train { batch_size = 32 }
}
"""
"""20 million weights (160 MB to train), but a batch of relu's output is 2.56 GB."""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.net"
    path.write_text(text, encoding="utf-8")
    return path


def test_check_and_summary_warn_of_a_model_larger_than_this_machine(tmp_path: Path) -> None:
    path = write(tmp_path, HUGE)
    for command in ("check", "summary"):
        result = CliRunner().invoke(app, [command, str(path)])
        assert result.exit_code == 0, result.output
        shown = " ".join(result.stderr.split())
        assert f"{path}:4:12: warning[W0232]: training takes about 12.8 TB" in shown
        assert "800,022,000,010 parameters (weights, gradients and Adam's 2 values" in shown
        assert "of memory this machine has (MemTotal in /proc/meminfo" in shown
        assert "a GPU's memory is not known before training" in shown


def test_one_batch_of_activations_over_the_memory_is_named_by_its_layer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model, diagnostics = check_source(WIDE, "wide.net")
    assert model is not None and not list(diagnostics)
    small = memory.Memory(total=10**9, available=5 * 10**8, source="a test")
    memory.warn(model, diagnostics, small)
    (warning,) = list(diagnostics)
    assert warning.code == "W0232" and warning.span.line == 4
    assert warning.message == (
        "activation's output [20000000] takes about 2.6 GB for a batch of 32, more than the "
        "1.0 GB of memory this machine has (a test; 500.0 MB available now)"
    )
    assert "batch_size" in (warning.hint or "")
    bigger = memory.Memory(total=3 * 10**9, available=None, source="a test")
    assert memory.needs(model, bigger.total) == []
    message, hint = memory.refusal(model, gpu_free=10**9, gpu="cuda:0") or ("", "")
    assert message.endswith("for a batch of 32, more than the 1.0 GB free on cuda:0")
    assert "--device cpu" in hint
    assert memory.refusal(model, gpu_free=3 * 10**9, gpu="cuda:0") is None


def test_train_refuses_it_before_any_framework_or_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import netspec.train

    def no_framework(name: str) -> None:
        raise AssertionError(f"{name} was asked for")

    monkeypatch.setattr(netspec.train, "_backend", no_framework)
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["train", str(write(tmp_path, HUGE)), "--out", str(out)])
    assert result.exit_code == 1, (result.output, result.exception)
    shown = " ".join(result.stderr.split())
    assert "error: model huge does not fit: training takes about 12.8 TB" in shown
    assert "hint: use fewer or smaller layers" in shown and "W0232" in shown
    assert "Traceback" not in result.stderr and not out.exists()
