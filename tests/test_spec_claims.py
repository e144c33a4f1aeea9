"""What a seed spec's header comment states holds: its parameter counts, and that a data
file it names but the repository does not bundle is a clear error, not a traceback.

A spec states its counts as `Parameters (Keras model.summary()): T total, R trainable, N
non-trainable`; test_specs_frameworks checks that Keras and PyTorch build models with the
counts of the checked IR, so the stated figures are the frameworks' too.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import SPEC_IDS, SPECS, checked_model
from typer.testing import CliRunner

from netspec.cli import app

_STATED = re.compile(
    r"Parameters \(Keras model\.summary\(\)\): ([\d,]+) total, ([\d,]+) trainable,\s*#?\s*"
    r"([\d,]+) non-trainable"
)
# Specs whose header must state their counts (the larger graph models, where a reader
# cannot add them up at a glance).
MUST_STATE = {"resnet20", "unet_small"}
# Specs whose train block names an .npz the repository does not bundle.
UNBUNDLED = {"resnet20": "cifar10.npz", "unet_small": "masks.npz"}


def stated_counts(spec: Path) -> tuple[int, int, int] | None:
    match = _STATED.search(spec.read_text(encoding="utf-8"))
    if match is None:
        return None
    total, trainable, frozen = (int(g.replace(",", "")) for g in match.groups())
    return total, trainable, frozen


def test_the_specs_that_must_state_their_counts_are_there() -> None:
    assert set(SPEC_IDS) >= MUST_STATE


@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
def test_stated_parameter_counts_are_the_models(spec: Path) -> None:
    stated = stated_counts(spec)
    if stated is None:
        assert spec.stem not in MUST_STATE, f"{spec.name} states no parameter counts"
        return
    model = checked_model(spec.stem)
    trainable, frozen = model.trainable_params, model.non_trainable_params
    assert stated == (trainable + frozen, trainable, frozen)


@pytest.mark.parametrize("stem", sorted(UNBUNDLED))
def test_training_without_the_unbundled_data_is_a_clear_error(
    stem: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = next(s for s in SPECS if s.stem == stem)
    monkeypatch.chdir(tmp_path)  # the relative path names no file here
    result = CliRunner().invoke(app, ["train", str(spec), "--out", str(tmp_path / "run")])
    assert result.exit_code == 1
    assert "Traceback" not in result.output + result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "error[E0402]" in result.stderr and f"cannot read {UNBUNDLED[stem]}" in result.stderr
    assert not (tmp_path / "run" / "run.json").exists()
