"""Broken and hostile data files refused before the first step: NaN, infinite and huge values
(E0405, naming the array, the count and the first index), 0-d arrays, an IDX header cut short,
a damaged zip, empty sets and splits that round to nothing; for `netspec train` and
`netspec predict` alike. No framework is needed but for the two end-to-end refusals."""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
from test_data import data_error, load, model_of, prepare, spec_text, write_idx, write_idx_folder
from typer.testing import CliRunner

from netspec import data, inputs
from netspec.catalogue.values import HUGE
from netspec.cli import app
from netspec.train.context import TrainError


def features(rows: int = 10) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.normal(size=(rows, 4)).astype(np.float32), np.arange(rows) % 3


# --------------------------------------------------------------------------- NaN, inf, huge


@pytest.mark.parametrize(
    ("value", "words", "dtype"),
    [
        (np.nan, "2 NaN values", np.float32),
        (np.inf, "2 infinite values", np.float32),
        (-3e38, "2 huge", np.float32),
        (1e300, "2 huge", np.float64),  # infinite once it is float32
    ],
)
def test_bad_values_in_npz_inputs_name_the_array_the_count_and_the_first(
    tmp_path: Path, value: float, words: str, dtype: type
) -> None:
    x, y = features()
    x = x.astype(dtype)
    x[3, 1] = x[7, 2] = value
    np.savez(tmp_path / "f.npz", x=x, y=y)
    error = data_error("E0405", load, f'npz("{tmp_path / "f.npz"}")')
    assert "array 'x'" in error.message and words in error.message
    assert "the first at sample 3 (index [3, 1]" in error.message
    assert error.hint


def test_nan_targets_are_named_as_nan_not_as_fractions(tmp_path: Path) -> None:
    x, y = features()
    labels = y.astype(np.float64)
    labels[4] = np.nan
    np.savez(tmp_path / "f.npz", x=x, y=labels)
    error = data_error("E0405", load, f'npz("{tmp_path / "f.npz"}")')
    assert "array 'y' holds 1 NaN value, the first at sample 4" in error.message


@pytest.mark.parametrize(
    ("field", "words"), [("nan", "1 NaN"), ("-inf", "1 infinite"), ("1e39", "1 huge")]
)
def test_bad_values_in_a_csv_name_the_line_and_column(
    tmp_path: Path, field: str, words: str
) -> None:
    path = tmp_path / "f.csv"
    path.write_text(f"a,b,c,d,label\n1,2,3,4,0\n1,{field},3,4,1\n1,2,3,4,2\n", encoding="utf-8")
    error = data_error("E0405", load, f'csv("{path}", target="label")')
    assert f"{path}:3: column 'b' holds '{field}'" in error.message
    assert words in error.message


def test_an_infinite_csv_target_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text("a,b,c,d,y\n1,2,3,4,0.5\n1,2,3,4,inf\n1,2,3,4,1.5\n", encoding="utf-8")
    model = model_of(
        spec_text(layers="Dense(1)", loss="mean_squared_error"), data=f'csv("{path}", target="y")'
    )
    error = data_error("E0405", data.prepare, model, model.train)
    assert "the target column 'y' holds 1 infinite value, the first at sample 1" in error.message


def test_nan_in_an_idx_file_names_the_file(tmp_path: Path) -> None:
    write_idx_folder(tmp_path)
    images = np.zeros((12, 28, 28), dtype=">f4")
    images[2, 5, 6] = np.nan
    write_idx(tmp_path / "train-images-idx3-ubyte", images)
    error = data_error("E0405", load, f'idx("{tmp_path}")')
    assert "train-images-idx3-ubyte holds 1 NaN value" in error.message
    assert "sample 2 (index [2, 5, 6]" in error.message


def test_bad_values_from_any_source_are_refused_before_splitting() -> None:
    """A source without a check of its own (synthetic, npy_dir, …): the generic one."""
    model = make_regression()
    x = np.ones((20, 4), np.float32)
    y = np.ones((20, 1), np.float32)
    y[9, 0] = np.inf
    error = data_error("E0405", prepare, model, x, y, description="a test set")
    assert "the targets (a test set) hold 1 infinite value, the first at sample 9" in error.message
    y[9, 0] = 1.0
    x[0, 0] = 2e19
    error = data_error("E0405", prepare, model, x, y)
    assert "the inputs hold 1 huge" in error.message
    x[0, 0] = np.float32(HUGE) * np.float32(0.99)  # below the limit: trains
    assert prepare(model, x, y).samples == 16


def make_regression():
    return model_of(spec_text(layers="Dense(1)", loss="mean_squared_error"))


def test_complex_inputs_are_refused_not_cut_to_their_real_part() -> None:
    model = make_regression()
    x = np.ones((20, 4), np.complex64) * 1j
    error = data_error("E0403", prepare, model, x, np.ones((20, 1), np.float32))
    assert "complex64" in error.message and error.hint and "imaginary" in error.hint


# --------------------------------------------------------------------------- broken files


def test_a_0d_array_is_refused(tmp_path: Path) -> None:
    np.savez(tmp_path / "f.npz", x=np.float32(3), y=np.int64(1))
    error = data_error("E0403", load, f'npz("{tmp_path / "f.npz"}")')
    assert "array 'x' is a single number (a 0-d array)" in error.message
    model = make_regression()
    error = data_error("E0403", prepare, model, np.ones((3, 4)), np.float32(1))
    assert "the targets are a single number" in error.message


def test_an_idx_header_cut_short_is_refused(tmp_path: Path) -> None:
    write_idx_folder(tmp_path)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(bytes([0, 0, 8, 3, 0, 0]))
    error = data_error("E0402", load, f'idx("{tmp_path}")')
    assert "is truncated: its header gives 3 dimensions but holds 0 sizes" in error.message


def test_a_broken_gzipped_idx_file_is_refused(tmp_path: Path) -> None:
    write_idx_folder(tmp_path, gz=True)
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-9])  # the gzip trailer cut
    data_error("E0402", load, f'idx("{tmp_path}")')


def test_a_zip_of_an_unknown_version_is_refused(tmp_path: Path) -> None:
    x, y = features()
    path = tmp_path / "f.npz"
    np.savez(path, x=x, y=y)
    content = bytearray(path.read_bytes())
    central = content.index(b"PK\x01\x02")
    content[central + 6 : central + 8] = struct.pack("<H", 0xFF)  # version needed: 25.5
    path.write_bytes(bytes(content))
    with pytest.raises(NotImplementedError):
        zipfile.ZipFile(path)
    error = data_error("E0402", load, f'npz("{path}")')
    assert "is not a NumPy .npz file" in error.message


def test_no_samples_says_so() -> None:
    model = model_of(spec_text())
    error = data_error(
        "E0403",
        prepare,
        model,
        np.zeros((0, 4)),
        np.zeros(0, np.int64),
        description="csv file e.csv",
    )
    assert error.message == "csv file e.csv holds no samples"


def test_a_split_that_rounds_to_no_samples_is_refused() -> None:
    """One sample with test_split = 0.2 held none out: the test loss came out NaN."""
    model = model_of(spec_text())
    x, y = features(2)
    error = data_error("E0403", prepare, model, x, y)
    assert error.message == "test_split = 0.2 of 2 samples holds none"
    assert error.hint == "give at least 3 samples, or set test_split = 0"
    assert prepare(model, *features(3)).samples == 2
    one = model_of(spec_text(train="test_split = 0"))
    assert prepare(one, *features(1)).samples == 1
    validation = model_of(spec_text(train="test_split = 0\nvalidation_split = 0.1"))
    error = data_error("E0403", prepare, validation, *features(5))
    assert error.message == "validation_split = 0.1 of 5 samples holds none"


# --------------------------------------------------------------------------- predict


def test_predict_refuses_the_same_files(tmp_path: Path) -> None:
    model = model_of(spec_text())
    training = inputs.Training(None)
    x, _ = features()
    x[5, 0] = np.nan
    np.save(tmp_path / "x.npy", x)
    raw = inputs.load(model, training, path=tmp_path / "x.npy")
    error = data_error("E0405", inputs.split, raw, model, None, training)
    assert (
        f"the inputs (npy file {tmp_path / 'x.npy'}) hold 1 NaN value, the first at sample 5"
        in error.message
    )
    np.savez(tmp_path / "x.npz", x=x)
    error = data_error("E0405", inputs.load, model, training, path=tmp_path / "x.npz")
    assert "array 'x' holds 1 NaN value" in error.message
    (tmp_path / "cut.npz").write_bytes((tmp_path / "x.npz").read_bytes()[:50])
    data_error("E0402", inputs.load, model, training, path=tmp_path / "cut.npz")


def test_init_from_a_keras_file_that_is_no_zip_is_refused_without_keras(tmp_path: Path) -> None:
    from netspec.train.convert import kind_of

    path = tmp_path / "w.keras"
    path.write_bytes(b"not a zip archive")
    with pytest.raises(TrainError, match=r"is not a \.keras file"):
        kind_of(path)


# --------------------------------------------------------------------------- end to end


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_train_refuses_nan_before_step_one(tmp_path: Path, backend: str) -> None:
    x, y = features(40)
    x[3, 1] = np.nan
    np.savez(tmp_path / "f.npz", x=x, y=y)
    spec = tmp_path / "s.net"
    spec.write_text(spec_text(), encoding="utf-8")
    keras = tmp_path / "w.keras"
    keras.write_bytes(b"not a zip archive")
    out = tmp_path / "run"
    command = ["train", str(spec), "--backend", backend, "--log", "quiet", "--out", str(out)]
    result = CliRunner().invoke(app, [*command, "--data", f'npz("{tmp_path / "f.npz"}")'])
    assert result.exit_code == 1, result.output
    assert "error[E0405]" in result.stderr and "array 'x' holds 1 NaN value" in result.stderr
    assert "Traceback" not in result.stderr and not out.exists()
    np.savez(tmp_path / "f.npz", x=np.nan_to_num(x), y=y)
    result = CliRunner().invoke(
        app, [*command, "--data", f'npz("{tmp_path / "f.npz"}")', "--init-from", str(keras)]
    )
    assert result.exit_code != 0 and "is not a .keras file" in result.stderr
    assert "Traceback" not in result.stderr and not out.exists()
