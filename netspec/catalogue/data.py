"""Data sources a spec can name in `train { data = … }`.

Each source has a parameter model (checked with the spec, before anything loads) and a
`load` method that returns numpy arrays. Nothing downloads: bundled sets come from
scikit-learn's package data, Fashion-MNIST and MNIST from IDX files on disk, synthetic sets
from a seeded generator. Heavy imports happen inside `load` only.
"""

from __future__ import annotations

import re
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field

from netspec import ir
from netspec.catalogue.base import Entry

if TYPE_CHECKING:
    import numpy as np

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
MNIST_DIR = "/usr/share/datasets/mnist"


class DataError(Exception):
    """Data that cannot be loaded or does not fit the spec; shown as a diagnostic."""

    def __init__(self, code: str, message: str | None = None, hint: str | None = None) -> None:
        if message is None:  # one argument: how a DataLoader worker's error is raised again
            found = DataError.from_worker(code)
            code, message, hint = (
                (found.code, found.message, found.hint) if found else ("E0402", code, None)
            )
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        hint = f" [hint: {self.hint}]" if self.hint else ""
        return f"DataError[{self.code}]: {self.message}{hint}"

    @staticmethod
    def from_worker(text: str) -> DataError | None:
        """The DataError whose text another process sent back inside its own report (a
        DataLoader worker's traceback, a tf.data error message); None when there is none."""
        matches = _REPORTED.findall(text)
        if not matches:
            return None
        code, message, hint = matches[-1]
        return DataError(code, message.strip(), hint.strip() or None)


_REPORTED = re.compile(r"DataError\[(E\d{4})\]: (.*?)(?: \[hint: (.*?)\])?$", re.MULTILINE)


@dataclass
class RawData:
    """Arrays as a source provides them; `x_test` is None when it has no test set.

    An "array" here is a column: a NumPy array, or an object that reads its rows when asked
    (columns.py: `.npy` files, image files), so that a set larger than memory can stream.
    """

    x: np.ndarray
    y: np.ndarray
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    classes: int | None = None  # number of classes for class-index labels
    description: str = ""
    named: dict[str, np.ndarray] | None = None
    """Arrays by name, for a model with several inputs or outputs to take by its own names
    (x and y are then empty): a synthetic set made for it, or an .npz without `x` and `y`."""
    x_val: np.ndarray | None = None
    y_val: np.ndarray | None = None
    """A validation set of the source's own (image_folder's `validation` folder)."""
    class_names: tuple[str, ...] | None = None
    """The name of each class, by label, where the source knows them (image folders)."""
    decodes: bool = False
    """Reading a sample decodes a file (images): streaming it gains from worker processes."""
    feature_names: tuple[str, ...] | None = None
    """The name of each input feature, where the source knows them (a CSV's columns): the run
    records them, and `netspec predict` reads a CSV's columns by these names."""


class DataSourceEntry(Entry):
    family = "data"
    # A source whose samples take the model's input shape (images are resized to it): its
    # `load_shaped(p, seed, input_shape)` is called instead of `load`.
    needs_input_shape: ClassVar[bool] = False

    def load(self, p: Any, seed: int) -> RawData:
        raise NotImplementedError

    def load_shaped(self, p: Any, seed: int, input_shape: ir.Shape) -> RawData:
        """`load` of a source that `needs_input_shape`."""
        raise NotImplementedError

    def load_inputs(
        self, p: Any, seed: int, input_shape: ir.Shape, features: tuple[str, ...] | None = None
    ) -> RawData:
        """The inputs alone, for `netspec predict`: targets are optional (a source that has
        them gives them, and they go unread). `features` are the columns the run was trained
        on, for a source that reads columns by name (CSV)."""
        if self.needs_input_shape:
            return self.load_shaped(p, seed, input_shape)
        return self.load(p, seed)


# --------------------------------------------------------------------------- bundled sets


class NoParams(ir.Params):
    pass


def sklearn_data_file(name: str) -> Path | None:
    """A CSV file that scikit-learn ships for one of its bundled sets, found without importing
    scikit-learn (its import takes a second or more, longer than reading the file)."""
    import importlib.util

    try:
        spec = importlib.util.find_spec("sklearn")
    except (ImportError, ValueError):
        return None
    for folder in (spec.submodule_search_locations or []) if spec is not None else []:
        path = Path(folder) / "datasets" / "data" / name
        if path.is_file():
            return path
    return None


def read_sklearn_csv(path: Path, header: bool) -> tuple[np.ndarray, np.ndarray] | None:
    """(features, labels) of a scikit-learn CSV as its loaders read it: a row per sample,
    the label last; with a header `samples,features,names…`. None when the file does not
    read as that (another layout: then scikit-learn's own loader reads it)."""
    import gzip

    import numpy as np

    try:
        content = path.read_bytes()
        lines = (gzip.decompress(content) if path.suffix == ".gz" else content).decode("utf-8-sig").splitlines()
        first = lines[0].split(",") if header else None
        table = np.loadtxt(lines[1:] if header else lines, delimiter=",", dtype=np.float64, ndmin=2)
        if first is not None and table.shape != (int(first[0]), int(first[1]) + 1):
            return None
    except (OSError, ValueError, IndexError, EOFError):
        return None
    labels = table[:, -1]
    if not np.array_equal(labels, np.round(labels)):
        return None
    return table[:, :-1], labels.astype(np.int64)


class _Sklearn(DataSourceEntry):
    Params = NoParams
    loader: ClassVar[str]
    file: ClassVar[str]  # the CSV in sklearn/datasets/data
    header: ClassVar[bool] = True

    def load(self, p: NoParams, seed: int) -> RawData:
        import numpy as np

        path = sklearn_data_file(self.file)
        read = read_sklearn_csv(path, self.header) if path is not None else None
        if read is None:
            x, y = self._by_sklearn()
        else:
            x, y = read
        x = np.asarray(x, dtype=np.float32)
        y = np.asarray(y, dtype=np.int64)
        return RawData(x, y, classes=int(y.max()) + 1, description=self.summary)

    def _by_sklearn(self) -> tuple[Any, Any]:
        try:
            from sklearn import datasets
        except ImportError as error:
            raise DataError(
                "E0402",
                f"data source '{self.kind}' needs scikit-learn, which is not installed",
                hint='pip install "netspec[train]"',
            ) from error
        bunch = getattr(datasets, self.loader)()
        return bunch.data, bunch.target


class Digits(_Sklearn):
    kind = "digits"
    loader = "load_digits"
    file = "digits.csv.gz"
    header = False
    summary = "scikit-learn's 8x8 handwritten digits: 1,797 samples, 64 pixels (0-16), 10 classes"


class Iris(_Sklearn):
    kind = "iris"
    loader = "load_iris"
    file = "iris.csv"
    summary = "scikit-learn's iris flowers: 150 samples, 4 features, 3 classes"


class BreastCancer(_Sklearn):
    kind = "breast_cancer"
    loader = "load_breast_cancer"
    file = "breast_cancer.csv"
    summary = "scikit-learn's Wisconsin breast cancer: 569 samples, 30 features, 2 classes"


class Wine(_Sklearn):
    kind = "wine"
    loader = "load_wine"
    file = "wine_data.csv"
    summary = "scikit-learn's wine recognition: 178 samples, 13 features, 3 classes"


# --------------------------------------------------------------------------- synthetic sets


class LinearParams(ir.Params):
    samples: int = Field(1000, gt=0, description="how many to draw")
    slope: float = Field(2.0, description="y = slope · x + intercept + noise")
    intercept: float = Field(0.0, description="the value at x = 0")
    noise: float = Field(0.1, ge=0, description="standard deviation of the Gaussian noise")


class Linear(DataSourceEntry):
    """y = slope·x + intercept + noise, x uniform on [-1, 1] (the tutorials' regression set)."""

    kind = "linear"
    Params = LinearParams
    summary = "synthetic regression: y = 2x + Gaussian noise, x uniform on [-1, 1]"

    def load(self, p: LinearParams, seed: int) -> RawData:
        import numpy as np

        rng = np.random.default_rng(seed)
        x = rng.uniform(-1.0, 1.0, size=(p.samples, 1)).astype(np.float32)
        y = p.slope * x + p.intercept + rng.normal(0.0, p.noise, size=x.shape)
        return RawData(x, y.astype(np.float32), description=self.summary)


class ThresholdParams(ir.Params):
    samples: int = Field(1000, gt=0, description="how many to draw")
    threshold: float = Field(0.0, description="points above it are class 1")
    noise: float = Field(0.1, ge=0, description="std of noise added to x before labelling")


class Threshold(DataSourceEntry):
    """One feature uniform on [-1, 1]; the label is 1 where x + noise exceeds the threshold."""

    kind = "threshold"
    Params = ThresholdParams
    summary = "synthetic binary classification of one feature against a threshold"

    def load(self, p: ThresholdParams, seed: int) -> RawData:
        import numpy as np

        rng = np.random.default_rng(seed)
        x = rng.uniform(-1.0, 1.0, size=(p.samples, 1)).astype(np.float32)
        noisy = x + rng.normal(0.0, p.noise, size=x.shape)
        y = (noisy > p.threshold).astype(np.float32)
        return RawData(x, y, description=self.summary)


class BlobsParams(ir.Params):
    samples: int = Field(1000, gt=0, description="how many to draw")
    features: int = Field(2, gt=0, description="features per sample")
    classes: int = Field(3, gt=1, description="one blob per class")
    spread: float = Field(1.0, gt=0, description="standard deviation around each centre")


class Blobs(DataSourceEntry):
    """Gaussian blobs: one centre per class, uniform in [-5, 5] in every feature."""

    kind = "blobs"
    Params = BlobsParams
    summary = "synthetic classification: Gaussian blobs around one centre per class"

    def load(self, p: BlobsParams, seed: int) -> RawData:
        import numpy as np

        rng = np.random.default_rng(seed)
        centres = rng.uniform(-5.0, 5.0, size=(p.classes, p.features))
        y = rng.integers(0, p.classes, size=p.samples)
        x = centres[y] + rng.normal(0.0, p.spread, size=(p.samples, p.features))
        return RawData(
            x.astype(np.float32), y.astype(np.int64), classes=p.classes, description=self.summary
        )


class SequencesParams(ir.Params):
    samples: int = Field(2000, gt=0, description="how many to draw")
    steps: int = Field(28, gt=0, description="steps per sequence")
    features: int = Field(28, gt=0, description="values per step")
    classes: int = Field(10, gt=1, description="one frequency per class")
    noise: float = Field(0.5, ge=0, description="standard deviation of the Gaussian noise")


class Sequences(DataSourceEntry):
    """Each class is a sine of its own frequency along the steps, along a random direction."""

    kind = "sequences"
    Params = SequencesParams
    summary = "synthetic sequence classification: noisy sines, one frequency per class"

    def load(self, p: SequencesParams, seed: int) -> RawData:
        import numpy as np

        rng = np.random.default_rng(seed)
        directions = rng.normal(size=(p.classes, p.features))
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
        y = rng.integers(0, p.classes, size=p.samples)
        t = np.arange(p.steps) / p.steps
        phase = rng.uniform(0, 2 * np.pi, size=(p.samples, 1))
        wave = np.sin(2 * np.pi * (y[:, None] + 1) * t[None, :] + phase)  # (samples, steps)
        x = wave[:, :, None] * directions[y][:, None, :] * 2.0
        x += rng.normal(0.0, p.noise, size=x.shape)
        return RawData(
            x.astype(np.float32), y.astype(np.int64), classes=p.classes, description=self.summary
        )


class CustomersParams(ir.Params):
    samples: int = Field(2000, gt=0, description="how many to draw")
    features: int = Field(20, gt=0, description="profile features per customer")
    steps: int = Field(10, gt=0, description="visits in each customer's history")
    step_features: int = Field(8, gt=0, description="values recorded per visit")
    plans: int = Field(5, gt=1, description="classes of the `plan` target")
    noise: float = Field(0.1, ge=0, description="standard deviation of the Gaussian noise")


class Customers(DataSourceEntry):
    """Two inputs and two targets, by name: `profile` [features] and `history` [steps,
    step_features], both N(0, 1); `plan` is the argmax of a fixed linear score of the profile
    and the mean visit (plus noise), `spend` [1] another linear function of them (plus noise).
    Made for specs/two_tower.net; a model takes the arrays named like its inputs and outputs."""

    kind = "customers"
    Params = CustomersParams
    summary = "synthetic customers: a profile vector and a visit history -> plan (class), spend"

    def load(self, p: CustomersParams, seed: int) -> RawData:
        import numpy as np

        rng = np.random.default_rng(seed)
        profile = rng.normal(size=(p.samples, p.features)).astype(np.float32)
        history = rng.normal(size=(p.samples, p.steps, p.step_features)).astype(np.float32)
        both = np.concatenate([profile, history.mean(axis=1) * 3.0], axis=1)
        scores = both @ rng.normal(size=(both.shape[1], p.plans))
        scores += rng.normal(0.0, p.noise, size=scores.shape)
        spend = both @ rng.normal(size=(both.shape[1], 1)) * 0.5
        spend += rng.normal(0.0, p.noise, size=spend.shape)
        named = {
            "profile": profile,
            "history": history,
            "plan": scores.argmax(axis=1).astype(np.int64),
            "spend": spend.astype(np.float32),
        }
        empty = np.zeros((0,), dtype=np.float32)
        return RawData(empty, empty, classes=p.plans, description=self.summary, named=named)


# --------------------------------------------------------------------------- files


def _open(path: Path):
    import gzip

    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def read_idx(path: Path) -> np.ndarray:
    """An array from an IDX file (the MNIST format), gzipped or not."""
    import numpy as np

    types = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    try:
        with _open(path) as stream:
            header = stream.read(4)
            if len(header) != 4 or header[0] != 0 or header[1] != 0 or header[2] not in types:
                raise DataError("E0402", f"{path} is not an IDX file (bad magic number)")
            rank = header[3]
            sizes = stream.read(4 * rank)
            if len(sizes) != 4 * rank or rank == 0:
                raise DataError(
                    "E0402",
                    f"{path} is truncated: its header gives {rank} dimensions but holds "
                    f"{len(sizes) // 4} sizes" if rank else f"{path} is an IDX file of no dimensions",
                )
            dims = struct.unpack(f">{rank}I", sizes)
            data = stream.read()
    except (OSError, EOFError, zlib.error) as error:  # a broken .gz raises all three
        why = error.strerror if isinstance(error, OSError) and error.strerror else error
        raise DataError("E0402", f"cannot read {path}: {why}") from error
    dtype = np.dtype(types[header[2]])
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(data) != expected:
        raise DataError(
            "E0402", f"{path} is truncated: {len(data)} bytes of data, expected {expected}"
        )
    array = np.frombuffer(data, dtype=dtype).reshape(dims)
    check_values(array, str(path))
    return array


def check_values(array: np.ndarray, where: str) -> None:
    """No NaN, infinity or huge number in an array a file holds (values.py says why): a
    DataError naming the file (and array), the count and the first one's index."""
    from netspec.catalogue.values import scan

    found = scan(array)
    if found is not None:
        raise DataError("E0405", f"{where} holds {found.describe()}", hint=found.hint)


def _find(folder: Path, stem: str) -> Path | None:
    for name in (
        stem,
        stem + ".gz",
        stem.replace("-idx", ".idx"),
        stem.replace("-idx", ".idx") + ".gz",
    ):
        if (folder / name).exists():
            return folder / name
    return None


def load_idx_folder(folder: Path, what: str, how_to_get: str) -> RawData:
    import numpy as np

    if not folder.is_dir():
        raise DataError("E0402", f"{what}: folder {folder} does not exist", hint=how_to_get)
    parts = {}
    for key, stem in {
        "x": "train-images-idx3-ubyte",
        "y": "train-labels-idx1-ubyte",
        "x_test": "t10k-images-idx3-ubyte",
        "y_test": "t10k-labels-idx1-ubyte",
    }.items():
        path = _find(folder, stem)
        if path is None:
            raise DataError(
                "E0402", f"{what}: {folder} has no {stem} (or {stem}.gz)", hint=how_to_get
            )
        parts[key] = read_idx(path)
    if len(parts["x"]) != len(parts["y"]) or len(parts["x_test"]) != len(parts["y_test"]):
        raise DataError("E0402", f"{what}: image and label files in {folder} differ in length")
    y, y_test = parts["y"].astype(np.int64), parts["y_test"].astype(np.int64)
    return RawData(
        parts["x"].astype(np.float32),
        y,
        parts["x_test"].astype(np.float32),
        y_test,
        classes=int(max(y.max(), y_test.max())) + 1,
        description=f"{what} from {folder}",
    )


class FolderParams(ir.Params):
    path: str = Field(FASHION_MNIST_DIR, min_length=1, description="folder of the IDX files")


class FashionMNIST(DataSourceEntry):
    kind = "fashion_mnist"
    Params = FolderParams
    positional = ("path",)
    summary = "Fashion-MNIST: 60,000 + 10,000 greyscale 28x28 images (0-255), 10 classes"

    def load(self, p: FolderParams, seed: int) -> RawData:
        hint = (
            "install it with `apt-get install dataset-fashion-mnist` (Debian/Ubuntu), or put "
            'the four IDX files in a folder and write data = fashion_mnist("folder")'
        )
        return load_idx_folder(Path(p.path), "Fashion-MNIST", hint)


class MnistParams(ir.Params):
    path: str = Field(MNIST_DIR, min_length=1, description="folder of the IDX files")


class MNIST(DataSourceEntry):
    kind = "mnist"
    Params = MnistParams
    positional = ("path",)
    summary = "MNIST: 60,000 + 10,000 greyscale 28x28 digits (0-255), 10 classes"

    def load(self, p: MnistParams, seed: int) -> RawData:
        hint = 'put the four MNIST IDX files in a folder and write data = mnist("folder")'
        return load_idx_folder(Path(p.path), "MNIST", hint)


class IdxParams(ir.Params):
    path: str = Field(min_length=1, description="folder of the four IDX files")


class Idx(DataSourceEntry):
    kind = "idx"
    Params = IdxParams
    positional = ("path",)
    summary = "MNIST-format IDX files (train-/t10k- images and labels, gzipped or not)"

    def load(self, p: IdxParams, seed: int) -> RawData:
        return load_idx_folder(
            Path(p.path),
            "idx",
            "the folder needs train-images-idx3-ubyte, "
            "train-labels-idx1-ubyte, t10k-images-idx3-ubyte and "
            "t10k-labels-idx1-ubyte, each optionally .gz",
        )


class NpzParams(ir.Params):
    path: str = Field(min_length=1, description="the .npz file")
    x: str | tuple[str, ...] = Field(
        "x", description="name of the inputs array, or a list: one per model input, in order"
    )
    y: str | tuple[str, ...] | None = Field(
        "y",
        description="name of the targets array, or a list: one per model output, in order; "
        "none: inputs alone (for netspec predict)",
    )


class Npz(DataSourceEntry):
    """A NumPy `.npz` file with an inputs array and a targets array (`x` and `y`, or the names
    given); for several inputs or outputs, lists of names (`x=["profile", "history"]`), or, with
    x and y left out and no arrays named `x` and `y`, the arrays named like the model's inputs
    and outputs."""

    kind = "npz"
    Params = NpzParams
    positional = ("path",)
    summary = "a NumPy .npz file with an inputs array and a targets array (or one per input/output)"

    def load(self, p: NpzParams, seed: int) -> RawData:
        import numpy as np

        if p.y is None:
            raise DataError(
                "E0402",
                f'npz("{p.path}", y=none) gives inputs alone, and training and evaluation '
                "need targets",
                hint='name the targets array: y="…" (y=none is for netspec predict)',
            )
        wanted = [*_names(p.x), *_names(p.y)]
        try:
            with np.load(p.path, allow_pickle=False) as archive:
                if p.x == "x" and p.y == "y" and not {"x", "y"} & set(archive.files):
                    named = {name: archive[name] for name in archive.files}
                    return RawData(
                        np.zeros((0,), dtype=np.float32),
                        np.zeros((0,), dtype=np.float32),
                        description=f"npz file {p.path}",
                        named=named,
                    )
                missing = [k for k in wanted if k not in archive.files]
                if missing:
                    raise DataError(
                        "E0402",
                        f"{p.path} has no array named {missing[0]!r}",
                        hint=f"arrays in the file: {', '.join(archive.files) or 'none'}; "
                        'name them with npz("file", x="…", y="…")',
                    )
                arrays = {name: archive[name] for name in wanted}
                for name, array in arrays.items():
                    _check_npz_array(p.path, name, array)
        except DataError:
            raise
        except npz_errors() as error:
            from netspec.catalogue.columns import unreadable

            raise DataError(
                "E0402", f"cannot read {p.path}: {unreadable(error, '.npz')}",
                hint='numpy.savez("file.npz", x=inputs, y=targets) writes one',
            ) from error
        description = f"npz file {p.path}"
        if isinstance(p.x, str) and isinstance(p.y, str):
            return RawData(*_arrays(arrays[p.x], arrays[p.y]), description=description)
        xs = tuple(arrays[name] for name in _names(p.x))
        ys = tuple(arrays[name] for name in _names(p.y))
        return RawData(xs, ys, description=description)  # type: ignore[arg-type]

    def load_inputs(
        self, p: NpzParams, seed: int, input_shape: ir.Shape, features: tuple[str, ...] | None = None
    ) -> RawData:
        """The inputs array (or arrays) alone; with x left out and no array named `x`, every
        array by name, for the model to take those named like its inputs."""
        import numpy as np

        description = f"npz file {p.path}"
        try:
            with np.load(p.path, allow_pickle=False) as archive:
                if p.x == "x" and "x" not in archive.files:
                    named = {name: archive[name] for name in archive.files}
                    empty = no_targets()
                    return RawData(empty, empty, description=description, named=named)
                missing = [k for k in _names(p.x) if k not in archive.files]
                if missing:
                    raise DataError(
                        "E0402",
                        f"{p.path} has no array named {missing[0]!r}",
                        hint=f"arrays in the file: {', '.join(archive.files) or 'none'}; "
                        'name the inputs with npz("file", x="…")',
                    )
                xs = tuple(archive[name] for name in _names(p.x))
                for name, array in zip(_names(p.x), xs, strict=True):
                    _check_npz_array(p.path, name, array)
        except DataError:
            raise
        except npz_errors() as error:
            from netspec.catalogue.columns import unreadable

            raise DataError(
                "E0402", f"cannot read {p.path}: {unreadable(error, '.npz')}"
            ) from error
        return RawData(_one(xs), no_targets(), description=description)


def npz_errors() -> tuple[type[BaseException], ...]:
    """What reading a broken .npz raises: zipfile and zlib on a damaged archive (a bad CRC, a
    cut, an unknown zip version or compression method), NumPy on a damaged array header."""
    import zipfile

    return (
        OSError, ValueError, EOFError, KeyError, NotImplementedError, struct.error, zlib.error,
        zipfile.BadZipFile,
    )


def _check_npz_array(path: str, name: str, array: np.ndarray) -> None:
    """An .npz array of samples: not a lone number, no NaN, infinity or huge value."""
    import numpy as np

    if np.ndim(array) == 0:
        raise DataError(
            "E0403",
            f"{path}: array {name!r} is a single number (a 0-d array), not an array of samples",
            hint="give one row per sample: an array of shape [samples, …]",
        )
    if np.issubdtype(array.dtype, np.number) and not np.issubdtype(array.dtype, np.complexfloating):
        check_values(array, f"{path}: array {name!r}")


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _names(value: str | tuple[str, ...] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else value


def no_targets() -> np.ndarray:
    """No targets: the empty column a source gives when it has none."""
    import numpy as np

    return np.zeros((0,), dtype=np.float32)


def _arrays(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import numpy as np

    for array, what in ((x, "inputs"), (y, "targets")):
        if np.ndim(array) == 0:
            raise DataError(
                "E0403",
                f"the {what} are a single number (a 0-d array), not an array of samples",
                hint="give one row per sample: an array of shape [samples, …]",
            )
    if len(x) != len(y):
        raise DataError("E0403", f"{len(x)} inputs but {len(y)} targets")
    if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
        raise DataError("E0403", f"inputs must be numbers, got {x.dtype}")
    x = x.astype(np.float32)
    if np.issubdtype(y.dtype, np.integer):
        y = y.astype(np.int64)
    elif np.issubdtype(y.dtype, np.floating):
        y = y.astype(np.float32)
    else:
        raise DataError("E0403", f"targets must be numbers, got {y.dtype}")
    return x, y


class CsvParams(ir.Params):
    path: str = Field(min_length=1, description="the .csv file, with a header row")
    target: str = Field(min_length=1, description="the column holding the targets")


class Csv(DataSourceEntry):
    kind = "csv"
    Params = CsvParams
    positional = ("path",)
    summary = "a CSV file with a header row; one column is the target, the others are inputs"

    def load(self, p: CsvParams, seed: int) -> RawData:
        import numpy as np

        header, body = _read_csv(p.path)
        if p.target not in header:
            raise DataError(
                "E0402",
                f"{p.path} has no column {p.target!r}",
                hint="columns: " + ", ".join(header) if names_shown(header)
                else "the target names a column of the file's first line, its header",
            )
        column = header.index(p.target)
        features = [i for i in range(len(header)) if i != column]
        x = _csv_numbers(p.path, header, body, features)
        targets = [row[column] for _, row in body]
        names = None
        try:
            values = [float(t) for t in targets]
            y = np.asarray(values)
            # whole numbers that fit int64 become labels; NaN and the like stay, refused later
            whole = np.all(np.abs(y) < 2**53) and np.all(y == np.round(y))
            y = y.astype(np.int64) if whole and len(set(values)) <= 1000 else y
        except ValueError:  # class names: map them to indices in sorted order
            names = sorted(set(targets))
            y = np.asarray([names.index(t) for t in targets], dtype=np.int64)
        if names is None:  # numbers: none NaN, infinite or huge (before they become float32)
            check_values(y, f"{p.path}: the target column '{p.target}'")
        x, y = _arrays(x, y)
        classes = int(y.max()) + 1 if y.dtype == np.int64 and len(y) else None
        return RawData(
            x,
            y,
            classes=classes,
            description=f"csv file {p.path}",
            class_names=tuple(names) if names is not None else None,
            feature_names=tuple(header[i] for i in features),
        )

    def load_inputs(
        self, p: CsvParams, seed: int, input_shape: ir.Shape, features: tuple[str, ...] | None = None
    ) -> RawData:
        return csv_inputs(p.path, features, p.target)


def csv_inputs(path: str, features: tuple[str, ...] | None, target: str | None) -> RawData:
    """A CSV's feature columns alone: those the run was trained on, by name and in their
    order (other columns, the target's among them, go unread); without them, every column
    but the target's."""
    header, body = _read_csv(path)
    if features is not None:
        missing = [name for name in features if name not in header]
        if missing:
            shown = ", ".join(repr(name) for name in missing[:5])
            raise DataError(
                "E0402",
                f"{path} has no column {shown}, which the run was trained on"
                if len(missing) == 1
                else f"{path} lacks {len(missing)} of the columns the run was trained on: "
                f"{shown}{', …' if len(missing) > 5 else ''}",
                hint=f"the run's feature columns: {', '.join(features)}; the file's: "
                + (", ".join(header) if names_shown(header) else "those of its first line"),
            )
        columns = [header.index(name) for name in features]
    else:
        columns = [i for i, name in enumerate(header) if name != target]
    return RawData(
        _csv_numbers(path, header, body, columns),
        no_targets(),
        description=f"csv file {path}",
        feature_names=tuple(header[i] for i in columns),
    )


_COLUMN_NAME = re.compile(r"[\w .()\[\]%#+\-/]{1,64}")


def names_shown(header: list[str]) -> bool:
    """Whether a CSV's first line reads as a header of column names, so a message may name
    them: two or more short names. Any other first line (`/etc/passwd`'s, a key, prose) is
    a file's content, which a message never quotes."""
    return len(header) >= 2 and all(_COLUMN_NAME.fullmatch(name) for name in header)


def column_name(header: list[str], index: int) -> str:
    """A column as a message names it: 'name' from a header of names, else its number."""
    return repr(header[index]) if names_shown(header) else f"{index + 1}"


def _read_csv(path: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header and the rows of a CSV file, each with its line number (blank lines left
    out), every row as long as the header. utf-8-sig: a byte-order mark (Excel's, Notepad's)
    is no part of the first column's name."""
    import csv

    try:
        with open(path, newline="", encoding="utf-8-sig") as stream:
            rows = list(csv.reader(stream))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        from netspec.catalogue.columns import unreadable

        raise DataError("E0402", f"cannot read {path}: {unreadable(error, '.csv')}") from error
    if not rows:
        raise DataError("E0402", f"{path} is empty")
    header, body = rows[0], [(n, r) for n, r in enumerate(rows[1:], start=2) if r]
    for number, row in body:
        if len(row) != len(header):
            raise DataError("E0402", f"{path}:{number}: {len(row)} fields, header has {len(header)}")
    return header, body


def _csv_numbers(
    path: str, header: list[str], body: list[tuple[int, list[str]]], columns: list[int]
) -> np.ndarray:
    """The given columns of every row as float32 numbers; a field that is not one is named
    by its line and column."""
    import numpy as np

    features = []
    for number, row in body:
        try:
            features.append([float(row[i]) for i in columns])
        except ValueError:  # the field itself is not quoted: the file may be no CSV at all
            column = next(i for i in columns if not _number(row[i]))
            raise DataError(
                "E0402", f"{path}:{number}: column {column_name(header, column)} is not a number"
            ) from None
    table = np.asarray(features, dtype=np.float64).reshape(len(body), len(columns))
    _check_csv_values(path, header, body, columns, table)
    return table.astype(np.float32)


def _check_csv_values(
    path: str,
    header: list[str],
    body: list[tuple[int, list[str]]],
    columns: list[int],
    table: np.ndarray,
) -> None:
    """No 'nan', 'inf' or huge number among a CSV's features (Python reads them as floats):
    a DataError naming the count and the first one's line and column."""
    from netspec.catalogue.values import scan

    found = scan(table)
    if found is None:
        return
    row, column = found.first
    number, fields = body[row]
    raise DataError(
        "E0405",
        f"{path}:{number}: column {column_name(header, columns[column])} holds "
        f"{fields[columns[column]].strip()!r}; the feature columns hold {found.counts()} "
        "in all",
        hint=found.hint,
    )


# --------------------------------------------------------------------------- sources that stream


NPY_IN_MEMORY_BYTES = 16 * 2**20
"""`.npy` files up to this size (labels, small sets) are read whole; larger ones by rows."""


class NpyDirParams(ir.Params):
    path: str = Field(min_length=1, description="folder of .npy files")
    x: str | tuple[str, ...] = Field(
        "x", description="stem of the inputs file (x → x.npy), or a list: one per model input"
    )
    y: str | tuple[str, ...] = Field(
        "y", description="stem of the targets file (y → y.npy), or a list: one per model output"
    )


class NpyDir(DataSourceEntry):
    """A folder of `.npy` files read row by row from disk as batches need them, so an array
    larger than memory trains (`pipeline = stream`): `x.npy` and `y.npy` (or the stems named);
    `x_test.npy` and `y_test.npy` beside them are the source's test set. With x and y left out
    and no `x.npy`, the files named like the model's inputs and outputs (`profile.npy`, …), as
    `npz` does.
    """

    kind = "npy_dir"
    Params = NpyDirParams
    positional = ("path",)
    summary = "a folder of .npy files read from disk as batches need them (larger than memory)"
    notes = "Files up to 16 MB (labels) are read whole."

    def load(self, p: NpyDirParams, seed: int) -> RawData:
        folder, present = _npy_folder(p.path)
        description = f"npy files in {folder} (read from disk)"
        if p.x == "x" and p.y == "y" and "x" not in present:
            named = {stem: _npy_column(folder, stem, present) for stem in present}
            return RawData(no_targets(), no_targets(), description=description, named=named)
        xs = tuple(_npy_column(folder, stem, present) for stem in _names(p.x))
        ys = tuple(_npy_column(folder, stem, present) for stem in _names(p.y))
        test = {f"{s}_test" for s in (*_names(p.x), *_names(p.y))}
        x_test = y_test = None
        if test <= set(present):
            x_test = _one(tuple(_npy_column(folder, f"{s}_test", present) for s in _names(p.x)))
            y_test = _one(tuple(_npy_column(folder, f"{s}_test", present) for s in _names(p.y)))
        return RawData(_one(xs), _one(ys), x_test, y_test, description=description)

    def load_inputs(
        self, p: NpyDirParams, seed: int, input_shape: ir.Shape, features: tuple[str, ...] | None = None
    ) -> RawData:
        """The inputs files alone (no `y.npy` needed); with x left out and no `x.npy`, every
        file by name, as `load` takes them."""
        folder, present = _npy_folder(p.path)
        description = f"npy files in {folder} (read from disk)"
        if p.x == "x" and "x" not in present:
            named = {stem: _npy_column(folder, stem, present) for stem in present}
            return RawData(no_targets(), no_targets(), description=description, named=named)
        xs = tuple(_npy_column(folder, stem, present) for stem in _names(p.x))
        return RawData(_one(xs), no_targets(), description=description)


def _npy_folder(path: str) -> tuple[Path, list[str]]:
    """npy_dir's folder and the stems of its `.npy` files."""
    folder = Path(path)
    if not folder.is_dir():
        raise DataError(
            "E0402",
            f"npy_dir: folder {folder} does not exist",
            hint="npy_dir reads DIR/x.npy and DIR/y.npy (np.save writes them)",
        )
    return folder, sorted(f.stem for f in folder.glob("*.npy"))


def _npy_column(folder: Path, stem: str, present: list[str]) -> Any:
    """The column of `folder/stem.npy`: read whole when small (labels), else by rows."""
    from netspec.catalogue.columns import ColumnError, NpyRows

    path = folder / f"{stem}.npy"
    if not path.is_file():
        raise DataError(
            "E0402",
            f"npy_dir: {folder} has no {stem}.npy",
            hint=f"files: {', '.join(f'{n}.npy' for n in present) or 'none'}",
        )
    try:
        rows = NpyRows(path)
        if path.stat().st_size <= NPY_IN_MEMORY_BYTES:  # labels: read whole
            return rows[slice(None)]
        return rows
    except ColumnError as error:
        raise DataError("E0402", error.message, error.hint) from error


def _one(columns: tuple[Any, ...]) -> Any:
    return columns[0] if len(columns) == 1 else columns


class ImageFolderParams(ir.Params):
    path: str = Field(min_length=1, description="folder with one sub-folder of images per class")
    validation: str | None = Field(
        None, description="a second folder of the same classes, the validation set"
    )
    crop: bool = Field(
        False,
        description="crop the largest central window of the input's aspect ratio before "
        "resizing (else the image is resized, its aspect ratio not kept)",
    )
    interpolation: Literal["nearest", "bilinear", "bicubic", "lanczos"] = Field(
        "bilinear", description="how images of another size are resized to the input's"
    )


class ImageFolder(DataSourceEntry):
    """Images in one sub-folder per class (torchvision's ImageFolder, Keras'
    image_dataset_from_directory): classes in name order, labels 0, 1, …; JPEG, PNG and the
    other formats Pillow reads, converted to the input's channels (1: greyscale, 3: RGB,
    4: RGBA) and resized to its height and width; values 0–255 (`divide_by = 255` or a
    Rescaling layer scales them). Decoded when a batch is read, so the folder can be larger
    than memory."""

    kind = "image_folder"
    Params = ImageFolderParams
    positional = ("path",)
    needs_input_shape = True
    summary = "one sub-folder of images per class (JPEG, PNG), decoded with Pillow as batches need them"
    notes = (
        "Every file's header is checked before training: a non-image file, an empty class "
        "folder, a file Pillow cannot read is an error naming them; hidden files are skipped."
    )

    def load(self, p: ImageFolderParams, seed: int) -> RawData:
        raise DataError("E0402", "image_folder needs the model's input shape to read images")

    def load_shaped(self, p: ImageFolderParams, seed: int, input_shape: ir.Shape) -> RawData:
        import numpy as np

        from netspec.catalogue.columns import (
            ColumnError,
            ImageFiles,
            check_images,
            scan_class_folders,
        )

        height, width, channels = image_shape(input_shape)

        def read(folder: str, what: str) -> tuple[Any, Any, tuple[str, ...]]:
            try:
                scanned = scan_class_folders(Path(folder), what)
                check_images(scanned.files, scanned.root, what)
            except ColumnError as error:
                raise DataError("E0402", error.message, error.hint) from error
            images = ImageFiles(
                scanned.files, height, width, channels, p.crop, p.interpolation, scanned.root
            )
            return images, np.asarray(scanned.labels, dtype=np.int64), scanned.class_names

        x, y, names = read(p.path, "image_folder")
        x_val = y_val = None
        if p.validation is not None:
            x_val, y_val, val_names = read(p.validation, "image_folder validation")
            if val_names != names:
                raise DataError(
                    "E0402",
                    f"the validation folder's classes ({', '.join(val_names)}) are not the "
                    f"training folder's ({', '.join(names)})",
                    hint="give both folders the same class sub-folders",
                )
        return RawData(
            x,
            y,
            classes=len(names),
            description=f"image folder {p.path}: {len(x):,} images of {len(names)} classes",
            x_val=x_val,
            y_val=y_val,
            class_names=names,
            decodes=True,
        )

    def load_inputs(
        self,
        p: ImageFolderParams,
        seed: int,
        input_shape: ir.Shape,
        features: tuple[str, ...] | None = None,
    ) -> RawData:
        """The images alone: those directly in the folder, or, with none there, those of its
        class folders (their labels go unread); read as in training."""
        from netspec.catalogue.columns import ColumnError, check_images, scan_images

        image_shape(input_shape)  # an image input, before the folder is scanned
        root = Path(p.path)
        try:
            files = scan_images(root, "image_folder")
            check_images(files, root, "image_folder")
        except ColumnError as error:
            raise DataError("E0402", error.message, error.hint) from error
        return RawData(
            image_files(files, input_shape, p.crop, p.interpolation, root),
            no_targets(),
            description=f"image folder {p.path}: {len(files):,} images",
            decodes=True,
        )


def image_shape(input_shape: ir.Shape) -> tuple[int, int, int]:
    """Height, width and channels of an image input, or a DataError for another shape."""
    from netspec.catalogue.columns import MODES

    if len(input_shape) != 3 or input_shape[-1] not in MODES:
        raise DataError(
            "E0401",
            f"image_folder makes images [height, width, channels] with 1, 3 or 4 channels, "
            f"but the model's input is {list(input_shape)}",
            hint="declare an image input such as input [28, 28, 1] or input [224, 224, 3]",
        )
    height, width, channels = input_shape
    return height, width, channels


def image_files(
    files: tuple[str, ...], input_shape: ir.Shape, crop: bool, interpolation: str, root: Path
) -> Any:
    """A column of image files decoded to the input's shape [height, width, channels]."""
    from netspec.catalogue.columns import ImageFiles

    height, width, channels = image_shape(input_shape)
    return ImageFiles(files, height, width, channels, crop, interpolation, root)
