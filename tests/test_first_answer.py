"""`netspec train` answers before it loads a framework, and shows its figures alike on
both backends.

The plan (model, parameters, data and split, settings, run folder) and every data error
come before PyTorch or TensorFlow is imported (checked in fresh processes, with the
frameworks' imports made to fail); the bundled scikit-learn sets load without importing
scikit-learn; a Keras run's bar moves from its first step; the figures come in one order,
float32 without false digits, in epoch lines, test figures, history and curves.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from conftest import ROOT, checked_model
from rich.console import Console

import netspec.train as training
from netspec.catalogue import data as sources
from netspec.train import progress
from netspec.train.figures import figure_names, float32_figure, in_order
from netspec.train.progress import Pace, Reporter, RichReporter, Spinner, clock
from netspec.train.rundir import curves_figure

DIGITS = ROOT / "specs" / "digits_mlp.net"

BLOCK_FRAMEWORKS = """
import importlib.abc, sys

class Blocked(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "tensorflow", "keras"):
            raise ImportError(f"No module named {name!r} (blocked by the test)")
        return None

sys.meta_path.insert(0, Blocked())
"""


def run_cli(arguments: list[str], cwd: Path) -> dict[str, Any]:
    """`netspec ARGUMENTS` in a fresh process whose framework imports fail: its status,
    output, and the modules it had imported."""
    script = BLOCK_FRAMEWORKS + textwrap.dedent(
        f"""
        import json
        from typer.testing import CliRunner
        from netspec.cli import app
        result = CliRunner().invoke(app, {arguments!r})
        loaded = sorted(
            m for m in ("torch", "tensorflow", "keras", "sklearn") if m in sys.modules
        )
        print(json.dumps({{
            "status": result.exit_code, "stdout": result.stdout, "stderr": result.stderr,
            "exception": repr(result.exception), "loaded": loaded,
        }}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=cwd, capture_output=True, text=True, timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- before a framework


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_the_plan_is_said_before_the_framework_is_imported(tmp_path: Path, backend: str) -> None:
    out = tmp_path / "run"
    report = run_cli(
        ["train", str(DIGITS), "--backend", backend, "--log", "plain", "--out", str(out)], tmp_path
    )
    lines = report["stdout"].splitlines()
    assert lines[:4] == [
        "model digits_mlp: 8,970 parameters, [64] → [10]",
        "data digits: 1,294 training, 144 validation, 359 test samples; inputs [64], "
        "targets class indices",
        f"training on {backend} (--device auto): 20 epochs, batch 32, fp32",
        f"run folder: {out}",
    ], report
    # The framework is missing here: a clear error, no traceback, and no run folder made.
    assert report["status"] == 2, report
    assert f"error: the {backend} backend needs" in report["stderr"]
    assert "cannot be imported" in report["stderr"] and "hint: pip install" in report["stderr"]
    assert not out.exists()
    assert report["loaded"] == []


def test_a_data_error_comes_without_a_framework_or_scikit_learn(tmp_path: Path) -> None:
    """digits' ten classes against five outputs: reported from the data, read from the file
    scikit-learn ships, without importing scikit-learn (a second or more) or a framework."""
    spec = tmp_path / "five.net"
    spec.write_text(
        DIGITS.read_text().replace("Dense(10, activation=softmax)", "Dense(5, activation=softmax)")
    )
    report = run_cli(["train", str(spec), "--log", "plain", "--out", str(tmp_path / "r")], tmp_path)
    assert report["status"] == 1, report
    assert "error[E0404]: the labels range from 0 to 9" in report["stderr"]
    assert report["stdout"].splitlines() == ["model digits_mlp: 8,645 parameters, [64] → [5]"]
    assert report["loaded"] == []


@pytest.mark.parametrize("entry", [sources.Digits, sources.Iris, sources.BreastCancer, sources.Wine])
def test_bundled_sets_read_as_scikit_learn_reads_them(entry: Any) -> None:
    from sklearn import datasets

    bunch = getattr(datasets, entry.loader)()
    raw = entry().load(sources.NoParams(), 0)
    np.testing.assert_array_equal(raw.x, np.asarray(bunch.data, dtype=np.float32))
    np.testing.assert_array_equal(raw.y, bunch.target)
    assert raw.y.dtype == np.int64 and raw.classes == len(np.unique(bunch.target))


def test_a_bundled_file_of_another_layout_is_left_to_scikit_learn(tmp_path: Path) -> None:
    other = tmp_path / "iris.csv"
    other.write_text("150,4,setosa\n5.1,3.5,1.4,0.2,0\n")  # the header's count is wrong
    assert sources.read_sklearn_csv(other, header=True) is None
    other.write_text("5.1,3.5,1.4,0.2,0.5\n")  # a label that is no class index
    assert sources.read_sklearn_csv(other, header=False) is None
    assert sources.read_sklearn_csv(tmp_path / "missing.csv", header=False) is None


# --------------------------------------------------------------------------- the bar


def test_the_pace_leaves_out_the_first_steps_one_off_wait() -> None:
    pace = Pace(samples=1000, started=0.0)
    assert pace.update(100, 5.0) == (20.0, 45.0)  # the first report: all it knows
    rate, left = pace.update(300, 6.0)  # 200 samples in the second after it
    assert rate == 200.0 and left == 3.5
    assert clock(3.5) == "0:04" and clock(3725) == "1:02:05"


def test_the_bar_shows_samples_per_second_and_time_left(monkeypatch: pytest.MonkeyPatch) -> None:
    clock_now = iter([0.0, 1.0, 2.0])
    monkeypatch.setattr(progress, "time", SimpleNamespace(perf_counter=lambda: next(clock_now)))
    reporter = RichReporter(Console(file=io.StringIO(), width=120))
    reporter.start_epoch(0, 1, steps=10, samples=100)
    reporter.waiting("first step: tracing")
    assert reporter.progress.tasks[0].fields["loss"] == "first step: tracing"
    reporter.step(1, 10, 2.0)
    reporter.step(2, 20, 1.5)
    fields = reporter.progress.tasks[0].fields
    assert fields["rate"] == "10 samples/s" and fields["eta"] == "ETA 0:08"
    assert fields["loss"] == "loss 1.5000"
    reporter.close()


def test_the_spinner_shows_on_a_terminal_only(tmp_path: Path) -> None:
    with open(tmp_path / "pipe", "w") as stream:
        spinner = Spinner(Console(file=stream, force_terminal=False))
        spinner.show("loading PyTorch…")
        assert spinner.status is None
        spinner.stop()
    assert (tmp_path / "pipe").read_text() == ""
    with open(tmp_path / "tty", "w") as stream:
        spinner = Spinner(Console(file=stream, force_terminal=True))
        spinner.show("loading PyTorch…")
        spinner.stop()
    assert "loading PyTorch…" in (tmp_path / "tty").read_text()


# --------------------------------------------------------------------------- figures alike


class Recorder(Reporter):
    """What a run tells its reporter, in order."""

    wants_steps = True

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def start_epoch(self, epoch: int, epochs: int, steps: int, samples: int) -> None:
        self.events.append(("start_epoch", steps))

    def waiting(self, text: str) -> None:
        self.events.append(("waiting", text))

    def step(self, steps_done: int, samples_done: int, running_loss: float) -> None:
        self.events.append(("step", steps_done))

    def end_epoch(self, epoch: int, epochs: int, logs: dict[str, float], seconds: float) -> None:
        self.events.append(("epoch", list(logs)))


TINY = """
model tiny {
  input [4]
  layers {
    Dense(8, activation=relu)
    Dense(3, activation=softmax)
  }
  loss sparse_categorical_crossentropy
  optimizer Adam(lr=1e-3)
  metrics [accuracy]
  train {
    data = npz("DATA")
    epochs = 1
    batch_size = 8
    validation_split = 0.2
    test_split = 0.2
  }
}
"""


def train_tiny(tmp_path: Path, backend: str, monkeypatch: pytest.MonkeyPatch) -> Recorder:
    rng = np.random.default_rng(0)
    data = tmp_path / "data.npz"
    np.savez(data, x=rng.normal(size=(100, 4)).astype(np.float32), y=rng.integers(0, 3, 100))
    spec = tmp_path / "tiny.net"
    spec.write_text(TINY.replace("DATA", str(data)))
    recorder = Recorder()
    monkeypatch.setattr(training, "reporter", lambda mode, rank=0: recorder)
    options = training.TrainOptions(
        backend=backend, device="cpu", out=tmp_path / backend, threads=1, log="quiet"
    )
    outcome = training.train(spec, {}, options)
    assert outcome.status == 0, [d.message for d in outcome.diagnostics]
    return recorder


def test_both_backends_show_and_write_the_figures_alike(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One order (loss, metrics, validation, lr) in epoch lines, history and test figures;
    Keras' float32 learning rate as 0.001; its bar moves from the first step."""
    runs = {backend: train_tiny(tmp_path, backend, monkeypatch) for backend in ("torch", "keras")}
    order = ["loss", "accuracy", "val_loss", "val_accuracy", "lr"]
    for backend, recorder in runs.items():
        assert ("epoch", order) in recorder.events, backend
        with open(tmp_path / backend / "history.csv", encoding="utf-8") as stream:
            assert next(csv.reader(stream)) == ["epoch", *order], backend
        test = json.loads((tmp_path / backend / "test.json").read_text())
        assert list(test) == ["loss", "accuracy"], backend
        history = json.loads((tmp_path / backend / "history.json").read_text())
        assert history["lr"] == [0.001], backend
    # A short epoch: every step reported (not every 32nd); Keras says its first one traces.
    events = runs["keras"].events
    assert events[0][0] == "start_epoch" and events[1][0] == "waiting"
    assert [n for kind, n in events if kind == "step"] == list(range(1, events[0][1] + 1))
    assert next(n for kind, n in runs["torch"].events if kind == "step") == 1


def test_several_outputs_take_the_pytorch_order() -> None:
    model = checked_model("two_tower")
    names = figure_names(model)
    assert names[0] == "loss" and names[1:3] == ["plan_loss", "spend_loss"]
    keras_order = sorted(names) + [f"val_{n}" for n in sorted(names)] + ["lr"]
    shown = in_order(dict.fromkeys(keras_order, 1.0), model)
    assert list(shown) == [*names, *(f"val_{n}" for n in names), "lr"]


def test_float32_figures_lose_no_digits_and_show_no_false_ones() -> None:
    value = float(np.float32(0.001))
    assert value == 0.0010000000474974513 and float32_figure(value) == 0.001
    for x in np.random.default_rng(0).normal(size=100).astype(np.float32):
        assert np.float32(float32_figure(float(x))) == x


def test_curves_have_whole_epochs_and_mark_the_test_figure() -> None:
    history = {"loss": [1.0, 0.6, 0.4], "accuracy": [0.5, 0.7, 0.8], "val_loss": [1.1, 0.8, 0.7]}
    figure = curves_figure(history, "tiny", {"loss": 0.75, "accuracy": 0.72})
    for axes in figure.axes:
        ticks = axes.get_xticks()
        assert all(float(t).is_integer() for t in ticks), ticks
        tests = [line for line in axes.get_lines() if line.get_label().startswith("test")]
        assert len(tests) == 1 and list(tests[0].get_xdata()) == [3]
    assert tests[0].get_label() == "test 0.72"
