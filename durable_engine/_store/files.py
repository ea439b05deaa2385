"""The SQLite file itself: creating it privately, switching it to WAL, and what to
tell the user when SQLite refuses it."""

from __future__ import annotations

import os
import sqlite3
import time

from .._errors import DatabaseCorrupt, DatabaseLocked, DiskFull, StoreError, StoreIOError
from .integrity import check_path

__all__ = [
    "READ_ONLY",
    "create_private_file",
    "is_transient",
    "open_hint",
    "store_error",
    "use_wal",
]

_LOCK_TRIES = 30
READ_ONLY = "the file or its folder cannot be written by this user"
_DAMAGED = (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)
_LOCKED = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def is_transient(exc: BaseException) -> bool:
    """Whether `exc` is a write failure that may go away by itself: the file locked by
    another process, the disk full, an I/O error. Such a write is tried again."""
    if isinstance(exc, DatabaseLocked | DiskFull | StoreIOError):
        return True
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    code = _code(exc)
    return code in _LOCKED or code in (sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR)


_CODES_BY_MESSAGE = {
    "database is locked": sqlite3.SQLITE_BUSY,
    "database or disk is full": sqlite3.SQLITE_FULL,
    "disk I/O error": sqlite3.SQLITE_IOERR,
}


def _code(exc: sqlite3.DatabaseError) -> int:
    """SQLite's primary result code for `exc`; from its message when sqlite3 did not
    attach one (an error raised by Python code rather than by SQLite)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return int(code) & 0xFF
    return _CODES_BY_MESSAGE.get(str(exc), 0)


def store_error(path: str, exc: BaseException) -> BaseException:
    """Database errors become StoreError: DatabaseCorrupt for a damaged file,
    DatabaseLocked, DiskFull and StoreIOError for the transient ones; the engine's own
    signals (and StoreErrors) pass through."""
    if not isinstance(exc, sqlite3.DatabaseError) or isinstance(exc, sqlite3.IntegrityError):
        return exc
    code = _code(exc)
    if code in _DAMAGED:
        return DatabaseCorrupt(
            f"{path} is damaged: {exc} (restore it from a backup, or run `sqlite3 .recover`)"
        )
    if code in _LOCKED:
        return DatabaseLocked(
            f"{path} is locked by another process: {exc} (a write waited out the busy "
            "timeout; look for a process holding a write transaction open)"
        )
    if code == sqlite3.SQLITE_FULL:
        return DiskFull(f"{path} cannot grow: {exc} (free space on its file system)")
    if code == sqlite3.SQLITE_IOERR:
        return StoreIOError(f"{path} could not be read or written: {exc} (check the disk)")
    if isinstance(exc, sqlite3.OperationalError) and "readonly" in str(exc):
        return StoreError(f"{path} cannot be written: {exc} ({READ_ONLY})")
    return StoreError(f"database error: {exc}")


def use_wal(conn: sqlite3.Connection) -> None:
    """Switch the file to WAL (once, when it is new). The switch needs the file to
    itself, and SQLite does not wait for that: while another process opens the same
    new file, it is tried again, for about as long as the busy timeout."""
    for attempt in range(_LOCK_TRIES):
        try:
            conn.execute("PRAGMA journal_mode = WAL").fetchone()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == _LOCK_TRIES - 1:
                raise
            time.sleep(0.01 * (attempt + 1))


def open_hint(exc: sqlite3.DatabaseError) -> str:
    """What to look at when SQLite refused to open the file with `exc`."""
    if isinstance(exc, sqlite3.OperationalError):
        if "readonly" in str(exc):
            return READ_ONLY
        if "unable to open" in str(exc):
            return "check the path, and that its folder exists and can be written"
        if "locked" in str(exc):
            return "another process kept it locked; try again"
    return "the file is corrupt or is not an SQLite database"


def create_private_file(path: str) -> None:
    """Create the database file readable by its owner only (0600), if it does not exist;
    StoreError if it cannot be, if `path` is a directory, or if the file cannot be written."""
    if path.startswith("file:"):
        return
    check_path(path)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        _check_writable(path)
        return
    except OSError as exc:  # no permission, a read-only filesystem
        raise StoreError(f"cannot create the database file {path}: {exc.strerror}") from exc
    os.close(fd)


def _check_writable(path: str) -> None:
    """StoreError if this user cannot write the existing file: an engine writes to it."""
    try:
        os.close(os.open(path, os.O_RDWR))
    except OSError as exc:
        raise StoreError(
            f"{path} cannot be written by this user ({exc.strerror}): an engine writes to "
            "its database, so every command but `db check` needs write access"
        ) from exc
