"""A data fuzzer: mutated `.npz`, `.csv`, IDX and `.npy` files through `netspec train`'s data checks
and `netspec predict`'s, in-process.

Each case is a small valid file (or IDX folder) mutated once: at the byte level (cut short,
bytes flipped, zeroed, inserted, duplicated, emptied) or at the array level (NaN, infinities,
values near float32's limit, no rows, one row, a 0-d array, objects, strings, complex numbers,
other shapes and lengths, labels outside the classes) or, for a CSV, at the text level. Every
case must end in one of two ways: a DataError (a diagnostic), or data that prepares and whose
converted values are all finite. Anything else is a finding: `traceback` (another exception)
or `garbage` (prepared, yet NaN or infinite values would reach the model). No case may call
pickle. Used by tests/fuzz/test_data_fuzz.py (a fixed-seed sample) and bench/data_fuzz.py (a
longer campaign).
"""

from __future__ import annotations

import csv
import io
import pickle
import struct
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from netspec import data, inputs, ir
from netspec.catalogue import data as sources
from netspec.frontend import check_source

FEATURES_SPEC = """\
model m {
  input [4]
  layers {
    Dense(3, activation=softmax)
  }
  loss sparse_categorical_crossentropy
  optimizer Adam
  train {
    seed = 0
    batch_size = 1000
    %s
  }
}
"""

IMAGES_SPEC = """\
model images {
  input [4, 4]
  layers {
    Flatten()
    Dense(3, activation=softmax)
  }
  loss sparse_categorical_crossentropy
  optimizer Adam
  train {
    seed = 0
  }
}
"""

BAD_NUMBERS = (np.nan, np.inf, -np.inf, 1e38, -3.4e38, 3e19, 1e300)


@dataclass(frozen=True)
class Case:
    """One mutated file: its kind (npz, csv, idx), the mutation, and how to write it."""

    kind: str  # npz, csv, idx, npy (a folder of x.npy and y.npy)
    mutation: str
    write: Callable[[Path], Path]  # writes the case under a folder, returns the path to load


@dataclass
class Result:
    case: Case
    stage: str  # "train" or "predict"
    outcome: str  # "diagnostic", "ok", "traceback", "garbage", "pickle"
    detail: str = ""


# --------------------------------------------------------------------------- valid seeds


def _seed_arrays(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    n = int(rng.integers(8, 40))
    return rng.normal(size=(n, 4)).astype(np.float32), rng.integers(0, 3, n).astype(np.int64)


def _npz_bytes(arrays: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _csv_text(x: np.ndarray, y: np.ndarray) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["a", "b", "c", "d", "label"])
    for row, label in zip(x.tolist(), y.tolist(), strict=True):
        writer.writerow([*(repr(v) for v in row), label])
    return out.getvalue()


def _idx_bytes(array: np.ndarray, code: int) -> bytes:
    types = {0x08: ">u1", 0x0D: ">f4", 0x0E: ">f8"}
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    with np.errstate(over="ignore"):  # 1e300 as float32 is the infinity meant
        return header + np.ascontiguousarray(array).astype(types[code]).tobytes()


# --------------------------------------------------------------------------- mutations


def _mutate_bytes(content: bytes, rng: np.random.Generator) -> tuple[str, bytes]:
    """A byte-level mutation of a file's content."""
    size = len(content)
    choice = int(rng.integers(7))
    at = int(rng.integers(max(size, 1)))
    if choice == 0:
        return f"truncate@{at}", content[:at]
    if choice == 1:
        flipped = bytearray(content)
        for position in rng.integers(0, max(size, 1), size=int(rng.integers(1, 8))):
            if size:
                flipped[int(position)] ^= int(rng.integers(1, 256))
        return "flip", bytes(flipped)
    if choice == 2:
        length = int(rng.integers(1, 64))
        return f"zero@{at}", content[:at] + bytes(length) + content[at + length :]
    if choice == 3:
        noise = rng.integers(0, 256, size=int(rng.integers(1, 64))).astype(np.uint8).tobytes()
        return f"insert@{at}", content[:at] + noise + content[at:]
    if choice == 4:
        return f"duplicate@{at}", content[:at] + content[at : at + 64] + content[at:]
    if choice == 5:
        return "empty", b""
    return f"delete@{at}", content[:at] + content[at + int(rng.integers(1, 64)) :]


def _mutate_arrays(
    x: np.ndarray, y: np.ndarray, rng: np.random.Generator
) -> tuple[str, dict[str, Any]]:
    """An array-level mutation: (what it did, the arrays to save)."""
    choice = int(rng.integers(16))
    x, y = x.copy(), y.copy()
    if choice <= 3:  # bad numbers in the inputs (the commonest real-world fault)
        value = BAD_NUMBERS[int(rng.integers(len(BAD_NUMBERS)))]
        wide = x.astype(np.float64) if abs(value) > 3.4e38 else x
        for _ in range(int(rng.integers(1, 4))):
            wide[int(rng.integers(len(x))), int(rng.integers(4))] = value
        return f"x holds {value}", {"x": wide, "y": y}
    if choice == 4:
        value = BAD_NUMBERS[int(rng.integers(len(BAD_NUMBERS)))]
        labels = y.astype(np.float64)
        labels[int(rng.integers(len(y)))] = value
        return f"y holds {value}", {"x": x, "y": labels}
    if choice == 5:
        return "no rows", {"x": x[:0], "y": y[:0]}
    if choice == 6:
        rows = int(rng.integers(1, 6))
        return f"{rows} rows", {"x": x[:rows], "y": y[:rows]}
    if choice == 7:
        which = "x" if rng.integers(2) else "y"
        arrays = {"x": x, "y": y}
        arrays[which] = np.asarray(arrays[which].reshape(-1)[0])
        return f"0-d {which}", arrays
    if choice == 8:
        return "object x", {"x": np.array([object()] * len(x)), "y": y}
    if choice == 9:
        return "string x", {"x": x.astype(str), "y": y}
    if choice == 10:
        return "complex x", {"x": x.astype(np.complex64) * 1j, "y": y}
    if choice == 11:
        return "lengths differ", {"x": x, "y": y[:-1]}
    if choice == 12:
        return "other shape", {"x": x.reshape(len(x), 2, 2), "y": y}
    if choice == 13:
        return "labels outside", {"x": x, "y": y + int(rng.choice([-5, 3, 1000]))}
    if choice == 14:
        return "no y", {"x": x, "z": y}
    return "bool x", {"x": x > 0, "y": y}


def _mutate_csv(text: str, rng: np.random.Generator) -> tuple[str, str | bytes]:
    lines = text.splitlines()
    choice = int(rng.integers(10))
    row = int(rng.integers(1, len(lines)))
    fields = lines[row].split(",")
    column = int(rng.integers(len(fields)))
    if choice <= 2:
        value = rng.choice(["nan", "NaN", "inf", "-inf", "1e39", "-1e39", "3e19", "1e308"])
        fields[column] = str(value)
        lines[row] = ",".join(fields)
        return f"field {value}", "\n".join(lines) + "\n"
    if choice == 3:
        return "header only", lines[0] + "\n"
    if choice == 4:
        return "empty", ""
    if choice == 5:
        fields[column] = rng.choice(["", " ", "x", '"1,2"', "1_0", "0x10"])
        lines[row] = ",".join(fields)
        return "odd field", "\n".join(lines) + "\n"
    if choice == 6:
        lines[row] = ",".join(fields[: max(column, 1)])
        return "ragged row", "\n".join(lines) + "\n"
    if choice == 7:
        return "latin-1 bytes", ("\n".join(lines) + "\n").encode() + b"\xff\xfe,\xe9\n"
    if choice == 8:
        lines.insert(row, "")
        return "blank lines", "\n".join(lines) + "\n\n"
    return "one row", "\n".join(lines[:2]) + "\n"


# --------------------------------------------------------------------------- cases


def cases(seed: int, count: int) -> Iterator[Case]:
    """`count` mutated files, the same for the same seed."""
    rng = np.random.default_rng(seed)
    for number in range(count):
        kind = ("npz", "csv", "npz", "idx", "npy")[number % 5]
        x, y = _seed_arrays(rng)
        byte_level = bool(rng.integers(2))
        if kind == "npz":
            if byte_level:
                mutation, content = _mutate_bytes(_npz_bytes({"x": x, "y": y}), rng)
            else:
                mutation, arrays = _mutate_arrays(x, y, rng)
                content = _npz_bytes(arrays)
            yield Case("npz", mutation, _writer("case.npz", content))
        elif kind == "csv":
            text = _csv_text(x, y)
            if byte_level:
                mutation, raw = _mutate_bytes(text.encode(), rng)
            else:
                mutation, raw = _mutate_csv(text, rng)
            yield Case("csv", mutation, _writer("case.csv", raw))
        elif kind == "npy":
            yield _npy_case(x, y, rng, byte_level)
        else:
            yield _idx_case(rng, byte_level)


def _npy_bytes(array: Any) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _npy_case(x: np.ndarray, y: np.ndarray, rng: np.random.Generator, byte_level: bool) -> Case:
    """A folder of x.npy and y.npy (npy_dir for train, x.npy as a path for predict)."""
    if byte_level:
        mutation, content = _mutate_bytes(_npy_bytes(x), rng)
        files = {"x.npy": content, "y.npy": _npy_bytes(y)}
    else:
        mutation, arrays = _mutate_arrays(x, y, rng)
        files = {f"{name}.npy": _npy_bytes(array) for name, array in arrays.items()}

    def write(folder: Path) -> Path:
        root = folder / "npy"
        root.mkdir()
        for name, content in files.items():
            (root / name).write_bytes(content)
        return root

    return Case("npy", mutation, write)


def _writer(name: str, content: str | bytes) -> Callable[[Path], Path]:
    def write(folder: Path) -> Path:
        path = folder / name
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        return path

    return write


IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def _idx_case(rng: np.random.Generator, byte_level: bool) -> Case:
    n = int(rng.integers(4, 16))
    images = rng.integers(0, 256, size=(n, 4, 4)).astype(np.float64)
    labels = rng.integers(0, 3, size=n)
    code = int(rng.choice([0x08, 0x0D, 0x0E]))
    mutation = "none"
    if not byte_level and code != 0x08:
        value = BAD_NUMBERS[int(rng.integers(len(BAD_NUMBERS)))]
        images[int(rng.integers(n)), int(rng.integers(4)), int(rng.integers(4))] = value
        mutation = f"image holds {value}"
    contents = [
        _idx_bytes(images, code),
        _idx_bytes(labels, 0x08),
        _idx_bytes(images[: n // 2 + 1], code),
        _idx_bytes(labels[: n // 2 + 1], 0x08),
    ]
    target = int(rng.integers(4))
    if byte_level:
        mutation, contents[target] = _mutate_bytes(contents[target], rng)
        mutation = f"{IDX_FILES[target]} {mutation}"
    gz = bool(rng.integers(4) == 0)

    def write(folder: Path) -> Path:
        import gzip

        root = folder / "idx"
        root.mkdir()
        for name, content in zip(IDX_FILES, contents, strict=True):
            if gz:
                (root / f"{name}.gz").write_bytes(gzip.compress(content))
            else:
                (root / name).write_bytes(content)
        return root

    return Case("idx", f"{mutation}{' (gz)' if gz else ''}", write)


# --------------------------------------------------------------------------- running


class PickleCalled(Exception):
    pass


class _NoPickle:
    """pickle.load and pickle.loads raise while a case runs: nothing may unpickle."""

    def __enter__(self) -> None:
        self.saved = pickle.load, pickle.loads

        def refuse(*args: Any, **kwargs: Any) -> Any:
            raise PickleCalled("pickle was called")

        pickle.load, pickle.loads = refuse, refuse  # type: ignore[assignment]

    def __exit__(self, *exc: Any) -> None:
        pickle.load, pickle.loads = self.saved  # type: ignore[assignment]


@dataclass
class Models:
    """The checked specs the cases load for (parsed once: cases swap the data source)."""

    features: ir.Model
    images: ir.Model

    @classmethod
    def make(cls, train: str = "") -> Models:
        features, diagnostics = check_source(FEATURES_SPEC % train, "fuzz.net", {})
        images, more = check_source(IMAGES_SPEC, "fuzz_images.net", {})
        assert features is not None and images is not None, [*diagnostics, *more]
        return cls(features, images)


def _source(case: Case, path: Path, span: Any) -> ir.DataSource:
    params: ir.Params
    if case.kind == "npz":
        params = sources.NpzParams(path=str(path))
    elif case.kind == "csv":
        params = sources.CsvParams(path=str(path), target="label")
    elif case.kind == "npy":
        params = sources.NpyDirParams(path=str(path))
    else:
        params = sources.IdxParams(path=str(path))
    kind = "npy_dir" if case.kind == "npy" else case.kind
    return ir.DataSource(kind=kind, params=params, span=span)


def _finite(arrays: Any) -> bool:
    parts = arrays if isinstance(arrays, tuple) else (arrays,)
    return all(part is None or bool(np.all(np.isfinite(part))) for part in parts)


def run_case(case: Case, folder: Path, models: Models) -> list[Result]:
    """The case through train's data checks and predict's; one Result for each."""
    path = case.write(folder)
    model = models.images if case.kind == "idx" else models.features
    source = _source(case, path, model.span)
    model = model.model_copy(update={"train": model.train.model_copy(update={"data": source})})
    results = []

    def attempt(stage: str, body: Callable[[], bool]) -> None:
        try:
            with _NoPickle():
                fine = body()
        except data.DataError as error:
            results.append(Result(case, stage, "diagnostic", f"{error.code} {error.message}"))
        except PickleCalled:
            results.append(Result(case, stage, "pickle", "pickle was called"))
        except Exception:  # a finding: what a user would see as a traceback
            results.append(Result(case, stage, "traceback", traceback.format_exc(limit=-3)))
        else:
            results.append(Result(case, stage, "ok" if fine else "garbage"))

    def train() -> bool:
        prepared = data.prepare(model, model.train)
        splits = [s for s in (prepared.train, prepared.validation, prepared.test) if s is not None]
        return all(len(s) > 0 and all(_finite(a) for a in s.arrays()) for s in splits)

    def predict() -> bool:
        training = inputs.Training(model.train.data, None)
        given = {"idx": None, "npy": path / "x.npy"}.get(case.kind, path)
        raw = inputs.load(model, training, source if given is None else None, given)
        split = inputs.split(raw, model, None, training)
        return len(split) > 0 and _finite(split.arrays()[0])

    attempt("train", train)
    attempt("predict", predict)
    return results


def findings(results: list[Result]) -> list[Result]:
    return [r for r in results if r.outcome not in ("diagnostic", "ok")]
