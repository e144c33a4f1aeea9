"""Line mapping: each generated line knows the spec line it comes from (kept beside the text,
never in it), and an error the framework raises inside a generated model.py names that line."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import TARGETS, checked_model

from netspec import entry
from netspec.codegen import generate
from netspec.frontend import check_source

SPEC = """\
model tiny {
  input [6, 6, 1]

  layers {
    Conv2D(2, 3, padding=same, activation=relu)
    Flatten
    Dense(3)
  }

  loss      sparse_categorical_crossentropy(from_logits=true)
  optimizer SGD(lr=0.1)
  train { epochs = 1  batch_size = 4 }
}
"""


def _module(target: str):
    model, diagnostics = check_source(SPEC, "tiny.net")[:2]
    assert model is not None, [d.message for d in diagnostics]
    return generate(model, target)


def _line_of(text: str, fragment: str) -> int:
    (line,) = [n for n, text in enumerate(text.splitlines(), 1) if fragment in text]
    return line


@pytest.mark.parametrize(
    ("target", "fragment", "spec_line", "layer"),
    [
        ("torch", "self.conv2d = nn.Conv2d(", 5, "conv2d"),
        ("torch", "x = torch.relu(self.conv2d(x))", 5, "conv2d"),
        ("torch", "self.dense = nn.Linear(", 7, "dense"),
        ("torch", "x = self.dense(x)", 7, "dense"),
        ("keras", "x = layers.Conv2D(", 5, "conv2d"),
        ("keras", 'name="flatten"', 6, "flatten"),
        ("keras", "x = layers.Dense(", 7, "dense"),
    ],
)
def test_a_generated_line_maps_back_to_its_spec_line(
    target: str, fragment: str, spec_line: int, layer: str
) -> None:
    module = _module(target)
    origin = module.origin(_line_of(module, fragment))
    assert origin is not None
    span, what = origin
    assert (span.file, span.line, what) == ("tiny.net", spec_line, f"layer {layer}")


@pytest.mark.parametrize("target", TARGETS)
def test_netspecs_own_lines_have_no_spec_line_and_the_text_is_unchanged(target: str) -> None:
    module = _module(target)
    assert len(module.origins) == module.count("\n")
    assert module.origin(1) is None and module.origin(len(module.origins) + 1) is None
    assert module.origin(_line_of(module, "def build_model()")) is None
    assert "tiny.net:" not in module  # the mapping is beside the text, never in it


@pytest.mark.parametrize("target", TARGETS)
def test_every_layer_of_a_seed_spec_has_lines(target: str) -> None:
    model = checked_model("resnet20")  # blocks, merges, batch normalisation
    module = generate(model, target)
    mapped = {origin[0] for origin in module.origins if origin is not None}
    assert {layer.span for layer in model.layers} <= mapped


def test_a_framework_error_in_model_py_names_the_spec_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A runtime error the framework raises in a layer's forward (here, nn.Linear made to
    refuse its input) is told with the model.py line that raised it and its spec line."""
    import torch

    def refuse(self: torch.nn.Linear, x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied (4x72 and 70x3)")

    monkeypatch.setattr(torch.nn.Linear, "forward", refuse)
    spec = tmp_path / "tiny.net"
    spec.write_text(SPEC, encoding="utf-8")
    rng = np.random.default_rng(0)
    data = tmp_path / "d.npz"
    np.savez(data, x=rng.normal(size=(8, 6, 6, 1)).astype(np.float32), y=rng.integers(0, 3, 8))
    run = tmp_path / "run"
    argv = [
        "train", str(spec), "--backend", "torch", "--device", "cpu", "--threads", "1",
        "--log", "quiet", "--data", f'npz("{data}")', "--out", str(run),
    ]  # fmt: skip
    monkeypatch.setattr(sys, "argv", ["netspec", *argv])
    with pytest.raises(SystemExit) as caught:
        entry.main()
    err = capsys.readouterr().err
    line = _line_of((run / "model.py").read_text(encoding="utf-8"), "x = self.dense(x)")
    where = f"raised at {run / 'model.py'}:{line}, generated from {spec}:7 (layer dense)"
    assert caught.value.code == 3
    assert err.splitlines()[-3:-1] == [
        "internal error in netspec, please report: RuntimeError: mat1 and mat2 shapes cannot "
        "be multiplied (4x72 and 70x3)",
        f"  {where}",
    ]
    assert where in (run / "internal-error.txt").read_text(encoding="utf-8")

