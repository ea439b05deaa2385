"""What a PostgreSQL store needs before it has a connection: the driver, the URL's
parts, and the server's clock.

asyncpg is imported only when a store connects, so the package imports without it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .._errors import StoreError

if TYPE_CHECKING:
    from .pg_rows import Conn

__all__ = ["DEFAULT_SCHEMA", "asyncpg_module", "measure_offset", "parse_url", "shown_url"]

DEFAULT_SCHEMA = "durable"
"""The PostgreSQL schema the tables go in when the URL names none."""

_INSTALL_HINT = 'the PostgreSQL store needs asyncpg: pip install "durable-engine[postgres]"'


def asyncpg_module() -> Any:
    """The asyncpg module; StoreError saying what to install if it is missing."""
    try:
        import asyncpg
    except ImportError:
        raise StoreError(_INSTALL_HINT) from None
    return asyncpg


def parse_url(url: str) -> tuple[str, str]:
    """`(dsn, schema)` of a `postgresql://` URL: its `?schema=` taken out (default
    `durable`), the rest passed to the driver as it is."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError(f"not a PostgreSQL URL (postgresql://...): {url!r}")
    query = parse_qsl(parts.query, keep_blank_values=True)
    schemas = [value for key, value in query if key == "schema"]
    schema = schemas[-1] if schemas else DEFAULT_SCHEMA
    if not schema:
        raise ValueError(f"?schema= names no schema in {url!r}")
    rest = urlencode([(k, v) for k, v in query if k != "schema"], safe="/:")
    return urlunsplit(parts._replace(query=rest)), schema


def shown_url(dsn: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(dsn)
    if parts.password is None:
        return dsn
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


async def measure_offset(conn: Conn, now: Callable[[], float] = time.time) -> float:
    """Seconds from the clock `now` reads (this host's wall clock by default) to the
    server's, in eighths of a second (sums of those with instants are exact), from the
    quickest of three round trips."""
    best: tuple[float, float] | None = None
    for _ in range(3):
        before = now()
        server = float(await conn.fetchval("SELECT extract(epoch FROM clock_timestamp())"))
        after = now()
        sample = (after - before, server - (before + after) / 2)
        if best is None or sample[0] < best[0]:
            best = sample
    assert best is not None
    return round(best[1] * 8) / 8 + 0.0  # + 0.0: -0.0 becomes 0.0
