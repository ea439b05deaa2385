"""A consistent copy of a live SQLite database, made with SQLite's online backup.

The source is read through one read-only connection in one read transaction: the copy
is the database as it was when the backup began, committed transactions still in the
`-wal` file included, while workers go on writing (in WAL mode a reader holds no
writer up). The copy is written to a temporary file beside the target, checked with
`PRAGMA quick_check`, synced, and only then renamed into place: a backup cut short
leaves no half-written file under the target's name.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
import time
from dataclasses import dataclass

from .._errors import StoreError
from .files import store_error
from .integrity import check_path, connect_read_only

__all__ = ["BackupReport", "backup"]


@dataclass(frozen=True, slots=True, kw_only=True)
class BackupReport:
    """What a backup wrote."""

    source: str
    target: str
    size: int
    """The copy's size in bytes."""
    seconds: float

    def to_dict(self) -> dict[str, object]:
        return {
            "source": self.source,
            "target": self.target,
            "size": self.size,
            "seconds": round(self.seconds, 3),
        }


def _refuse_target(source: str, target: str, overwrite: bool) -> None:
    check_path(target)
    if not os.path.exists(target):
        return
    if os.path.samefile(source, target):
        raise StoreError(f"{target} is the database itself: back it up to another file")
    if not overwrite:
        raise StoreError(
            f"{target} already exists: pick a new file, or pass --force (overwrite=True) "
            "to replace it"
        )
    if os.path.exists(target + "-wal"):
        # Its -wal would be read as part of the new file and damage it.
        raise StoreError(
            f"{target} has a -wal file beside it: it is open, or was not closed cleanly. "
            "Stop what uses it, or back up to another file"
        )


def _remove(path: str) -> None:
    for suffix in ("", "-journal", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path + suffix)


def _sync(path: str, *, folder: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if folder else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def backup(
    source: str | os.PathLike[str], target: str | os.PathLike[str], *, overwrite: bool = False
) -> BackupReport:
    """Copy the database file `source` into the new file `target` (0600).

    Raises StoreError if `source` is missing, if `target` exists (unless `overwrite`),
    is the source, or has a `-wal` file beside it, and if the copy cannot be written."""
    source, target = os.fspath(source), os.fspath(target)
    if not os.path.isfile(source):
        raise StoreError(f"no database file at {source}")
    _refuse_target(source, target, overwrite)
    began = time.monotonic()
    folder = os.path.dirname(os.path.abspath(target))
    try:
        fd, temporary = tempfile.mkstemp(
            dir=folder, prefix=f".{os.path.basename(target)}.", suffix=".backup"
        )
    except OSError as exc:
        raise StoreError(f"cannot write a backup in {folder}: {exc.strerror}") from exc
    os.close(fd)
    try:
        _copy(source, temporary)
        _sync(temporary)
        os.replace(temporary, target)
        _sync(folder, folder=True)
    except BaseException:
        _remove(temporary)
        raise
    return BackupReport(
        source=source,
        target=target,
        size=os.path.getsize(target),
        seconds=time.monotonic() - began,
    )


def _copy(source: str, temporary: str) -> None:
    try:
        src = connect_read_only(source)
    except sqlite3.Error as exc:
        raise StoreError(f"{source} cannot be read: {exc}") from exc
    try:
        dest = sqlite3.connect(temporary, isolation_level=None)
        try:
            src.backup(dest)  # every page in one step: one read transaction, one snapshot
        finally:
            dest.close()
    except sqlite3.Error as exc:
        raise _error(source, temporary, exc) from exc
    finally:
        src.close()
    try:
        check = sqlite3.connect(temporary, isolation_level=None)
        try:
            problems = [str(r[0]) for r in check.execute("PRAGMA quick_check").fetchall()]
        finally:
            check.close()  # the last connection: its -wal and -shm files go with it
    except sqlite3.Error as exc:
        raise _error(source, temporary, exc) from exc
    if problems != ["ok"]:
        raise StoreError(
            f"the copy of {source} failed PRAGMA quick_check ({'; '.join(problems[:5])}): "
            f"the database itself is damaged; check it with `durable-engine db check --full`"
        )


def _error(source: str, temporary: str, exc: sqlite3.Error) -> BaseException:
    error = store_error(temporary, exc)
    if isinstance(error, StoreError):
        return type(error)(f"backing up {source} failed: {error}")
    return StoreError(f"backing up {source} failed: {exc}")
