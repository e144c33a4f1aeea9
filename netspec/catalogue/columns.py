"""Columns that read their samples only when asked: `.npy` files on disk and image files.

A column is what a data source gives for one input or target: a NumPy array, or an object
that behaves like one for what netspec needs — `len()`, `.shape`, `.dtype`, and
`column[rows]` for an integer array of rows, which returns an ndarray. The two here let a data
set larger than memory train: only the rows of the batches being read are ever in memory.

`NpyRows` reads rows with `os.pread` rather than through a memory map: a map keeps every page
it touched in the process's resident memory until the map closes (measured: a pass over a
2 GB array took the resident set to 2.1 GB; with pread it stayed at 37 MB), and pread shares
no file position, so forked DataLoader workers can read from one descriptor.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
"""The files `image_folder` reads as images (any case); Pillow decodes them."""


def unreadable(error: BaseException, kind: str) -> str:
    """Why a data file cannot be read, in netspec's words rather than a library's (no
    `[Errno 2]`, no NumPy advice about pickles): `kind` names the format, e.g. ".npz"."""
    if isinstance(error, IsADirectoryError):
        return "it is a folder, not a file"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    if isinstance(error, UnicodeDecodeError):
        return "it is not UTF-8 text"
    if "Object arrays" in str(error):
        return "it holds Python objects, not numbers"
    if kind == ".csv":
        return "it is not a CSV file netspec can read (a field too large, or a broken quote)"
    return f"it is not a NumPy {kind} file"


class ColumnError(Exception):
    """A column that cannot be opened or read; data.py turns it into a DataError."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


# --------------------------------------------------------------------------- .npy files


class NpyRows:
    """The rows of a C-ordered `.npy` file, read on demand.

    The header is checked when the column is made (a broken file fails before training);
    a shuffled batch costs one small `pread` per row (about 1.3 µs here), consecutive rows (an
    ordered pass, as evaluation makes) one read for them all.
    """

    def __init__(self, path: Path) -> None:
        import tokenize

        import numpy as np

        self.path = path
        try:
            with open(path, "rb") as stream:
                version = np.lib.format.read_magic(stream)
                if version == (1, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
                else:
                    shape, fortran, dtype = np.lib.format.read_array_header_2_0(stream)
                self.offset = stream.tell()
            size = path.stat().st_size
        except (OSError, ValueError, EOFError, TypeError, SyntaxError, tokenize.TokenError) as error:
            # a damaged header: NumPy parses it as a Python literal, and says so in its words
            raise ColumnError(f"cannot read {path}: {unreadable(error, '.npy')}") from error
        if dtype.hasobject:
            raise ColumnError(
                f"{path} holds Python objects ({dtype}), not numbers",
                hint="save a numeric array: np.save(path, array.astype(np.float32))",
            )
        if fortran and len(shape) > 1:
            raise ColumnError(
                f"{path} is stored in Fortran (column-major) order, which cannot be read by rows",
                hint="save it C-ordered: np.save(path, np.ascontiguousarray(array))",
            )
        if not shape:
            raise ColumnError(f"{path} holds a single number, not one row per sample")
        self.shape: tuple[int, ...] = tuple(int(d) for d in shape)
        self.dtype = np.dtype(dtype)
        self.row_bytes = int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize
        expected = self.offset + self.row_bytes * self.shape[0]
        if size < expected:
            raise ColumnError(
                f"{path} is truncated: {size:,} bytes, its header promises {expected:,}"
            )
        self._fd: int | None = None
        self._pid = 0

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        return f"NpyRows({str(self.path)!r}, shape={self.shape}, dtype={self.dtype})"

    def __getstate__(self) -> dict[str, Any]:  # a spawned worker opens the file itself
        return {**self.__dict__, "_fd": None, "_pid": 0}

    def _descriptor(self) -> int:
        if self._fd is None or self._pid != os.getpid():
            self._fd = os.open(self.path, os.O_RDONLY)
            self._pid = os.getpid()
        return self._fd

    def __getitem__(self, rows: Any) -> np.ndarray:
        import numpy as np

        if isinstance(rows, slice):
            rows = np.arange(*rows.indices(len(self)))
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        count, size, base = len(rows), self.row_bytes, self.offset
        out = np.empty((count, *self.shape[1:]), dtype=self.dtype)
        if not count:
            return out
        listed = rows.tolist()
        if min(listed) < 0 or max(listed) >= len(self):
            raise IndexError(f"rows outside 0 … {len(self) - 1} of {self.path}")
        view = memoryview(out.reshape(count, -1).view(np.uint8)).cast("B")
        descriptor, read = self._descriptor(), os.preadv
        first = listed[0]
        if listed[-1] - first == count - 1 and listed == list(range(first, first + count)):
            # consecutive rows (an ordered pass): one read
            if read(descriptor, [view], base + first * size) != count * size:
                raise ColumnError(f"{self.path}: short read at row {first}")
            return out
        start = 0
        for row in listed:  # a shuffled batch: a read a row, straight into its place
            if read(descriptor, [view[start : start + size]], base + row * size) != size:
                raise ColumnError(f"{self.path}: short read at row {row}")
            start += size
        return out


# --------------------------------------------------------------------------- image files


@dataclass(frozen=True)
class ClassFolders:
    """An image folder as scanned: one sub-folder per class, each with its image files."""

    root: Path
    class_names: tuple[str, ...]
    files: tuple[str, ...]  # paths, class by class, each class's files in name order
    labels: tuple[int, ...]


def scan_class_folders(root: Path, what: str) -> ClassFolders:
    """The classes and image files of a folder, or a ColumnError saying what is wrong.

    Hidden files and folders (names starting with '.') are skipped, as the file browsers
    that made them hide them; any other file that is not an image is an error, not silently
    left out, so that a misplaced file is noticed.
    """
    if not root.is_dir():
        raise ColumnError(
            f"{what}: folder {root} does not exist",
            hint="image_folder reads one sub-folder per class, e.g. DIR/cat/*.jpg, DIR/dog/*.jpg",
        )
    entries = sorted(p for p in root.iterdir() if not p.name.startswith("."))
    classes = [p for p in entries if p.is_dir()]
    loose = [p.name for p in entries if not p.is_dir()]
    if not classes:
        raise ColumnError(
            f"{what}: {root} has no class folders",
            hint="put each class's images in a sub-folder named after the class: "
            f"{root}/cat/1.jpg, {root}/dog/2.jpg, …",
        )
    if loose:
        shown = ", ".join(loose[:3]) + (f" and {len(loose) - 3} more" if len(loose) > 3 else "")
        raise ColumnError(
            f"{what}: {root} holds {len(loose)} file{'s' if len(loose) != 1 else ''} beside "
            f"its class folders: {shown}",
            hint="every image goes in the sub-folder of its class; move or remove the others",
        )
    files: list[str] = []
    labels: list[int] = []
    strangers: list[str] = []
    empty: list[str] = []
    for label, folder in enumerate(classes):
        found = sorted(
            p for p in folder.rglob("*") if p.is_file() and not _hidden(p.relative_to(folder))
        )
        images = [p for p in found if p.suffix.lower() in IMAGE_SUFFIXES]
        strangers += [str(p.relative_to(root)) for p in found if p.suffix.lower() not in IMAGE_SUFFIXES]
        if not images:
            empty.append(folder.name)
        files += [str(p) for p in images]
        labels += [label] * len(images)
    if strangers:
        raise _not_images(what, root, strangers, "image_folder", "the class folders")
    if empty:
        raise ColumnError(
            f"{what}: class folder{'s' if len(empty) != 1 else ''} "
            f"{', '.join(repr(e) for e in empty)} in {root} "
            f"{'have' if len(empty) != 1 else 'has'} no images",
            hint="every class needs at least one image; remove an empty folder",
        )
    return ClassFolders(root, tuple(p.name for p in classes), tuple(files), tuple(labels))


def _not_images(what: str, root: Path, strangers: list[str], reader: str, place: str) -> ColumnError:
    """The error for files among images that are none: the first three named."""
    shown = ", ".join(strangers[:3]) + (f" and {len(strangers) - 3} more" if len(strangers) > 3 else "")
    return ColumnError(
        f"{what}: {len(strangers)} file{'s' if len(strangers) != 1 else ''} in {root} "
        f"{'are' if len(strangers) != 1 else 'is'} not an image: {shown}",
        hint=f"{reader} reads " + ", ".join(sorted(IMAGE_SUFFIXES)) + " files; "
        f"move the others out of {place}",
    )


def scan_images(root: Path, what: str) -> tuple[str, ...]:
    """The image files of a folder to predict on: those directly in it, in name order, or,
    with none there, those of its class folders (as `scan_class_folders` finds them)."""
    if not root.is_dir():
        raise ColumnError(f"{what}: folder {root} does not exist")
    entries = sorted(p for p in root.iterdir() if not p.name.startswith("."))
    loose = [p for p in entries if not p.is_dir()]
    if not loose:
        if not entries:
            raise ColumnError(f"{what}: {root} is empty", hint="put the images to predict on in it")
        return scan_class_folders(root, what).files
    strangers = [p.name for p in loose if p.suffix.lower() not in IMAGE_SUFFIXES]
    if strangers:
        raise _not_images(what, root, strangers, "netspec", "the folder")
    return tuple(str(p) for p in loose)


def _hidden(relative: Path) -> bool:
    return any(part.startswith(".") for part in relative.parts)


MODES = {1: "L", 3: "RGB", 4: "RGBA"}
"""Pillow's mode for an image input's channels."""


def check_images(files: Sequence[str], root: Path, what: str) -> None:
    """Open every file's header (not its pixels): a file Pillow cannot identify is an error,
    named, with the count of such files. Reading headers of 60,000 PNGs takes about 2 s."""
    bad = [(str(Path(path).relative_to(root)), reason) for path, reason in unreadable_images(files)]
    if bad:
        shown = "; ".join(f"{name} ({reason})" for name, reason in bad[:3])
        more = f"; and {len(bad) - 3} more" if len(bad) > 3 else ""
        raise ColumnError(
            f"{what}: {len(bad)} of {len(files):,} files in {root} cannot be read as images: "
            f"{shown}{more}",
            hint="remove or replace the broken files",
        )


def unreadable_images(files: Sequence[str]) -> list[tuple[str, str]]:
    """The files whose image header Pillow cannot read, each with why."""
    from PIL import Image, UnidentifiedImageError

    bad: list[tuple[str, str]] = []
    for path in files:
        try:
            with Image.open(path) as image:
                image.size  # noqa: B018 (the header is parsed by open; size proves it)
        except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as error:
            bad.append((path, _reason(error)))
    return bad


def _reason(error: BaseException) -> str:
    text = str(error)
    if " identify image file" in text:
        return "not an image Pillow can read"
    return text.split(": '")[0] if text else type(error).__name__


@dataclass
class ImageFiles:
    """Images decoded with Pillow when their rows are read, as uint8 [height, width, channels].

    Each image is converted to the input's channels (L, RGB or RGBA), then, if its size is
    not the input's, resized with `interpolation` — after cropping the largest central window
    of the input's aspect ratio when `crop` is true (Keras' `crop_to_aspect_ratio`).
    """

    files: tuple[str, ...]
    height: int
    width: int
    channels: int
    crop: bool = False
    interpolation: str = "bilinear"
    root: Path = field(default_factory=Path)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.files), self.height, self.width, self.channels)

    @property
    def dtype(self) -> np.dtype:
        import numpy as np

        return np.dtype(np.uint8)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, rows: Any) -> np.ndarray:
        import numpy as np

        if isinstance(rows, slice):
            rows = np.arange(*rows.indices(len(self)))
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        out = np.empty((len(rows), self.height, self.width, self.channels), dtype=np.uint8)
        for k, row in enumerate(rows.tolist()):
            out[k] = self.decode(self.files[row])
        return out

    def decode(self, path: str) -> np.ndarray:
        import numpy as np
        from PIL import Image

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # palette-with-transparency notes and the like
                with Image.open(path) as image:
                    image = image.convert(MODES[self.channels])
                    if self.crop:
                        image = image.crop(_central_window(image.size, self.width, self.height))
                    if image.size != (self.width, self.height):
                        resample = getattr(Image.Resampling, self.interpolation.upper())
                        image = image.resize((self.width, self.height), resample)
                    pixels = np.asarray(image, dtype=np.uint8)
        except (OSError, ValueError, SyntaxError) as error:
            name = Path(path).relative_to(self.root) if self.root.parts else Path(path)
            raise ColumnError(
                f"{name} in {self.root} cannot be decoded: {error}",
                hint="remove or replace the broken file, then resume the run",
            ) from error
        return pixels.reshape(self.height, self.width, self.channels)


def _central_window(size: tuple[int, int], width: int, height: int) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the largest central box with the aspect ratio width:height."""
    w, h = size
    if w * height > h * width:  # too wide: keep the full height
        crop_w = max(1, round(h * width / height))
        left = (w - crop_w) // 2
        return (left, 0, left + crop_w, h)
    crop_h = max(1, round(w * height / width))
    top = (h - crop_h) // 2
    return (0, top, w, top + crop_h)
