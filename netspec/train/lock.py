"""One `netspec train` per run folder: DIR/.netspec.lock, held with flock while a run writes.

The operating system lets go of a flock when its process ends, however it ends (SIGKILL,
a crash, a power cut), so a lock never outlives its run and never needs deleting: a second
run finds it held only while the first one is alive. The file holds the holder's process id,
for the message. On a file system without flock (some network ones) runs are not locked.
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path

from netspec.train.atomic import RunFolderError, write_failure

LOCK_FILE = ".netspec.lock"


class FolderBusy(RunFolderError):
    """Another live `netspec train` writes the folder (exit 1)."""


def busy(folder: Path, holder: str) -> FolderBusy:
    who = f"(process {holder}) " if holder else ""
    return FolderBusy(
        f"{folder} is being written by another `netspec train` {who}right now; two runs in "
        "one folder would mix their checkpoints",
        hint="wait until that run ends (then --resume continues it), or choose another --out",
    )


class RunLock:
    """The lock of one run folder, held from `acquire` until `release` or the process ends."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.descriptor: int | None = None

    def acquire(self) -> RunLock:
        """Take the lock, or raise FolderBusy naming the process that holds it."""
        import fcntl

        path = self.folder / LOCK_FILE
        try:
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            raise write_failure(path, error) from error
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            holder = _read_holder(descriptor)
            os.close(descriptor)
            if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise busy(self.folder, holder) from None
            return self  # no flock here (ENOLCK, EOPNOTSUPP): unlocked, as before
        with contextlib.suppress(OSError):
            os.ftruncate(descriptor, 0)
            os.write(descriptor, f"{os.getpid()}\n".encode())
        self.descriptor = descriptor
        return self

    def release(self) -> None:
        if self.descriptor is not None:
            os.close(self.descriptor)  # closing the descriptor lets go of the flock
            self.descriptor = None


def check_unlocked(folder: Path) -> None:
    """Raise FolderBusy when a live run holds `folder`'s lock (before any work is done)."""
    if (folder / LOCK_FILE).is_file():
        RunLock(folder).acquire().release()


def held(folder: Path) -> bool | None:
    """Whether a live process holds `folder`'s lock (this one included), without taking it or
    writing anything (a read-only folder can be asked); None when no lock file or no flock
    can tell."""
    import fcntl

    try:
        descriptor = os.open(folder / LOCK_FILE, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)  # let go of when closed
    except OSError as error:
        return True if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES) else None
    finally:
        os.close(descriptor)
    return False


def _read_holder(descriptor: int) -> str:
    try:
        return os.pread(descriptor, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return ""
