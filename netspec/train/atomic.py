"""Run-folder files written whole or not at all: a temporary file beside the target, flushed
to the disk (fsync), then renamed over it, and the folder flushed so the rename survives a
power cut. A run killed (SIGKILL) or stopped by a full disk at any moment leaves each file as
it was before or as it is after, never half of it; a failed write says which path and why.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from netspec.train.errors import TrainError

WHY = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "the disk quota is used up",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
}


class RunFolderError(TrainError):
    """A run-folder file could not be written (full disk, read-only folder): exit 1, as for a
    run that failed, not 2, a usage error."""

    exit_status = 1


def temporary(path: Path) -> Path:
    """The temporary name `path` is written under: beside it (a rename stays on one file
    system), with its suffix last (Keras saves only to names ending in .keras)."""
    return path.with_name(f"{path.stem}.tmp{path.suffix}")


def write_failure(path: Path, error: OSError) -> RunFolderError:
    """The error a failed write of `path` becomes: the path and the reason, in words."""
    why = WHY.get(error.errno or 0) or (error.strerror or str(error))
    return RunFolderError(
        f"cannot write {path}: {why}",
        hint="free some space or choose a writable --out; the files already there are whole"
        if error.errno in (errno.ENOSPC, errno.EDQUOT)
        else "choose a writable folder with --out; the files already there are whole",
    )


@contextlib.contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """Yields the temporary path to write; once the block ends it is flushed and renamed to
    `path`. On any error the temporary file goes and `path` stays as it was; an OSError
    becomes a RunFolderError naming `path`."""
    tmp = temporary(path)
    try:
        yield tmp
        _flush(tmp)
        os.replace(tmp, path)
        _flush_folder(path.parent)
    except BaseException as error:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise write_failure(path, error) from error
        raise


def write_bytes(path: Path, data: bytes) -> None:
    with replacing(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_with(path: Path, save: Callable[[Path], object]) -> None:
    """`save(tmp)` writes the file (a framework's saver), then it replaces `path`."""
    with replacing(path) as tmp:
        save(tmp)


def _flush(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _flush_folder(folder: Path) -> None:
    """The rename to the disk too; some file systems cannot fsync a folder: then it waits."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
