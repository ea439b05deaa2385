"""Looking at a database file without writing to it: what `db check`, the check on
open (`check_on_open`) and every read-only command run.

The file is opened read-only (`mode=ro`), so a corrupt file, a file that is not a
database, or one written by a newer version stays byte-identical, and its `-wal` file
is never checkpointed: committed transactions stay where they are.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from .._errors import DatabaseCorrupt, StoreError
from .schema import SCHEMA_VERSION, not_ours_error, read_version

__all__ = [
    "CHECKS",
    "DatabaseReport",
    "check_level",
    "check_path",
    "connect_read_only",
    "inspect_database",
    "preflight",
    "unusable",
]

CHECKS = ("quick", "full", "none")
"""How much of a database file is checked as it is opened: `PRAGMA quick_check`,
`PRAGMA integrity_check` (which also compares every index with its table), or nothing."""

_PRAGMAS = {"quick": "quick_check", "full": "integrity_check"}


def check_level(value: object) -> str:
    """`value` if it is one of CHECKS, else ValueError."""
    if not isinstance(value, str) or value not in CHECKS:
        raise ValueError(f'check_on_open must be "quick", "full" or "none", not {value!r}')
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class DatabaseReport:
    """What a read-only look at a database file found."""

    path: str
    integrity: list[str]
    """`["ok"]`, or the problems `PRAGMA quick_check` (or `integrity_check`) reported."""
    schema_version: int
    supported_schema_version: int
    journal_mode: str
    executions: dict[str, int] = field(default_factory=dict)
    """How many executions are in each status."""
    not_ours: str | None = None
    """Why the file is not a durable_engine database (another application's), if so."""

    @property
    def intact(self) -> bool:
        return self.integrity == ["ok"]

    @property
    def too_new(self) -> bool:
        return self.not_ours is None and self.schema_version > self.supported_schema_version

    @property
    def ok(self) -> bool:
        return self.intact and not self.too_new and self.not_ours is None

    def to_dict(self) -> dict[str, object]:
        return {
            "path": self.path,
            "ok": self.ok,
            "integrity": "ok" if self.intact else "; ".join(self.integrity),
            "schema_version": self.schema_version,
            "supported_schema_version": self.supported_schema_version,
            "journal_mode": self.journal_mode,
            "executions": dict(self.executions),
            "not_ours": self.not_ours,
        }


def _open(path: str, option: str) -> sqlite3.Connection:
    uri = Path(path).resolve().as_uri() + "?" + option
    conn = sqlite3.connect(uri, uri=True, timeout=5.0, isolation_level=None)
    try:
        conn.execute("PRAGMA trusted_schema = OFF")
        # The first read opens the WAL index (the -shm file): fail here if it cannot be.
        conn.execute("PRAGMA schema_version").fetchone()
    except BaseException:
        conn.close()
        raise
    return conn


def _folder_is_read_only(path: str) -> bool:
    return not os.access(os.path.dirname(os.path.abspath(path)), os.W_OK)


def connect_read_only(path: str) -> sqlite3.Connection:
    """A connection that can only read the database file `path` (`mode=ro`), and so
    never checkpoints its `-wal` file into it.

    Reading a WAL database needs its `-shm` file, which SQLite creates if it is
    missing. In a folder this user cannot write, a file with no committed transactions
    in a `-wal` is read as it is (`immutable=1`); one with them cannot be read without
    losing them, and raises StoreError saying so. Raises sqlite3 errors otherwise."""
    if not os.path.isfile(path):
        raise StoreError(f"no database file at {path}")
    try:
        return _open(path, "mode=ro")
    except sqlite3.OperationalError:
        if not _folder_is_read_only(path):
            raise
    wal = path + "-wal"
    if os.path.exists(wal) and os.path.getsize(wal) > 0:
        folder = os.path.dirname(os.path.abspath(path))
        raise StoreError(
            f"{path} cannot be read here: its -wal file holds transactions not yet copied "
            f"into it, and reading them needs a -shm file beside it, which this user cannot "
            f"create in {folder}. Read it as a user who can write that folder, or copy the "
            "database with its -wal file, together, to a folder you can write"
        )
    return _open(path, "immutable=1")


def inspect_database(
    path: str | os.PathLike[str], *, full: bool = False, counts: bool = True
) -> DatabaseReport:
    """Integrity (`quick_check`, or `integrity_check` if `full`), schema version, and
    (if `counts`) executions per status, read without writing anything.

    Raises StoreError if the file is missing or cannot be read, DatabaseCorrupt if it
    is too damaged to be checked."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise StoreError(f"no database file at {path}")
    try:
        conn = connect_read_only(path)
        try:
            version, not_ours = read_version(conn)
        except BaseException:
            conn.close()
            raise
    except sqlite3.Error as exc:
        raise unusable(path, exc) from exc
    try:
        try:
            pragma = "integrity_check" if full else "quick_check"
            problems = [str(r[0]) for r in conn.execute(f"PRAGMA {pragma}").fetchall()]
            mode = str(conn.execute("PRAGMA journal_mode").fetchone()[0])
        except sqlite3.Error as exc:
            raise unusable(path, exc) from exc
        found: dict[str, int] = {}
        readable = problems == ["ok"] and not_ours is None and 1 <= version <= SCHEMA_VERSION
        if counts and readable:
            try:
                rows = conn.execute(
                    "SELECT status, COUNT(*) FROM executions GROUP BY status ORDER BY status"
                ).fetchall()
                found = {str(s): int(n) for s, n in rows}
            except sqlite3.DatabaseError as exc:
                problems = [f"executions cannot be read: {exc}"]
    finally:
        conn.close()
    return DatabaseReport(
        path=path,
        integrity=problems or ["ok"],
        schema_version=version,
        supported_schema_version=SCHEMA_VERSION,
        journal_mode=mode,
        executions=found,
        not_ours=not_ours,
    )


def unusable(path: str, exc: sqlite3.Error) -> StoreError:
    """The StoreError to raise for `exc`, met reading `path` before anything was written."""
    code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
    if code == sqlite3.SQLITE_CORRUPT:
        return DatabaseCorrupt(
            f"{path} is damaged: {exc}; nothing was written to it (restore it from a "
            "backup, or run `sqlite3 .recover`)"
        )
    if isinstance(exc, sqlite3.OperationalError):  # cannot open, locked, I/O, read-only
        return StoreError(f"{path} cannot be read: {exc}")
    return StoreError(
        f"{path} cannot be opened: it is not a usable SQLite database ({exc}: the file is "
        "corrupt or is not a database)"
    )


def check_path(path: str) -> None:
    """StoreError if `path` cannot hold a database file: it is a directory, or its folder
    does not exist."""
    if os.path.isdir(path):
        raise StoreError(f"{path} is a directory, not a database file")
    if not os.path.isdir(os.path.dirname(path) or "."):
        raise StoreError(f"cannot create the database file {path}: its folder does not exist")


def preflight(path: str | os.PathLike[str], check: str = "quick") -> DatabaseReport | None:
    """Refuse, before anything is written, a database file that must not be opened.

    `check` is how much of it is read (CHECKS): "quick" runs `PRAGMA quick_check`,
    "full" `PRAGMA integrity_check`, "none" nothing (the file's schema version is still
    read as it is opened). None if the file does not exist yet (it will be created), or
    if `check` is "none". Raises DatabaseCorrupt for a damaged file (the problems
    named), StoreError for a file that is not a durable_engine database or has a newer
    schema, and for a path that is a directory or whose folder does not exist."""
    path = os.fspath(path)
    check_level(check)
    if path == ":memory:" or path.startswith("file:"):
        return None
    check_path(path)
    if not os.path.exists(path) or check == "none":
        return None
    report = inspect_database(path, full=check == "full", counts=False)
    if report.not_ours is not None:
        raise not_ours_error(path, report.not_ours)
    if report.too_new:
        raise StoreError(
            f"{path} has schema version {report.schema_version}, written by a newer version "
            f"of durable_engine (this one reads up to {SCHEMA_VERSION}); upgrade to open it"
        )
    if not report.intact:
        shown = report.integrity[:5]
        more = len(report.integrity) - len(shown)
        problems = "; ".join(shown) + (f"; and {more} more" if more > 0 else "")
        raise DatabaseCorrupt(
            f"{path} failed PRAGMA {_PRAGMAS[check]}: {problems}. Nothing was written to it: "
            "restore it from a backup (`durable-engine db backup` makes one), or run "
            "`sqlite3 .recover`"
        )
    return report
