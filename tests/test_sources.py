"""The sources that stream: `.npy` files read by rows, and image folders decoded with Pillow.

Every file is one the test writes into tmp_path: a few small arrays, a folder of 8×8 PNG and
JPEG images. Each way such data can be wrong is a clear error before training, with what to
do about it; a file that breaks only when decoded stops a run with a diagnostic, not a
traceback, from the training process and from a DataLoader worker alike.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_data import data_error, model_of, spec_text
from test_train import invoke, options, read_json
from typer.testing import CliRunner

import netspec.train as training
from netspec import data
from netspec.catalogue.columns import ColumnError, NpyRows

# --------------------------------------------------------------------------- .npy rows


def test_npy_rows_read_any_rows_in_the_order_asked(tmp_path: Path) -> None:
    array = np.arange(5 * 2 * 3, dtype=">f4").reshape(5, 2, 3)  # big-endian, as saved elsewhere
    np.save(tmp_path / "a.npy", array)
    column = NpyRows(tmp_path / "a.npy")
    assert column.shape == (5, 2, 3) and len(column) == 5
    for rows in ([3, 0, 4], [2, 2, 1, 2], list(range(5)), [4], []):
        np.testing.assert_array_equal(column[np.array(rows, dtype=np.int64)], array[rows])
    np.testing.assert_array_equal(column[1:4], array[1:4])
    with pytest.raises(IndexError):
        column[np.array([5])]


@pytest.mark.parametrize(
    ("write", "message"),
    [
        (lambda p: p.write_bytes(b"not a numpy file"), "cannot read"),
        (lambda p: np.save(p, np.asfortranarray(np.ones((3, 4)))), "Fortran"),
        (lambda p: np.save(p, np.array([{"a": 1}], dtype=object), allow_pickle=True), "Python objects"),
        (lambda p: p.write_bytes(_npy_bytes(np.ones((10, 4)))[:-8]), "truncated"),
        (lambda p: np.save(p, np.float32(3.0)), "single number"),
    ],
    ids=["not-npy", "fortran", "objects", "truncated", "scalar"],
)
def test_a_broken_npy_file_is_named_before_training(tmp_path: Path, write, message: str) -> None:
    path = tmp_path / "x.npy"
    write(path)
    with pytest.raises(ColumnError, match=message):
        NpyRows(path)


def test_a_file_that_is_not_npy_is_named_in_netspec_words(tmp_path: Path) -> None:
    path = tmp_path / "x.npy"
    path.write_bytes(b"junk")
    with pytest.raises(ColumnError) as caught:
        NpyRows(path)
    assert caught.value.message == f"cannot read {path}: it is not a NumPy .npy file"
    with pytest.raises(ColumnError, match="No such file or directory") as caught:
        NpyRows(tmp_path / "absent.npy")
    assert "[Errno" not in caught.value.message


def _npy_bytes(array: np.ndarray) -> bytes:
    import io

    stream = io.BytesIO()
    np.save(stream, array)
    return stream.getvalue()


def test_npy_dir_gives_columns_a_test_set_and_named_arrays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    np.save(tmp_path / "x.npy", np.ones((10, 4), np.float32))
    np.save(tmp_path / "y.npy", np.arange(10) % 3)
    np.save(tmp_path / "x_test.npy", np.zeros((4, 4), np.float32))
    np.save(tmp_path / "y_test.npy", np.arange(4) % 3)
    model = model_of(spec_text(), data=f'npy_dir("{tmp_path}")')
    prepared = data.prepare(model, model.train)
    assert isinstance(prepared.train.x[0], np.ndarray)  # small files are read whole
    monkeypatch.setattr("netspec.catalogue.data.NPY_IN_MEMORY_BYTES", 0)
    prepared = data.prepare(model, model.train)
    assert isinstance(prepared.train.x[0], NpyRows)  # larger ones: nothing read yet
    assert len(prepared.train) == 10 and len(prepared.test) == 4  # type: ignore[arg-type]
    np.testing.assert_array_equal(prepared.x_test, np.zeros((4, 4)))
    other = model_of(spec_text(), data=f'npy_dir("{tmp_path}", x="z")')
    missing = data_error("E0402", data.prepare, other, other.train)
    assert "has no z.npy" in missing.message and "x.npy" in (missing.hint or "")


def test_npy_dir_data_is_checked_like_any_other(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.ones((10, 5), np.float32))
    np.save(tmp_path / "y.npy", np.arange(10) % 3)
    model = model_of(spec_text(), data=f'npy_dir("{tmp_path}")')
    assert "samples of shape [5]" in data_error("E0401", data.prepare, model, model.train).message
    np.save(tmp_path / "y.npy", np.arange(10))
    assert "range from 0 to 9" in data_error("E0404", data.prepare, model, model.train).message


# --------------------------------------------------------------------------- image folders

COLOURS = {"cat": (200, 30, 30), "dog": (30, 200, 30), "owl": (30, 30, 200)}


def image_folder(root: Path, per_class: int = 4, size: tuple[int, int] = (8, 8)) -> Path:
    """Three classes of small PNG and JPEG images, each mostly its class's colour."""
    rng = np.random.default_rng(0)
    for name, colour in COLOURS.items():
        (root / name).mkdir(parents=True)
        for k in range(per_class):
            pixels = np.clip(np.array(colour) + rng.integers(-20, 20, (*size[::-1], 3)), 0, 255)
            image = Image.fromarray(pixels.astype(np.uint8))
            image.save(root / name / f"{k}.{'png' if k % 2 == 0 else 'jpg'}")
    return root


IMAGE_SPEC = """
model pictures {
  input [8, 8, CHANNELS]
  layers {
    Flatten
    Dense(3, activation=softmax)
  }
  loss sparse_categorical_crossentropy
  optimizer Adam(lr=1e-2)
  metrics [accuracy]
  train { data = DATA, divide_by = 255, epochs = 2, batch_size = 4, test_split = 0.25 }
}
"""


def image_spec(folder: Path, path: Path, channels: int = 3, source: str = "") -> Path:
    text = IMAGE_SPEC.replace("CHANNELS", str(channels))
    text = text.replace("DATA", source or f'image_folder("{folder}")')
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def prepared_images(folder: Path, tmp_path: Path, channels: int = 3, source: str = ""):
    from netspec.frontend import check_file

    model, diagnostics, _ = check_file(image_spec(folder, tmp_path / "p.net", channels, source))
    assert model is not None, [d.message for d in diagnostics]
    return model, data.prepare(model, model.train)


def test_image_folder_reads_classes_in_name_order(tmp_path: Path) -> None:
    folder = image_folder(tmp_path / "images", size=(10, 6))  # resized to 8 × 8
    _, prepared = prepared_images(folder, tmp_path)
    assert prepared.class_names == ("cat", "dog", "owl") and prepared.decodes
    x, y = prepared.train[np.arange(len(prepared.train))]
    assert x.shape == (9, 8, 8, 3) and x.dtype == np.float32 and x.min() >= 0 and x.max() <= 1
    # each image is mostly its class's colour: the brightest channel names the class
    np.testing.assert_array_equal(x.mean(axis=(1, 2)).argmax(axis=1), y)
    assert prepared.summary()["classes"] == ["cat", "dog", "owl"]


def test_image_folder_converts_to_the_input_channels_and_crops(tmp_path: Path) -> None:
    folder = image_folder(tmp_path / "images", size=(16, 8))
    _, grey = prepared_images(folder, tmp_path, channels=1)
    assert grey.x_train.shape[1:] == (8, 8, 1)
    _, cropped = prepared_images(
        folder, tmp_path, source=f'image_folder("{folder}", crop=true, interpolation=nearest)'
    )
    assert cropped.x_train.shape[1:] == (8, 8, 3)


@pytest.mark.parametrize(
    ("spoil", "message", "hint"),
    [
        (lambda f: (f / "dog" / "notes.txt").write_text("x"), "is not an image: dog/notes.txt", "move the others"),
        (lambda f: [p.unlink() for p in (f / "owl").iterdir()], "'owl'", "at least one image"),
        (lambda f: (f / "cat" / "9.png").write_bytes(b"not a png"), "1 of 13 files", "cat/9.png"),
        (lambda f: (f / "stray.png").write_bytes(b""), "beside its class folders: stray.png", "sub-folder"),
    ],
    ids=["non-image-file", "empty-class", "unreadable-image", "loose-file"],
)
def test_a_broken_image_folder_is_named_before_training(
    tmp_path: Path, spoil, message: str, hint: str
) -> None:
    folder = image_folder(tmp_path / "images")
    spoil(folder)
    model = model_of(spec_text(input_shape="[8, 8, 3]", layers="Flatten\nDense(3)"), data=f'image_folder("{folder}")')
    error = data_error("E0402", data.prepare, model, model.train)
    assert message in error.message and hint in (error.message + (error.hint or ""))


def test_hidden_files_are_left_out(tmp_path: Path) -> None:
    folder = image_folder(tmp_path / "images")
    (folder / ".DS_Store").write_bytes(b"\0")
    (folder / "cat" / ".thumbnail.png").write_bytes(b"\0")
    _, prepared = prepared_images(folder, tmp_path)
    assert len(prepared.train) + len(prepared.test) == 12  # type: ignore[arg-type]


def test_image_folder_classes_must_match_the_model(tmp_path: Path) -> None:
    folder = image_folder(tmp_path / "images")
    model = model_of(
        spec_text(input_shape="[8, 8, 3]", layers="Flatten\nDense(5, activation=softmax)"),
        data=f'image_folder("{folder}")',
    )
    error = data_error("E0404", data.prepare, model, model.train)
    assert "3 classes (cat, dog, owl)" in error.message and error.hint == "give the last layer 3 units"
    flat = model_of(spec_text(input_shape="[192]", layers="Dense(3)"), data=f'image_folder("{folder}")')
    assert "[height, width, channels]" in data_error("E0401", data.prepare, flat, flat.train).message


def test_a_validation_folder_must_have_the_same_classes(tmp_path: Path) -> None:
    folder = image_folder(tmp_path / "images")
    other = image_folder(tmp_path / "other")
    (other / "owl").rename(other / "bat")
    source = f'image_folder("{folder}", validation="{other}")'
    model = model_of(spec_text(input_shape="[8, 8, 3]", layers="Flatten\nDense(3)"), data=source)
    assert "are not the training folder's" in data_error("E0402", data.prepare, model, model.train).message


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_an_image_folder_trains_streamed_and_predict_names_the_classes(
    tmp_path: Path, backend: str
) -> None:
    folder = image_folder(tmp_path / "images")
    validation = image_folder(tmp_path / "validation", per_class=2)
    source = f'image_folder("{folder}", validation="{validation}")'
    spec = image_spec(folder, tmp_path / "p.net", source=source)
    out = tmp_path / "run"
    outcome = training.train(spec, {"pipeline": "stream"}, options(backend, out))
    assert outcome.status == 0, [d.message for d in outcome.diagnostics]
    assert json.loads((out / "classes.json").read_text()) == {"names": ["cat", "dog", "owl"]}
    record = read_json(out / "run.json")
    assert record["data"]["validation"] == 6 and record["data"]["classes"] == ["cat", "dog", "owl"]
    assert record["pipeline"]["workers"] >= 1  # images decode in worker processes
    assert "val_loss" in read_json(out / "history.json")
    result = invoke(CliRunner(), ["predict", str(out), "--device", "cpu", "--threads", "1"])
    assert "12 predictions saved" in result.stdout
    assert any(name in result.stdout for name in ("'cat'", "'dog'", "'owl'"))


@pytest.mark.parametrize("workers", ["0", "1"])
def test_an_image_that_breaks_while_decoding_stops_the_run_with_a_diagnostic(
    tmp_path: Path, workers: str
) -> None:
    """The header reads (the check passes), the pixels do not: the run stops with the file's
    name, from the training process (workers 0) and from a DataLoader worker (1)."""
    folder = image_folder(tmp_path / "images", size=(64, 64))
    broken = folder / "dog" / "0.png"
    broken.write_bytes(broken.read_bytes()[:120])  # header and a little of the pixel data
    spec = image_spec(folder, tmp_path / "p.net")
    spec.write_text(spec.read_text().replace("test_split = 0.25", "test_split = 0.0"))
    out = tmp_path / "run"
    outcome = training.train(spec, {"pipeline": "stream", "workers": workers}, options("torch", out))
    assert outcome.status == 1
    [diagnostic] = list(outcome.diagnostics)
    assert diagnostic.code == "E0402" and "dog/0.png" in diagnostic.message
    assert "cannot be decoded" in diagnostic.message and diagnostic.hint
    assert read_json(out / "run.json")["status"] == "failed"


def test_a_data_error_inside_tf_data_comes_back_as_itself() -> None:
    """tf.data reports a failed tf.numpy_function with the Python error's text inside its
    own; netspec finds the DataError in it (the Keras side of the test above)."""
    tf = pytest.importorskip("tensorflow")

    def read(index: np.ndarray) -> np.ndarray:
        raise data.DataError("E0402", "dog/0.png in /images cannot be decoded: truncated", "replace it")

    batches = tf.data.Dataset.range(4).batch(2).map(
        lambda i: tf.numpy_function(read, [i], tf.float32, stateful=False)
    )
    with pytest.raises(tf.errors.OpError) as caught:
        list(batches)
    found = data.DataError.from_worker(str(caught.value))
    assert found is not None and found.code == "E0402"
    assert found.message == "dog/0.png in /images cannot be decoded: truncated"
    assert found.hint == "replace it"


def test_data_is_checked_before_any_framework_is_imported(tmp_path: Path) -> None:
    """A broken image folder is reported by `netspec train` before PyTorch or TensorFlow load."""
    import subprocess
    import sys

    folder = image_folder(tmp_path / "images")
    (folder / "owl" / "3.png").write_bytes(b"not a png")
    spec = image_spec(folder, tmp_path / "p.net")
    script = textwrap.dedent(
        f"""
        import json, sys
        from typer.testing import CliRunner
        from netspec.cli import app
        result = CliRunner().invoke(app, ["train", {str(spec)!r}, "--backend", "keras", "--log", "quiet"])
        frameworks = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "tensorflow", "keras"))
        print(json.dumps({{"status": result.exit_code, "stderr": result.stderr, "frameworks": frameworks}}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["status"] == 1 and "owl/3.png" in report["stderr"]
    assert report["frameworks"] == []
