"""`netspec predict` on new, unlabelled inputs: every form `--data` takes, every output format.

Inputs come without targets: an `.npz` holding only inputs (or `y=none`), a bare `.npy`, a CSV
without the target column (read by the columns the run trained on), image files and folders;
they are preprocessed as in training (the run folder's standardization statistics). Outputs
go to `.npy`, `.npz` or `.csv` (class names and the top class for a classifier). Every file is
one the test writes; the runs train one epoch on a few samples, CPU only, one thread.
"""

from __future__ import annotations

import csv
import shutil
import textwrap
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from conftest import checked_model
from PIL import Image
from test_data import data_error, model_of, spec_text
from test_sources import image_folder, image_spec
from test_train import DIGITS, invoke, npz, options, read_json, spec_data
from typer.testing import CliRunner

import netspec.train as training
from netspec import data, inputs
from netspec.train import prediction

BACKENDS = ("torch", "keras")


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """digits_mlp (standardized inputs) trained one epoch on 64 samples, once per backend;
    the run folder."""
    runs: dict[str, Path] = {}

    def run_of(backend: str) -> Path:
        if backend not in runs:
            folder = tmp_path_factory.mktemp(f"predict-{backend}")
            source = spec_data("digits_mlp", folder / "train.npz", samples=64)
            outcome = training.train(
                DIGITS, {"epochs": "1", "data": npz(source)}, options(backend, folder / "run")
            )
            assert outcome.status == 0, [d.message for d in outcome.diagnostics]
            runs[backend] = folder / "run"
        return runs[backend]

    return run_of


@pytest.fixture(params=BACKENDS)
def digits_run(request: pytest.FixtureRequest, trained: Callable[[str], Path]) -> tuple[str, Path]:
    return request.param, trained(request.param)


@pytest.fixture
def torch_run(trained: Callable[[str], Path]) -> Path:
    return trained("torch")


def predict(runner: CliRunner, run: Path, *args: str, status: int = 0):
    return invoke(
        runner,
        ["predict", str(run), *args, "--device", "cpu", "--threads", "1", "--workers", "0"],
        status=status,
    )


def new_inputs(samples: int = 20, seed: int = 7) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 16, size=(samples, 64)).astype(np.float32)


# --------------------------------------------------------------------------- inputs alone


def test_inputs_alone_in_every_form_give_the_same_predictions(
    runner: CliRunner, digits_run: tuple[str, Path], tmp_path: Path
) -> None:
    _, run = digits_run
    x = new_inputs()
    np.savez(tmp_path / "labelled.npz", x=x, y=np.zeros(len(x), np.int64))
    np.savez(tmp_path / "x_only.npz", x=x)
    np.savez(tmp_path / "unnamed.npz", x)  # one array, arr_0
    np.save(tmp_path / "new.npy", x)
    reference = tmp_path / "labelled.npy"
    predict(runner, run, "--data", npz(tmp_path / "labelled.npz"), "-o", str(reference))
    expected = np.load(reference)
    assert expected.shape == (20, 10)
    for given in (
        npz(tmp_path / "x_only.npz"),
        f'npz("{tmp_path / "labelled.npz"}", y=none)',
        str(tmp_path / "x_only.npz"),
        str(tmp_path / "unnamed.npz"),
        str(tmp_path / "new.npy"),
    ):
        out = tmp_path / "out.npy"
        result = predict(runner, run, "--data", given, "-o", str(out))
        assert "20 predictions saved to" in result.stdout, given
        np.testing.assert_array_equal(np.load(out), expected, err_msg=given)


def test_predictions_use_the_runs_standardization(
    runner: CliRunner, torch_run: Path, tmp_path: Path
) -> None:
    """The run's own module, given the inputs standardized by hand with the statistics in
    standardization.npz, makes the predictions `netspec predict` wrote."""
    run = torch_run
    import torch

    from netspec.train.context import load_module
    from netspec.train.torch_backend import load_weights

    x = new_inputs()
    np.save(tmp_path / "new.npy", x)
    predict(runner, run, "--data", str(tmp_path / "new.npy"), "-o", str(tmp_path / "out.npy"))
    with np.load(run / "standardization.npz", allow_pickle=False) as stats:
        scaled = ((x - stats["mean"]) / stats["std"]).astype(np.float32)
    module = load_module(run / "model.py", "digits_mlp_by_hand")
    model = module.prepare(module.build_model(), "cpu")
    load_weights(model, run / "weights.safetensors")
    by_hand = module.predict(model, torch.from_numpy(scaled)).numpy()
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), by_hand, rtol=1e-5, atol=1e-6)


def test_csv_and_npz_outputs_name_the_classes_and_the_top_class(
    runner: CliRunner, digits_run: tuple[str, Path], tmp_path: Path
) -> None:
    _, run = digits_run
    np.save(tmp_path / "new.npy", new_inputs())
    given = ["--data", str(tmp_path / "new.npy")]
    predict(runner, run, *given, "-o", str(tmp_path / "p.npy"))
    probabilities = np.load(tmp_path / "p.npy")
    predict(runner, run, *given, "-o", str(tmp_path / "p.csv"))
    with open(tmp_path / "p.csv", newline="", encoding="utf-8") as stream:
        rows = list(csv.reader(stream))
    assert rows[0] == [*(str(k) for k in range(10)), "top_class"]
    assert len(rows) == 21
    table = np.array([[float(v) for v in row[:10]] for row in rows[1:]], dtype=np.float32)
    np.testing.assert_array_equal(table, probabilities)  # float32 written to round-trip
    assert [int(row[10]) for row in rows[1:]] == probabilities.argmax(axis=1).tolist()
    predict(runner, run, *given, "-o", str(tmp_path / "sub" / "p.npz"))
    with np.load(tmp_path / "sub" / "p.npz", allow_pickle=False) as saved:
        assert set(saved.files) == {"dense_2", "dense_2.top_class"}
        np.testing.assert_array_equal(saved["dense_2"], probabilities)
        np.testing.assert_array_equal(saved["dense_2.top_class"], probabilities.argmax(axis=1))


@pytest.mark.parametrize(
    ("write", "given", "message"),
    [
        (None, "absent.npy", "absent.npy does not exist"),
        (lambda d: (d / "bad.npy").write_bytes(b"not numpy"), "bad.npy", "cannot read"),
        (lambda d: (d / "bad.npz").write_bytes(b"not a zip"), "bad.npz", "cannot read"),
        (lambda d: np.save(d / "w.npy", np.zeros((3, 10))), "w.npy", "shape [10]"),
        (lambda d: np.savez(d / "t.npz", a=np.zeros((3, 64)), b=np.zeros(3)), "t.npz", "'input'"),
        (lambda d: (d / "x.txt").write_text("1"), "x.txt", "suffix '.txt'"),
        (lambda d: Image.new("L", (8, 8)).save(d / "i.png"), "i.png", "not an image"),
        (lambda d: (d / "c.csv").write_text("a,b\n1,2\n"), "c.csv", "2 feature columns"),
        (lambda d: (d / "r.csv").write_text("a,b\n1\n"), "r.csv", "1 fields, header has 2"),
        (lambda d: np.save(d / "e.npy", np.zeros((0, 64))), "e.npy", "holds no samples"),
    ],
    ids=[
        "absent", "broken-npy", "broken-npz", "shape", "names", "suffix", "image", "csv",
        "ragged", "empty",
    ],
)
def test_inputs_that_cannot_be_predicted_on_are_clear_errors(
    runner: CliRunner,
    torch_run: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    write,
    given: str,
    message: str,
) -> None:
    """Found before any framework runs, so one backend's run says it for both."""
    run = torch_run
    monkeypatch.chdir(tmp_path)
    if write is not None:
        write(tmp_path)
    result = predict(runner, run.resolve(), "--data", given, status=1)
    assert "--data:1:1: error[E04" in result.stderr and message in result.stderr, result.stderr


def test_an_output_file_of_another_format_is_refused_before_predicting(
    runner: CliRunner, torch_run: Path, tmp_path: Path
) -> None:
    run = torch_run
    np.save(tmp_path / "new.npy", new_inputs())
    out = tmp_path / "p.txt"
    result = predict(runner, run, "--data", str(tmp_path / "new.npy"), "-o", str(out), status=2)
    assert ".npy, .npz or .csv" in result.stderr and not out.exists()


def test_y_none_is_for_predict_training_needs_targets(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", x=np.zeros((4, 4)), y=np.zeros(4))
    model = model_of(spec_text(), data=f'npz("{tmp_path / "d.npz"}", y=none)')
    error = data_error("E0402", data.prepare, model, model.train)
    assert "y=none" in error.message and "targets" in error.message


# --------------------------------------------------------------------------- CSV


CSV_SPEC = """
model flowers {
  input [2]
  layers { Dense(3, activation=softmax) }
  loss sparse_categorical_crossentropy
  optimizer Adam(lr=1e-2)
  train { data = csv("TRAIN", target="species"), epochs = 1, batch_size = 8, standardize = true }
}
"""


def test_a_csv_without_the_target_is_read_by_the_runs_columns(
    runner: CliRunner, tmp_path: Path
) -> None:
    names = ("setosa", "versicolor", "virginica")
    lines = ["length,species,width"] + [
        f"{k * 0.5},{names[k % 3]},{(k % 3) * 2.0}" for k in range(24)
    ]
    (tmp_path / "train.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    spec = tmp_path / "flowers.net"
    spec.write_text(textwrap.dedent(CSV_SPEC.replace("TRAIN", str(tmp_path / "train.csv"))))
    run = tmp_path / "run"
    assert training.train(spec, {}, options("torch", run)).status == 0
    assert read_json(run / "run.json")["data"]["features"] == ["length", "width"]
    assert read_json(run / "classes.json") == {"names": list(names)}

    # the same samples, columns reordered, the target left out, an id column added
    new = ["id,width,length"] + [f"{k},{(k % 3) * 2.0},{k * 0.5}" for k in range(24)]
    (tmp_path / "new.csv").write_text("\n".join(new) + "\n", encoding="utf-8")
    predict(runner, run, "--data", str(tmp_path / "train.csv"), "-o", str(tmp_path / "a.csv"))
    result = predict(runner, run, "--data", str(tmp_path / "new.csv"), "-o", str(tmp_path / "b.csv"))
    assert "24 predictions saved" in result.stdout
    assert any(f"'{name}'" in result.stdout for name in names)  # the first few, by name
    first = (tmp_path / "a.csv").read_text(encoding="utf-8")
    assert (tmp_path / "b.csv").read_text(encoding="utf-8") == first
    header, *rows = list(csv.reader(first.splitlines()))
    assert header == ["setosa", "versicolor", "virginica", "top_class"]
    assert {row[3] for row in rows} <= set(names)
    source = f'csv("{tmp_path / "new.csv"}", target="species")'  # absent in the file: fine
    predict(runner, run, "--data", source, "-o", str(tmp_path / "c.csv"))
    assert (tmp_path / "c.csv").read_text(encoding="utf-8") == first

    (tmp_path / "short.csv").write_text("width,len\n1,2\n", encoding="utf-8")
    result = predict(runner, run, "--data", str(tmp_path / "short.csv"), status=1)
    assert "no column 'length', which the run was trained on" in result.stderr
    assert "the run's feature columns: length, width" in result.stderr


def test_csv_columns_of_regression_and_several_outputs() -> None:
    regression = model_of(spec_text(layers="Dense(2)", loss="mean_squared_error"))
    source = model_of(spec_text(), data='csv("d.csv", target="price")').train.data
    kinds = prediction.output_kinds(regression, None, inputs.Training(source))
    assert prediction.csv_header(kinds, files=False) == ["price_0", "price_1"]
    two = checked_model("two_tower")
    kinds = prediction.output_kinds(two, None, inputs.Training(two.train.data))
    header = prediction.csv_header(kinds, files=True)
    assert header == ["file", *(f"plan.{k}" for k in range(5)), "plan.top_class", "spend.spend"]


def test_an_output_file_is_written_whole_or_not_at_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write that fails half-way leaves the previous predictions as they were, and no
    partial file beside them."""
    regression = model_of(spec_text(layers="Dense(2)", loss="mean_squared_error"))
    source = model_of(spec_text(), data='csv("d.csv", target="price")').train.data
    kinds = prediction.output_kinds(regression, None, inputs.Training(source))
    output = tmp_path / "predictions.csv"
    output.write_text("the previous predictions\n", encoding="utf-8")

    def fail_half_way(path: Path, *_: object) -> None:
        Path(path).write_text("price_0,price_1\n1.0,", encoding="utf-8")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(prediction, "_write_csv", fail_half_way)
    with pytest.raises(training.TrainError, match=r"predictions\.csv"):
        prediction.save(output, (np.ones((2, 2), np.float32),), kinds, None)
    assert output.read_text(encoding="utf-8") == "the previous predictions\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["predictions.csv"]


# --------------------------------------------------------------------------- images


@pytest.mark.parametrize("backend", BACKENDS)
def test_image_files_and_folders_are_read_as_the_run_read_its_images(
    runner: CliRunner, tmp_path: Path, backend: str
) -> None:
    folder = image_folder(tmp_path / "images")
    run = tmp_path / "run"
    outcome = training.train(
        image_spec(folder, tmp_path / "p.net"), {"epochs": "1", "workers": "0"}, options(backend, run)
    )
    assert outcome.status == 0, [d.message for d in outcome.diagnostics]
    flat = tmp_path / "new"
    flat.mkdir()
    for name in ("dog/1.jpg", "cat/0.png", "owl/2.png"):  # their classes' images, renamed
        Image.open(folder / name).resize((12, 10)).save(flat / name.replace("/", "_"))
    result = predict(runner, run, "--data", str(flat), "-o", str(tmp_path / "p.csv"))
    assert "3 predictions saved" in result.stdout
    header, *rows = list(csv.reader((tmp_path / "p.csv").read_text().splitlines()))
    assert header == ["file", "cat", "dog", "owl", "top_class"]
    assert [row[0] for row in rows] == ["cat_0.png", "dog_1.jpg", "owl_2.png"]
    one = predict(runner, run, "--data", str(flat / "dog_1.jpg"), "-o", str(tmp_path / "one.csv"))
    assert "1 predictions saved" in one.stdout
    alone = list(csv.reader((tmp_path / "one.csv").read_text().splitlines()))[1]
    assert alone[0] == rows[1][0] and alone[-1] == rows[1][-1]
    np.testing.assert_allclose([float(v) for v in alone[1:4]], [float(v) for v in rows[1][1:4]], rtol=1e-5)
    predict(runner, run, "--data", str(folder), "-o", str(tmp_path / "all.npz"))
    with np.load(tmp_path / "all.npz", allow_pickle=False) as saved:
        assert saved["dense.class_names"].tolist() == ["cat", "dog", "owl"]
        assert len(saved["files"]) == 12 and saved["dense"].shape == (12, 3)


def test_images_for_a_run_trained_on_arrays_must_have_its_size(tmp_path: Path) -> None:
    model = model_of(spec_text(input_shape="[8, 8, 3]", layers="Flatten\nDense(3)"))
    trained = inputs.Training(model_of(spec_text(), data='npz("train.npz")').train.data)
    Image.new("RGB", (8, 8)).save(tmp_path / "fits.png")
    Image.new("RGB", (9, 8)).save(tmp_path / "wide.png")
    raw = inputs.load(model, trained, path=tmp_path / "fits.png")
    assert inputs.split(raw, model, None, trained).arrays()[0].shape == (1, 8, 8, 3)
    error = data_error("E0401", inputs.load, model, trained, path=tmp_path / "wide.png")
    assert "9×8 pixels" in error.message and "8×8" in error.message
    assert error.hint is not None and "resize" in error.hint
    (tmp_path / "notes.txt").write_text("x")
    error = data_error("E0402", inputs.load, model, trained, path=tmp_path)
    assert "notes.txt" in error.message


# --------------------------------------------------------------------------- several inputs


def test_a_model_with_several_inputs_takes_an_array_per_input_name(tmp_path: Path) -> None:
    model = checked_model("two_tower")
    trained = inputs.Training(model.train.data)
    rng = np.random.default_rng(0)
    profile = rng.normal(size=(5, 20)).astype(np.float32)
    history = rng.normal(size=(5, 10, 8)).astype(np.float32)
    np.savez(tmp_path / "both.npz", history=history, profile=profile)  # no targets
    raw = inputs.load(model, trained, path=tmp_path / "both.npz")
    x = inputs.split(raw, model, None, trained).arrays()[0]
    np.testing.assert_array_equal(x[0], profile)
    np.testing.assert_array_equal(x[1], history)
    np.savez(tmp_path / "one.npz", profile=profile)
    raw = inputs.load(model, trained, path=tmp_path / "one.npz")
    error = data_error("E0402", inputs.split, raw, model, None, trained)
    assert "'history'" in error.message and "profile, history" in (error.hint or "")
    # arrays named as the run's own npz source named them
    listed = model_of(
        spec_text(), data='npz("train.npz", x=["p", "h"], y=["plan", "spend"])'
    ).train.data
    np.savez(tmp_path / "listed.npz", h=history, p=profile)
    raw = inputs.load(model, inputs.Training(listed), path=tmp_path / "listed.npz")
    x = inputs.split(raw, model, None, trained).arrays()[0]
    np.testing.assert_array_equal(x[1], history)
    np.save(tmp_path / "x.npy", profile)
    error = data_error("E0401", inputs.load, model, trained, path=tmp_path / "x.npy")
    assert "2 inputs (profile, history)" in error.message
    assert 'np.savez("new.npz", profile=…, history=…)' in (error.hint or "")


def test_a_path_and_a_source_are_told_apart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "digits").mkdir()  # a folder named like a source: the source still wins
    assert inputs.path_of("digits") is None
    assert inputs.path_of('npz("new.npz")') is None
    assert inputs.path_of("new.npz") == Path("new.npz")  # absent: an error names it later
    assert inputs.path_of("images/") == Path("images")
    (tmp_path / "pictures").mkdir()
    assert inputs.path_of("pictures") == Path("pictures")
    assert inputs.path_of("blobs(samples=10)") is None


# --------------------------------------------------------------------------- the run's module


def test_a_changed_model_py_is_refused_not_run(
    runner: CliRunner, digits_run: tuple[str, Path], tmp_path: Path
) -> None:
    """evaluate and predict run only the module netspec generates from the run's spec: a
    model.py that differs from it (edited, or planted in a downloaded run folder) is refused
    with a message saying so, before a line of it runs; train --resume refuses it too rather
    than write over the edit. Without model.py, they run the
    module netspec generates."""
    backend, trained_run = digits_run
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    marker = tmp_path / "marker"
    module = run / "model.py"
    module.write_text(
        module.read_text(encoding="utf-8") + f"\nopen({str(marker)!r}, 'w').close()\n",
        encoding="utf-8",
    )
    np.save(tmp_path / "new.npy", new_inputs())
    for command in (
        ["evaluate", str(run), "--device", "cpu", "--threads", "1"],
        ["predict", str(run), "--data", str(tmp_path / "new.npy"), "--device", "cpu"],
        ["train", "--resume", str(run), "--device", "cpu", "--threads", "1"],
    ):
        result = invoke(runner, command, status=2)
        assert not marker.exists(), (backend, command[0])
        assert f"{module} is not the module netspec generates" in result.stderr
        assert "delete" in result.stderr  # the hint: how to run the generated module
    assert module.read_text(encoding="utf-8").endswith(f"open({str(marker)!r}, 'w').close()\n")
    module.unlink()
    predict(runner, run, "--data", str(tmp_path / "new.npy"), "-o", str(tmp_path / "p.npy"))
    assert np.load(tmp_path / "p.npy").shape == (20, 10)
    assert not marker.exists()
