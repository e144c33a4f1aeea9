"""Data for `netspec train`: loaders, preprocessing, and every data-versus-spec mismatch.

Nothing here needs a framework or a data set on disk beyond what the tests write into
`tmp_path` (and scikit-learn's bundled sets): no /usr/share/datasets, no network.
"""

from __future__ import annotations

import gzip
import struct
import textwrap
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from netspec import data, ir
from netspec.catalogue.data import RawData, csv_inputs
from netspec.cli import app
from netspec.frontend import check_source

# --------------------------------------------------------------------------- helpers


def spec_text(
    input_shape: str = "[4]",
    layers: str = "Dense(3, activation=softmax)",
    loss: str = "sparse_categorical_crossentropy",
    train: str = "",
) -> str:
    return textwrap.dedent(
        f"""\
        model m {{
          input {input_shape}
          layers {{
            {layers}
          }}
          loss {loss}
          optimizer Adam
          train {{
            seed = 0
            {train}
          }}
        }}
        """
    )


def model_of(source: str, **overrides: str) -> ir.Model:
    model, diagnostics = check_source(source, "test.net", overrides)
    assert model is not None, [f"{d.code} {d.message}" for d in diagnostics]
    return model


def make_model(**kwargs: str) -> ir.Model:
    return model_of(spec_text(**kwargs))


def source_of(text: str) -> ir.DataSource:
    """A data source written in spec syntax, as `--data` takes it."""
    model = model_of(spec_text(), data=text)
    assert model.train.data is not None
    return model.train.data


def load(text: str, seed: int = 0) -> RawData:
    return data.load(source_of(text), seed)


def prepare(model: ir.Model, x: np.ndarray, y: np.ndarray, **raw: object) -> data.Prepared:
    return data.prepare_raw(RawData(np.asarray(x), np.asarray(y), **raw), model, model.train)  # type: ignore[arg-type]


def data_error(code: str, call, *args, **kwargs) -> data.DataError:
    with pytest.raises(data.DataError) as caught:
        call(*args, **kwargs)
    assert caught.value.code == code, caught.value.message
    return caught.value


# --------------------------------------------------------------------------- IDX

IDX_TYPES = {np.dtype(np.uint8): 0x08, np.dtype(">f4"): 0x0D}


def idx_bytes(array: np.ndarray) -> bytes:
    array = np.asarray(array)
    header = struct.pack(">BBBB", 0, 0, IDX_TYPES[array.dtype], array.ndim)
    return header + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def write_idx(path: Path, array: np.ndarray) -> Path:
    raw = idx_bytes(array)
    if path.suffix == ".gz":
        with gzip.open(path, "wb") as stream:
            stream.write(raw)
    else:
        path.write_bytes(raw)
    return path


def idx_arrays(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "train-images-idx3-ubyte": rng.integers(0, 256, (12, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, 12, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, 5, dtype=np.uint8),
    }


def write_idx_folder(folder: Path, gz: bool = False, seed: int = 0) -> dict[str, np.ndarray]:
    folder.mkdir(parents=True, exist_ok=True)
    arrays = idx_arrays(seed)
    for stem, array in arrays.items():
        write_idx(folder / (stem + (".gz" if gz else "")), array)
    return arrays


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_idx_folder_loads_all_four_files(tmp_path: Path, gz: bool) -> None:
    arrays = write_idx_folder(tmp_path / "idx", gz=gz)
    raw = load(f'idx("{tmp_path / "idx"}")')
    assert raw.x.shape == (12, 28, 28) and raw.x.dtype == np.float32
    assert raw.y.shape == (12,) and raw.y.dtype == np.int64
    assert raw.x_test is not None and raw.y_test is not None
    assert raw.x_test.shape == (5, 28, 28) and raw.y_test.shape == (5,)
    np.testing.assert_array_equal(raw.x, arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(raw.y, arrays["train-labels-idx1-ubyte"])
    np.testing.assert_array_equal(raw.x_test, arrays["t10k-images-idx3-ubyte"])
    np.testing.assert_array_equal(raw.y_test, arrays["t10k-labels-idx1-ubyte"])
    all_labels = np.concatenate([raw.y, raw.y_test])
    assert raw.classes == int(all_labels.max()) + 1


def test_idx_dotted_file_names_load(tmp_path: Path) -> None:
    """The names some mirrors use: train-images.idx3-ubyte."""
    arrays = idx_arrays()
    for stem, array in arrays.items():
        write_idx(tmp_path / stem.replace("-idx", ".idx"), array)
    raw = load(f'idx("{tmp_path}")')
    np.testing.assert_array_equal(raw.y, arrays["train-labels-idx1-ubyte"])


def test_read_idx_of_floats(tmp_path: Path) -> None:
    from netspec.catalogue.data import read_idx

    array = (np.arange(6).reshape(2, 3) / 4).astype(">f4")
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "f.idx", array)), array)


def test_idx_bad_magic_number(tmp_path: Path) -> None:
    write_idx_folder(tmp_path)
    bad = tmp_path / "train-labels-idx1-ubyte"
    bad.write_bytes(b"\x12\x34" + bad.read_bytes()[2:])
    error = data_error("E0402", load, f'idx("{tmp_path}")')
    assert "bad magic number" in error.message
    assert "train-labels-idx1-ubyte" in error.message


def test_idx_truncated_file(tmp_path: Path) -> None:
    write_idx_folder(tmp_path, gz=True)
    images = tmp_path / "t10k-images-idx3-ubyte.gz"
    raw = gzip.decompress(images.read_bytes())
    images.write_bytes(gzip.compress(raw[:-100]))
    error = data_error("E0402", load, f'idx("{tmp_path}")')
    assert "truncated" in error.message
    assert f"{5 * 28 * 28 - 100} bytes" in error.message and f"{5 * 28 * 28}" in error.message


def test_idx_missing_file(tmp_path: Path) -> None:
    write_idx_folder(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    error = data_error("E0402", load, f'idx("{tmp_path}")')
    assert "t10k-labels-idx1-ubyte" in error.message
    assert error.hint is not None and "train-images-idx3-ubyte" in error.hint


def test_idx_missing_folder(tmp_path: Path) -> None:
    error = data_error("E0402", load, f'idx("{tmp_path / "nope"}")')
    assert "does not exist" in error.message and error.hint


def test_idx_lengths_differ(tmp_path: Path) -> None:
    write_idx_folder(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(11, dtype=np.uint8))
    error = data_error("E0402", load, f'idx("{tmp_path}")')
    assert "differ in length" in error.message


def test_fashion_mnist_missing_folder_hints_at_the_package(tmp_path: Path) -> None:
    error = data_error("E0402", load, f'fashion_mnist("{tmp_path / "some/missing/dir"}")')
    assert "Fashion-MNIST" in error.message
    assert error.hint is not None and "dataset-fashion-mnist" in error.hint


def test_fashion_mnist_and_mnist_read_a_folder_of_idx_files(tmp_path: Path) -> None:
    arrays = write_idx_folder(tmp_path, gz=True)
    for kind in ("fashion_mnist", "mnist"):
        raw = load(f'{kind}("{tmp_path}")')
        np.testing.assert_array_equal(raw.x, arrays["train-images-idx3-ubyte"])


# --------------------------------------------------------------------------- npz


def test_npz_default_names(tmp_path: Path) -> None:
    x = np.arange(20, dtype=np.float64).reshape(5, 4)
    y = np.array([0, 1, 2, 1, 0], dtype=np.int32)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    raw = load(f'npz("{tmp_path / "d.npz"}")')
    assert raw.x.dtype == np.float32 and raw.y.dtype == np.int64
    np.testing.assert_array_equal(raw.x, x)
    np.testing.assert_array_equal(raw.y, y)
    assert raw.x_test is None


def test_npz_custom_names(tmp_path: Path) -> None:
    x = np.ones((3, 2, 2))
    y = np.array([0.5, 1.5, 2.5])
    np.savez(tmp_path / "f.npz", img=x, lab=y)
    raw = load(f'npz("{tmp_path / "f.npz"}", x="img", y="lab")')
    assert raw.x.shape == (3, 2, 2)
    assert raw.y.dtype == np.float32
    np.testing.assert_array_equal(raw.y, y)


def test_npz_missing_array_lists_those_present(tmp_path: Path) -> None:
    np.savez(tmp_path / "f.npz", img=np.ones((3, 2)), lab=np.zeros(3))
    # without x and y the arrays are taken by the model's names (here "input" and its output)
    model = model_of(spec_text(), data=f'npz("{tmp_path / "f.npz"}")')
    error = data_error("E0402", data.prepare, model, model.train)
    assert "no array named 'input' for the model's input" in error.message
    assert error.hint is not None and "img" in error.hint and "lab" in error.hint
    error = data_error("E0402", load, f'npz("{tmp_path / "f.npz"}", x="img", y="labels")')
    assert "'labels'" in error.message


def test_npz_missing_or_broken_file(tmp_path: Path) -> None:
    error = data_error("E0402", load, f'npz("{tmp_path / "absent.npz"}")')
    assert "cannot read" in error.message
    (tmp_path / "broken.npz").write_bytes(b"not a zip file")
    data_error("E0402", load, f'npz("{tmp_path / "broken.npz"}")')


# Library wording that must never reach a user: Python's errno, NumPy's pickle advice.
_LEAKS = ("[Errno", "allow_pickle", "pickle", "could not convert", "magic string", "zip file")


@pytest.mark.parametrize(
    ("name", "make", "words"),
    [
        ("absent.npz", None, "No such file or directory"),
        ("folder.npz", lambda p: p.mkdir(), "is a folder"),
        ("text.npz", lambda p: p.write_bytes(b"not an archive"), "not a NumPy .npz file"),
        ("half.npz", "truncated", "not a NumPy .npz file"),
        ("objects.npz", "objects", "holds Python objects"),
    ],
)
def test_npz_that_cannot_be_read_says_why_in_netspec_words(
    tmp_path: Path, name: str, make, words: str
) -> None:
    path = tmp_path / name
    if make == "truncated":
        np.savez(tmp_path / "whole.npz", x=np.zeros((10, 4)), y=np.zeros(10))
        whole = (tmp_path / "whole.npz").read_bytes()
        path.write_bytes(whole[: len(whole) // 2])
    elif make == "objects":
        np.savez(path, x=np.array([{"a": 1}], dtype=object), y=np.zeros(1))
    elif make is not None:
        make(path)
    error = data_error("E0402", load, f'npz("{path}")')
    assert f"cannot read {path}" in error.message and words in error.message, error.message
    assert not any(leak in error.message for leak in _LEAKS), error.message


def test_csv_feature_that_is_not_a_number_names_it(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "d.csv", "a,b,t\n1,2,0\n1,x,1\n")
    error = data_error("E0402", load, f'csv("{path}", target="t")')
    assert error.message == f"{path}:3: column 'b' is not a number"  # the field is not quoted
    assert not any(leak in error.message for leak in _LEAKS)


SECRET = "SECRET-7f3a"


@pytest.mark.parametrize(
    ("text", "target"),
    [
        (f"root:x:0:0:{SECRET}:/root:/bin/bash\nbin:x:1:1::/bin:\n", "label"),  # /etc/passwd
        (f"-----BEGIN {SECRET} KEY-----\nAAAA\n", "label"),
        (f"{SECRET}\n", "label"),
        (f"user,password\nalice,{SECRET}\n", "user"),  # a header of names, then a field
        (f"a,b\n1,{SECRET}\n", "a"),
    ],
)
def test_a_message_about_a_csv_never_quotes_its_content(
    tmp_path: Path, text: str, target: str
) -> None:
    path = tmp_path / "d.csv"
    path.write_text(text, encoding="utf-8")
    error = data_error("E0402", load, f'csv("{path}", target="{target}")')
    assert SECRET not in f"{error.message} {error.hint}"


def test_a_header_of_names_is_listed_and_a_line_of_text_goes_by_column_number(
    tmp_path: Path,
) -> None:
    names = write_csv(tmp_path / "names.csv", "sepal length (cm),width,species\n1,2,x\n")
    assert data_error("E0402", load, f'csv("{names}", target="y")').hint == (
        "columns: sepal length (cm), width, species"
    )
    prose = write_csv(tmp_path / "prose.csv", "just: one line\n1\nx\n")
    error = data_error("E0402", csv_inputs, str(prose), None, None)
    assert error.message == f"{prose}:3: column 1 is not a number"


def test_npz_malformed_arrays(tmp_path: Path) -> None:
    np.savez(tmp_path / "n.npz", x=np.ones((4, 2)), y=np.zeros(3))
    error = data_error("E0403", load, f'npz("{tmp_path / "n.npz"}")')
    assert "4 inputs but 3 targets" in error.message
    np.savez(tmp_path / "s.npz", x=np.array([["a"], ["b"]]), y=np.zeros(2))
    error = data_error("E0403", load, f'npz("{tmp_path / "s.npz"}")')
    assert "inputs must be numbers" in error.message


# --------------------------------------------------------------------------- csv


def write_csv(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_csv_numeric_target(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "d.csv", "a,label,b\n1,0,2\n3,1,4\n5,2,6\n\n")
    raw = load(f'csv("{path}", target="label")')
    np.testing.assert_array_equal(raw.x, [[1, 2], [3, 4], [5, 6]])
    assert raw.y.dtype == np.int64
    np.testing.assert_array_equal(raw.y, [0, 1, 2])
    assert raw.classes == 3


def test_csv_real_valued_target(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "d.csv", "x,y\n1,0.5\n2,1.25\n")
    raw = load(f'csv("{path}", target="y")')
    assert raw.y.dtype == np.float32
    np.testing.assert_array_equal(raw.y, [0.5, 1.25])


def test_csv_class_names_become_indices_in_sorted_order(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "iris.csv",
        "length,width,species\n1,2,virginica\n3,4,setosa\n5,6,versicolor\n7,8,setosa\n",
    )
    raw = load(f'csv("{path}", target="species")')
    np.testing.assert_array_equal(raw.y, [2, 0, 1, 0])
    assert raw.x.shape == (4, 2)


def test_csv_missing_target_column(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "d.csv", "a,b\n1,2\n")
    error = data_error("E0402", load, f'csv("{path}", target="label")')
    assert "'label'" in error.message
    assert error.hint == "columns: a, b"


def test_csv_whose_header_starts_with_a_byte_order_mark_reads_its_first_column(
    tmp_path: Path,
) -> None:
    """Excel and Notepad save UTF-8 CSVs with a BOM: the first column is 'label', not
    '\\ufefflabel', for training and for `netspec predict`'s inputs alike."""
    from netspec.catalogue.data import csv_inputs

    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbflabel,a,b\n0,1,2\n1,3,4\n")
    raw = load(f'csv("{path}", target="label")')
    np.testing.assert_array_equal(raw.y, [0, 1])
    np.testing.assert_array_equal(raw.x, [[1, 2], [3, 4]])
    assert csv_inputs(str(path), ("label", "a"), None).feature_names == ("label", "a")


def test_csv_ragged_row(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "d.csv", "a,b,t\n1,2,0\n3,4\n")
    error = data_error("E0402", load, f'csv("{path}", target="t")')
    assert f"{path}:3" in error.message and "2 fields, header has 3" in error.message


def test_csv_non_numeric_feature_and_empty_file(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "d.csv", "a,t\nx,0\n")
    error = data_error("E0402", load, f'csv("{path}", target="t")')
    assert f"{path}:2" in error.message
    empty = write_csv(tmp_path / "e.csv", "")
    assert "empty" in data_error("E0402", load, f'csv("{empty}", target="t")').message
    absent = tmp_path / "absent.csv"
    assert "cannot read" in data_error("E0402", load, f'csv("{absent}", target="t")').message


# --------------------------------------------------------------------------- bundled, synthetic


@pytest.mark.parametrize(
    ("kind", "samples", "features", "classes"),
    [
        ("digits", 1797, 64, 10),
        ("iris", 150, 4, 3),
        ("breast_cancer", 569, 30, 2),
        ("wine", 178, 13, 3),
    ],
)
def test_bundled_sets(kind: str, samples: int, features: int, classes: int) -> None:
    raw = load(kind)
    assert raw.x.shape == (samples, features) and raw.x.dtype == np.float32
    assert raw.y.shape == (samples,) and raw.y.dtype == np.int64
    assert raw.classes == classes
    assert set(np.unique(raw.y)) == set(range(classes))
    assert raw.x_test is None and raw.description


@pytest.mark.parametrize(
    ("text", "x_shape", "y_shape"),
    [
        ("linear(samples=50)", (50, 1), (50, 1)),
        ("threshold(samples=50)", (50, 1), (50, 1)),
        ("blobs(samples=50, features=3, classes=4)", (50, 3), (50,)),
        ("sequences(samples=20, steps=5, features=3, classes=4)", (20, 5, 3), (20,)),
    ],
)
def test_synthetic_sets_are_deterministic_per_seed(
    text: str, x_shape: tuple[int, ...], y_shape: tuple[int, ...]
) -> None:
    first, again, other = load(text, seed=1), load(text, seed=1), load(text, seed=2)
    assert first.x.shape == x_shape and first.y.shape == y_shape
    np.testing.assert_array_equal(first.x, again.x)
    np.testing.assert_array_equal(first.y, again.y)
    assert not np.array_equal(first.x, other.x)


def test_synthetic_sets_follow_their_parameters() -> None:
    linear = load("linear(samples=200, slope=3.0, intercept=1.0, noise=0.0)")
    np.testing.assert_allclose(linear.y, 3.0 * linear.x + 1.0, rtol=1e-5)
    threshold = load("threshold(samples=200, threshold=0.25, noise=0.0)")
    np.testing.assert_array_equal(threshold.y, (threshold.x > 0.25).astype(np.float32))
    blobs = load("blobs(samples=200, classes=5)")
    assert blobs.classes == 5 and set(np.unique(blobs.y)) <= set(range(5))


# --------------------------------------------------------------------------- mismatches


def test_flat_images_for_an_image_input_hint_at_reshape() -> None:
    model = make_model(input_shape="[28, 28, 1]", layers="Flatten\nDense(10, activation=softmax)")
    error = data_error("E0401", prepare, model, np.zeros((8, 784)), np.zeros(8, dtype=np.int64))
    assert "[784]" in error.message and "[28, 28, 1]" in error.message
    assert error.hint is not None and "reshape = true" in error.hint


def test_inputs_of_another_size() -> None:
    model = make_model(input_shape="[28, 28, 1]", layers="Flatten\nDense(10, activation=softmax)")
    error = data_error("E0401", prepare, model, np.zeros((8, 64)), np.zeros(8, dtype=np.int64))
    assert "[64] (64 values)" in error.message and "[28, 28, 1] (784 values)" in error.message
    assert error.hint is not None and "input shape" in error.hint
    reshaping = make_model(
        input_shape="[28, 28, 1]",
        layers="Flatten\nDense(10, activation=softmax)",
        train="reshape = true",
    )
    error = data_error("E0401", prepare, reshaping, np.zeros((8, 64)), np.zeros(8, dtype=np.int64))
    assert "64 values" in error.message  # reshape cannot fix a size that differs


def test_class_indices_for_categorical_crossentropy() -> None:
    model = make_model(loss="categorical_crossentropy")
    error = data_error("E0404", prepare, model, np.zeros((8, 4)), np.arange(8) % 3)
    assert "class indices" in error.message and "categorical_crossentropy" in error.message
    assert error.hint is not None
    assert "sparse_categorical_crossentropy" in error.hint and "one_hot" in error.hint


def test_one_hot_with_sparse_categorical_crossentropy() -> None:
    model = make_model(train="one_hot = true")
    error = data_error("E0404", prepare, model, np.zeros((8, 4)), np.arange(8) % 3)
    assert "one_hot = true" in error.message
    assert "sparse_categorical_crossentropy" in error.message
    assert error.hint is not None and "categorical_crossentropy" in error.hint


@pytest.mark.parametrize(
    ("loss", "train"),
    [("sparse_categorical_crossentropy", ""), ("categorical_crossentropy", "one_hot = true")],
)
def test_labels_outside_the_classes(loss: str, train: str) -> None:
    model = make_model(loss=loss, train=train)
    labels = np.array([0, 1, 2, 5, 1, 0, 2, 1])
    error = data_error("E0404", prepare, model, np.zeros((8, 4)), labels)
    assert "from 0 to 5" in error.message and "3 classes" in error.message
    assert error.hint == "give the last layer 6 units"
    error = data_error("E0404", prepare, model, np.zeros((8, 4)), labels - 1)
    assert "from -1 to 4" in error.message
    assert error.hint is not None and "0, 1, 2" in error.hint


def test_fractional_or_multi_column_labels_for_sparse_loss() -> None:
    model = make_model()
    error = data_error("E0404", prepare, model, np.zeros((4, 4)), np.array([0.0, 0.5, 1.0, 2.0]))
    assert "fractions" in error.message
    assert error.hint is not None and "mean_squared_error" in error.hint
    error = data_error("E0404", prepare, model, np.zeros((4, 4)), np.eye(4)[:, :3])
    assert "one class index per sample" in error.message
    assert error.hint is not None and "categorical_crossentropy" in error.hint
    # whole-number floats are class indices
    prepared = prepare(model, np.zeros((4, 4)), np.array([0.0, 1.0, 2.0, 1.0]))
    assert prepared.y_train.dtype == np.int64


def test_one_hot_targets_of_the_wrong_width() -> None:
    model = make_model(loss="categorical_crossentropy")
    error = data_error("E0404", prepare, model, np.zeros((4, 4)), np.eye(4))
    assert "[4] per sample" in error.message and "[3]" in error.message
    prepared = prepare(model, np.zeros((4, 4)), np.eye(3)[[0, 1, 2, 0]])
    assert prepared.y_train.shape[1:] == (3,)


def test_non_binary_targets_for_binary_crossentropy() -> None:
    model = make_model(layers="Dense(1, activation=sigmoid)", loss="binary_crossentropy")
    error = data_error("E0404", prepare, model, np.zeros((6, 4)), np.array([0, 1, 2, 0, 1, 2]))
    assert "binary_crossentropy needs targets in [0, 1]" in error.message and ": 2" in error.message
    assert error.hint is not None and "sparse_categorical_crossentropy" in error.hint
    prepared = prepare(model, np.zeros((6, 4)), np.array([0, 1, 1, 0, 1, 0]))
    assert prepared.y_train.shape[1:] == (1,) and prepared.y_train.dtype == np.float32


def test_soft_targets_in_0_1_for_binary_crossentropy() -> None:
    """Keras and PyTorch take any target in [0, 1] (label smoothing, probabilities)."""
    model = make_model(layers="Dense(1, activation=sigmoid)", loss="binary_crossentropy")
    soft = np.array([0.0, 0.25, 1.0, 0.9, 0.5, 0.1], dtype=np.float32)
    prepared = prepare(model, np.zeros((6, 4)), soft)
    values = prepared.y_train.reshape(-1).tolist()
    assert prepared.y_train.shape[1:] == (1,) and set(values) <= set(soft.tolist())
    assert any(0 < v < 1 for v in values)  # the soft ones are kept as they are


def test_binary_targets_outside_0_1_name_only_the_wrong_values() -> None:
    model = make_model(layers="Dense(1, activation=sigmoid)", loss="binary_crossentropy")
    y = np.array([0.2, -0.5, 1.0, 3.0, 0.0, 0.7, 3.0, 1.5])
    error = data_error("E0404", prepare, model, np.zeros((8, 4)), y)
    assert "binary_crossentropy needs targets in [0, 1]" in error.message
    assert "4 of 8 targets are outside" in error.message
    assert "-0.5, 1.5, 3" in error.message
    assert "0.2" not in error.message and "0.7" not in error.message  # those are fine
    assert error.hint is not None and "clip" in error.hint and "mean_squared_error" in error.hint


def test_soft_binary_targets_with_class_weight_are_refused() -> None:
    """A class weight needs each sample's class; a target of 0.3 has none."""
    model = make_model(
        layers="Dense(1, activation=sigmoid)", loss="binary_crossentropy",
        train="class_weight = [1, 2]",
    )
    error = data_error("E0404", prepare, model, np.zeros((4, 4)), np.array([0.0, 0.3, 1.0, 1.0]))
    assert "class_weight" in error.message and "0.3" in error.message
    prepared = prepare(model, np.zeros((4, 4)), np.array([0, 1, 1, 0]))
    assert prepared.y_train.dtype == np.float32


def test_one_target_per_sample_for_an_output_of_rank_two_hints_at_flatten() -> None:
    """[28, 28] into Dense(1) gives [28, 1]: the forgotten Flatten, found when the data loads."""
    model = make_model(
        input_shape="[28, 28]", layers="Dense(1, activation=sigmoid)", loss="binary_crossentropy"
    )
    error = data_error("E0404", prepare, model, np.zeros((4, 28, 28)), np.array([0, 1, 1, 0]))
    assert "one value per sample" in error.message and "[28, 1]" in error.message
    assert error.hint is not None and "Flatten (or GlobalAveragePooling1D)" in error.hint


def test_regression_targets_of_the_wrong_shape() -> None:
    model = make_model(layers="Dense(2)", loss="mean_squared_error")
    error = data_error("E0404", prepare, model, np.zeros((6, 4)), np.zeros((6, 3)))
    assert "[3] per sample" in error.message and "[2]" in error.message
    assert error.hint is not None and "units" in error.hint
    error = data_error("E0404", prepare, model, np.zeros((6, 4)), np.zeros(6))
    assert "the targets have one value per sample" in error.message


def test_regression_vector_targets_become_columns() -> None:
    model = make_model(layers="Dense(1)", loss="mean_squared_error", train="test_split = 0")
    prepared = prepare(model, np.zeros((6, 4)), np.arange(6, dtype=np.float32))
    assert prepared.y_train.shape == (6, 1) and prepared.y_train.dtype == np.float32


def test_no_training_data_named() -> None:
    model = make_model()
    error = data_error("E0402", data.prepare, model, model.train)
    assert "names no training data" in error.message
    assert error.hint is not None and "--data" in error.hint


def test_no_training_samples_left_after_the_splits() -> None:
    model = make_model(train="test_split = 0.9")
    error = data_error("E0403", prepare, model, np.zeros((1, 4)), np.zeros(1, dtype=np.int64))
    assert "no training samples" in error.message


# --------------------------------------------------------------------------- preprocessing


def test_divide_by_and_reshape() -> None:
    model = make_model(
        input_shape="[4, 4, 1]",
        layers="Flatten\nDense(3, activation=softmax)",
        train="divide_by = 255, reshape = true, test_split = 0",
    )
    x = np.full((5, 16), 255.0)
    x[0, 0] = 51.0
    prepared = prepare(model, x, np.zeros(5, dtype=np.int64))
    assert prepared.x_train.shape == (5, 4, 4, 1) and prepared.x_train.dtype == np.float32
    assert prepared.x_train[0, 0, 0, 0] == pytest.approx(0.2)
    assert np.all(prepared.x_train.reshape(5, -1)[:, 1:] == 1.0)
    assert prepared.x_test is None and prepared.x_val is None
    assert prepared.summary()["input_shape"] == [4, 4, 1]


def test_one_hot_targets() -> None:
    model = make_model(loss="categorical_crossentropy", train="one_hot = true, test_split = 0")
    prepared = prepare(model, np.zeros((4, 4)), np.array([2, 0, 1, 2]))
    np.testing.assert_array_equal(prepared.y_train, np.eye(3)[[2, 0, 1, 2]])
    assert prepared.y_train.dtype == np.float32


def test_split_sizes_and_determinism() -> None:
    model = make_model(train="test_split = 0.2, validation_split = 0.25")
    x = np.arange(400, dtype=np.float32).reshape(100, 4)
    y = np.arange(100) % 3
    first = prepare(model, x, y)
    assert (len(first.x_train), len(first.x_val), len(first.x_test)) == (60, 20, 20)  # type: ignore[arg-type]
    assert first.summary() | {"source": ""} == {
        "source": "",
        "train": 60,
        "validation": 20,
        "test": 20,
        "input_shape": [4],
        "target_shape": [],
    }
    # every sample lands in exactly one split, with its own label
    everything = np.concatenate([first.x_train, first.x_val, first.x_test])  # type: ignore[list-item]
    assert sorted(everything[:, 0].tolist()) == sorted(x[:, 0].tolist())
    labels = np.concatenate([first.y_train, first.y_val, first.y_test])  # type: ignore[list-item]
    np.testing.assert_array_equal(labels, (everything[:, 0] / 4).astype(np.int64) % 3)
    again = prepare(model, x, y)
    np.testing.assert_array_equal(first.x_train, again.x_train)
    np.testing.assert_array_equal(first.x_test, again.x_test)  # type: ignore[arg-type]
    reseeded = model_of(spec_text(train="test_split = 0.2, validation_split = 0.25"), seed="1")
    other = prepare(reseeded, x, y)
    assert not np.array_equal(first.x_test, other.x_test)  # type: ignore[arg-type]


def test_a_source_test_set_is_kept_and_not_split() -> None:
    model = make_model(train="test_split = 0.5")
    prepared = prepare(
        model,
        np.zeros((10, 4)),
        np.zeros(10, dtype=np.int64),
        x_test=np.ones((3, 4)),
        y_test=np.ones(3, dtype=np.int64),
    )
    assert len(prepared.x_train) == 10 and len(prepared.x_test) == 3  # type: ignore[arg-type]


def test_standardize_fits_the_training_split_only() -> None:
    model = make_model(train="standardize = true, test_split = 0.25, validation_split = 0.2")
    rng = np.random.default_rng(0)
    x = rng.normal(5.0, 3.0, size=(200, 4)).astype(np.float32)
    x[:, 3] = 7.0  # a constant feature: std 0, left unscaled
    y = np.arange(200) % 3
    prepared = prepare(model, x, y)
    stats = (prepared.standardization or {}).get("input")  # one input: named "input"
    assert stats is not None
    train = prepared.x_train
    np.testing.assert_allclose(train[:, :3].mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(train[:, :3].std(axis=0), 1.0, atol=1e-4)
    np.testing.assert_array_equal(train[:, 3], 0.0)
    assert stats.std[3] == 1.0
    # the held-out splits use the training statistics, not their own
    again = model_of(spec_text(train="test_split = 0.25, validation_split = 0.2"))
    unscaled = prepare(again, x, y)  # same seed: the same splits, unscaled
    np.testing.assert_allclose(
        unscaled.x_train, train * stats.std + stats.mean, rtol=1e-5, atol=1e-5
    )
    for held, raw_held in ((prepared.x_test, unscaled.x_test), (prepared.x_val, unscaled.x_val)):
        assert held is not None and raw_held is not None
        np.testing.assert_allclose(held, (raw_held - stats.mean) / stats.std, rtol=1e-5, atol=1e-5)
        assert not np.allclose(held[:, :3].mean(axis=0), 0.0, atol=1e-5)


def test_a_split_reads_no_rows() -> None:
    """A data-parallel worker's share of a last, small batch may be empty: reading it gives
    arrays of no rows (standardized), not an error."""
    model = make_model(train="standardize = true, test_split = 0.25")
    rng = np.random.default_rng(0)
    prepared = prepare(model, rng.normal(size=(20, 4)).astype(np.float32), np.arange(20) % 3)
    x, y = prepared.train[np.arange(0)]
    assert x.shape == (0, 4) and x.dtype == np.float32 and y.shape == (0,)


def test_standardize_applies_training_statistics_to_a_source_test_set() -> None:
    model = make_model(train="standardize = true")
    x = np.random.default_rng(1).normal(0.0, 2.0, size=(50, 4))
    x_test = x[:10] + 100.0  # shifted: standardized by its own statistics it would centre on 0
    prepared = prepare(model, x, np.arange(50) % 3, x_test=x_test, y_test=np.arange(10) % 3)
    stats = (prepared.standardization or {}).get("input")  # one input: named "input"
    assert stats is not None and prepared.x_test is not None
    np.testing.assert_allclose(stats.mean, x.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(prepared.x_test, (x_test - stats.mean) / stats.std, rtol=1e-4)
    assert prepared.x_test.mean() > 10
    # the same statistics applied at prediction time
    again = data.preprocess_inputs(x_test, model, model.train, prepared.standardization)
    np.testing.assert_allclose(again, prepared.x_test, rtol=1e-6)


def test_prepare_loads_the_named_source(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", x=np.ones((10, 4)), y=np.arange(10) % 3)
    model = model_of(spec_text(), data=f'npz("{tmp_path / "d.npz"}")')
    prepared = data.prepare(model, model.train)
    assert len(prepared.x_train) == 8 and len(prepared.x_test) == 2  # type: ignore[arg-type]
    assert prepared.description == f"npz file {tmp_path / 'd.npz'}"


# --------------------------------------------------------------------------- as diagnostics


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def assert_no_traceback(result) -> None:
    assert "Traceback" not in result.output and "Traceback" not in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_cli_mismatch_in_the_spec_points_at_its_data_line(
    runner: CliRunner, tmp_path: Path
) -> None:
    np.savez(tmp_path / "flat.npz", x=np.zeros((8, 784)), y=np.arange(8) % 10)
    spec = tmp_path / "img.net"
    spec.write_text(
        spec_text(
            input_shape="[28, 28, 1]",
            layers="Flatten\nDense(10, activation=softmax)",
            train=f'data = npz("{tmp_path / "flat.npz"}")',
        ),
        encoding="utf-8",
    )
    line = next(i for i, t in enumerate(spec.read_text().splitlines(), 1) if "data =" in t)
    result = runner.invoke(
        app, ["train", str(spec), "--log", "quiet", "--out", str(tmp_path / "r")]
    )
    assert result.exit_code == 1, result.output
    assert_no_traceback(result)
    assert f"{spec}:{line}:" in result.stderr
    assert "error[E0401]" in result.stderr
    assert "data = npz(" in result.stderr and "^^^" in result.stderr
    assert "hint:" in result.stderr and "reshape = true" in result.stderr
    assert not (tmp_path / "r").exists()  # nothing written before the data fits


def test_cli_mismatch_from_the_command_line_points_at_data_option(
    runner: CliRunner, tmp_path: Path
) -> None:
    spec = tmp_path / "cat.net"
    spec.write_text(spec_text(loss="categorical_crossentropy"), encoding="utf-8")
    result = runner.invoke(
        app, ["train", str(spec), "--data", "iris", "--log", "quiet", "--out", str(tmp_path / "r")]
    )
    assert result.exit_code == 1, result.output
    assert_no_traceback(result)
    assert "--data:1:1: error[E0404]" in result.stderr
    assert "   1 | iris" in result.stderr
    assert "hint:" in result.stderr and "sparse_categorical_crossentropy" in result.stderr


def test_cli_unreadable_data_is_a_diagnostic(runner: CliRunner, tmp_path: Path) -> None:
    spec = tmp_path / "s.net"
    spec.write_text(spec_text(), encoding="utf-8")
    missing = tmp_path / "some" / "missing" / "dir"
    result = runner.invoke(
        app, ["train", str(spec), "--data", f'fashion_mnist("{missing}")', "--log", "quiet"]
    )
    assert result.exit_code == 1, result.output
    assert_no_traceback(result)
    assert "--data:1:1: error[E0402]" in result.stderr
    assert "dataset-fashion-mnist" in result.stderr


# --------------------------------------------------------------------------- several inputs, outputs

TWO_IO = """\
model two {
  input profile [4]
  input tokens [3]
  layers {
    a = Dense(8, activation=relu)(profile)
    e = Embedding(10, 2)(tokens)
    f = Flatten()(e)
    m = Concatenate(axis=-1)(a, f)
    plan = Dense(3, activation=softmax)(m)
    spend = Dense(1)(m)
  }
  output [plan, spend]
  loss { plan = sparse_categorical_crossentropy, spend = mean_squared_error }
  optimizer Adam
  train {
    seed = 0
    test_split = 0.25
    validation_split = 0.0
    divide_by = 2
    standardize = true
  }
}
"""


def two_io_file(path: Path, samples: int = 20, **changes: np.ndarray) -> Path:
    rng = np.random.default_rng(0)
    ids = rng.permutation(1000)[:samples]  # distinct token rows: each identifies its sample
    arrays = {
        "p": rng.normal(size=(samples, 4)).astype(np.float32) + 5.0,
        "t": np.stack([ids // 100, ids // 10 % 10, ids % 10], axis=1),
        "c": rng.integers(0, 3, size=samples),
        "s": rng.normal(size=(samples, 1)).astype(np.float32),
        **changes,
    }
    np.savez(path, **arrays)
    return path


def prepare_two(path: Path, x: str = '["p", "t"]', y: str = '["c", "s"]') -> data.Prepared:
    model = model_of(TWO_IO, data=f'npz("{path}", x={x}, y={y})')
    return data.prepare(model, model.train)


def test_npz_lists_give_one_array_per_input_and_output(tmp_path: Path) -> None:
    path = two_io_file(tmp_path / "f.npz")
    prepared = prepare_two(path)
    profile, tokens = prepared.x_train
    plan, spend = prepared.y_train
    assert len(profile) == len(tokens) == len(plan) == len(spend) == 15
    assert prepared.x_test is not None and len(prepared.x_test[0]) == 5
    # token ids read only by an Embedding are neither divided nor standardized
    with np.load(path) as arrays:
        assert set(tokens.ravel()) <= set(arrays["t"].ravel())
        # one permutation: each sample's token row stays with its own label
        rows = {tuple(r): int(c) for r, c in zip(arrays["t"], arrays["c"], strict=True)}
    for row, label in zip(tokens, plan, strict=True):
        assert rows[tuple(int(v) for v in row)] == label
    np.testing.assert_allclose(profile.mean(axis=0), 0.0, atol=1e-5)  # standardized
    assert prepared.standardization is not None and set(prepared.standardization) == {"profile"}
    assert prepared.summary()["input_shape"] == [[4], [3]]


def test_npz_arrays_named_like_the_model(tmp_path: Path) -> None:
    path = tmp_path / "named.npz"
    rng = np.random.default_rng(1)
    np.savez(
        path, profile=rng.normal(size=(8, 4)), tokens=rng.integers(0, 10, size=(8, 3)),
        plan=rng.integers(0, 3, size=8), spend=rng.normal(size=(8, 1)),
    )
    model = model_of(TWO_IO, data=f'npz("{path}")')
    prepared = data.prepare(model, model.train)
    assert [a.shape[1:] for a in prepared.y_train] == [(), (1,)]
    np.savez(path, profile=rng.normal(size=(8, 4)), tokens=rng.integers(0, 10, size=(8, 3)))
    error = data_error("E0402", data.prepare, model, model.train)
    assert "no array named 'plan' for the model's output" in error.message


@pytest.mark.parametrize(
    ("x", "y", "changes", "code", "words"),
    [
        ('["p"]', '["c", "s"]', {}, "E0401", "the data gives 1 input array, the model has 2 inputs"),
        ('["p", "t"]', '["c"]', {}, "E0401", "the data gives 1 output array, the model has 2 outputs"),
        ('["p", "t"]', '["c", "s"]', {"p": np.zeros((20, 5))}, "E0401",
         "input 'profile' is [4]"),
        ('["p", "t"]', '["c", "s"]', {"c": np.full(20, 7)}, "E0404",
         "output 'plan': the labels range from 7 to 7, but the model outputs 3 classes"),
        ('["p", "t"]', '["c", "s"]', {"c": np.eye(3)[np.zeros(20, dtype=int)]}, "E0404",
         "output 'plan': sparse_categorical_crossentropy takes one class index per sample"),
        ('["p", "t"]', '["c", "s"]', {"s": np.zeros((20, 2))}, "E0404",
         "output 'spend': the targets have shape [2] per sample, the model outputs [1]"),
        ('["p", "t"]', '["c", "s"]', {"t": np.zeros((19, 3))}, "E0403",
         "the input arrays differ in length: 20, 19"),
        ('["p", "q"]', '["c", "s"]', {}, "E0402", "has no array named 'q'"),
    ],
)
def test_npz_multi_array_mismatches(
    tmp_path: Path, x: str, y: str, changes: dict, code: str, words: str
) -> None:
    path = two_io_file(tmp_path / "f.npz", **changes)
    error = data_error(code, prepare_two, path, x, y)
    assert words in error.message


def test_customers_fit_the_two_tower_spec() -> None:
    from conftest import checked_model

    model = checked_model("two_tower")
    prepared = data.prepare(model, model.train)
    assert prepared.summary()["input_shape"] == [[20], [10, 8]]
    plan, spend = prepared.y_train
    assert plan.dtype == np.int64 and set(np.unique(plan)) <= set(range(5))
    assert spend.shape[1:] == (1,)
    assert prepared.samples + prepared.summary()["validation"] + prepared.summary()["test"] == 2000


def test_a_csv_the_csv_module_refuses_says_so_in_netspec_words(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "d.csv", "a,t\n" + "1" * 200_000 + ",0\n")  # over csv's field limit
    error = data_error("E0402", load, f'csv("{path}", target="t")')
    assert error.message == (
        f"cannot read {path}: it is not a CSV file netspec can read (a field too large, or a broken quote)"
    )
