"""Shared fixtures and options for the test suite."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from netspec import ir
from netspec.codegen import generate
from netspec.frontend import check_source

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").glob("*.net"))

# Keep TensorFlow quiet and on the CPU in tests.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite tests/golden/ from the current generators (review the diff!)",
    )


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


# --------------------------------------------------------------------------- generated code

TARGETS = ("keras", "torch")
SPEC_IDS = [spec.stem for spec in SPECS]


def spec_name(stem: str) -> str:
    """The spec's path as written from the repository root, e.g. `specs/mnist_mlp.net`.

    Generated code names its spec in the header comment; checking the spec under this
    relative name keeps machine-specific absolute paths out of the golden files.
    """
    return f"specs/{stem}.net"


@functools.cache
def checked_model(stem: str) -> ir.Model:
    """The checked IR of a seed spec (cached: the IR is frozen)."""
    source = (ROOT / spec_name(stem)).read_text(encoding="utf-8")
    model, diagnostics = check_source(source, spec_name(stem))
    assert model is not None, [d.message for d in diagnostics]
    return model


@functools.cache
def generated_source(stem: str, target: str) -> str:
    """The module netspec generates for a seed spec and target (cached)."""
    return generate(checked_model(stem), target)


def vocabulary(model: ir.Model, tensor: str) -> int | None:
    """The vocabulary of the Embedding layers that read `tensor`: token ids go in there."""
    readers = [layer for layer in model.layers if tensor in layer.inputs]
    if readers and all(layer.kind == "Embedding" for layer in readers):
        return min(layer.params.input_dim for layer in readers)  # type: ignore[attr-defined]
    return None


def random_inputs(model: ir.Model, batch: int, seed: int) -> list[np.ndarray]:
    """A float32 batch per model input: token ids where Embeddings read it, else N(0, 1)."""
    rng = np.random.default_rng(seed)
    arrays = []
    for source in model.inputs:
        shape = (batch, *source.shape)
        vocab = vocabulary(model, source.name)
        if vocab is None:
            arrays.append(rng.standard_normal(shape).astype(np.float32))
        else:
            arrays.append(rng.integers(0, vocab, size=shape).astype(np.float32))
    return arrays


@pytest.fixture(scope="session")
def checked() -> Callable[[str], ir.Model]:
    return checked_model


@pytest.fixture(scope="session")
def generated() -> Callable[[str, str], str]:
    return generated_source


def ruff_complaints(folder: Path) -> str:
    """What `ruff check` and `ruff format --check` with the project's own config
    (pyproject.toml) say about the modules in `folder`: empty when both pass."""
    import subprocess
    import sys

    config = ["--config", str(ROOT / "pyproject.toml"), "--no-cache"]
    complaints = []
    for command in (["check", *config], ["format", "--check", "--diff", *config]):
        result = subprocess.run(
            [sys.executable, "-m", "ruff", *command, str(folder)],
            capture_output=True, text=True, timeout=120, check=False,
        )
        if result.returncode != 0:
            complaints.append(result.stdout + result.stderr)
    return "\n".join(complaints)
