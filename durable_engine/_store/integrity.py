"""Checks a database file without writing to it: what `db check` and a worker's start run.

The file is opened read-only (`mode=ro`), so a corrupt file, a file that is not a
database, or one written by a newer version stays byte-identical.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from .._errors import StoreError
from .schema import SCHEMA_VERSION, not_ours_error, read_version

__all__ = ["DatabaseReport", "check_path", "inspect_database", "preflight"]


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


def _connect_read_only(path: str, *, immutable: bool = False) -> sqlite3.Connection:
    uri = Path(path).resolve().as_uri() + ("?immutable=1" if immutable else "?mode=ro")
    conn = sqlite3.connect(uri, uri=True, timeout=5.0, isolation_level=None)
    conn.execute("PRAGMA trusted_schema = OFF")
    return conn


def _folder_is_read_only(path: str) -> bool:
    return not os.access(os.path.dirname(os.path.abspath(path)), os.W_OK)


def inspect_database(path: str | os.PathLike[str], *, full: bool = False) -> DatabaseReport:
    """Integrity (`quick_check`, or `integrity_check` if `full`), schema version, counts.

    Raises StoreError if the file is missing or is not an SQLite database.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise StoreError(f"no database file at {path}")
    try:
        conn = _connect_read_only(path)
        try:
            version, not_ours = read_version(conn)
        except sqlite3.OperationalError:
            # Reading a WAL database writes its shared-memory file beside it: in a folder
            # this user cannot write, read the file as it is, with no one writing to it.
            if not _folder_is_read_only(path):
                raise
            conn.close()
            conn = _connect_read_only(path, immutable=True)
            version, not_ours = read_version(conn)
    except sqlite3.Error as exc:
        raise _unusable(path, exc) from exc
    try:
        try:
            pragma = "integrity_check" if full else "quick_check"
            problems = [str(r[0]) for r in conn.execute(f"PRAGMA {pragma}").fetchall()]
            mode = str(conn.execute("PRAGMA journal_mode").fetchone()[0])
        except sqlite3.Error as exc:
            raise _unusable(path, exc) from exc
        counts: dict[str, int] = {}
        if problems == ["ok"] and not_ours is None and 1 <= version <= SCHEMA_VERSION:
            try:
                rows = conn.execute(
                    "SELECT status, COUNT(*) FROM executions GROUP BY status ORDER BY status"
                ).fetchall()
                counts = {str(s): int(n) for s, n in rows}
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
        executions=counts,
        not_ours=not_ours,
    )


def _unusable(path: str, exc: sqlite3.Error) -> StoreError:
    if isinstance(exc, sqlite3.OperationalError):  # cannot open, locked, I/O, read-only
        return StoreError(f"{path} cannot be read: {exc}")
    return StoreError(
        f"{path} is not a usable SQLite database: {exc} (the file is corrupt or is not a database)"
    )


def check_path(path: str) -> None:
    """StoreError if `path` cannot hold a database file: it is a directory, or its folder
    does not exist."""
    if os.path.isdir(path):
        raise StoreError(f"{path} is a directory, not a database file")
    if not os.path.isdir(os.path.dirname(path) or "."):
        raise StoreError(f"cannot create the database file {path}: its folder does not exist")


def preflight(path: str | os.PathLike[str]) -> DatabaseReport | None:
    """Refuse, before anything is written, a database a worker must not open.

    None if the file does not exist yet (it will be created). Raises StoreError for a
    file that is not a database, is corrupt, or has a newer schema, and for a path that
    is a directory or whose folder does not exist.
    """
    path = os.fspath(path)
    if path == ":memory:" or path.startswith("file:"):
        return None
    check_path(path)
    if not os.path.exists(path):
        return None
    report = inspect_database(path)
    if report.not_ours is not None:
        raise not_ours_error(path, report.not_ours)
    if report.too_new:
        raise StoreError(
            f"{path} has schema version {report.schema_version}, written by a newer version "
            f"of durable_engine (this one reads up to {SCHEMA_VERSION}); upgrade to open it"
        )
    if not report.intact:
        raise StoreError(
            f"{path} failed PRAGMA quick_check: {'; '.join(report.integrity[:5])}"
            " (restore it from a backup, or run `sqlite3 .recover`)"
        )
    return report
