"""Which store a database name means: a PostgreSQL URL, an `sqlite:///` URL, or a path.

`postgresql://user@host/db` (or `postgres://`) is a PostgreSQL database, `?schema=NAME`
choosing the PostgreSQL schema its tables go in. `sqlite:///orders.db` and a plain path
(`orders.db`, `/var/lib/app/orders.db`, `:memory:`) are an SQLite file. An app, the
worker and the command line all name a database this way.
"""

from __future__ import annotations

from .base import Store
from .postgres import PostgresStore
from .sqlite import SqliteStore

__all__ = ["is_postgres", "location", "store_for"]

_POSTGRES = ("postgresql://", "postgres://")
_SQLITE = "sqlite:///"


def is_postgres(target: str) -> bool:
    """Whether `target` names a PostgreSQL database."""
    return target.startswith(_POSTGRES)


def location(target: str) -> str:
    """`target` as the store takes it: an SQLite URL's file path (`sqlite:///x.db` is
    `x.db`, `sqlite:////abs/x.db` is `/abs/x.db`); anything else as it is."""
    if target.startswith(_SQLITE):
        return target[len(_SQLITE) :]
    return target


def store_for(target: str, *, synchronous: str = "NORMAL", busy_timeout: float = 5.0) -> Store:
    """An unopened store on the database `target` names (`synchronous` and
    `busy_timeout` are SQLite's)."""
    if is_postgres(target):
        return PostgresStore(target)
    return SqliteStore(location(target), synchronous=synchronous, busy_timeout=busy_timeout)
