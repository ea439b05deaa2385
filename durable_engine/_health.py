"""What `Engine.health()` reports: whether the database takes writes, and if not, why."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ._errors import StoreError
from ._models import timestamp_to_datetime
from ._store import Store

__all__ = ["Health", "store_health"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Health:
    """The engine's database as writes find it.

    `ok` is False while writes are failing for a reason that may pass (the file locked
    by another process, the disk full, an I/O error): they are being tried again, and
    no execution fails for it. `error` is the latest such failure (`DatabaseLocked`,
    `DiskFull` or `StoreIOError`) and `since` when the failures began (UTC)."""

    ok: bool
    error: StoreError | None = None
    since: datetime | None = None


def store_health(store: Store) -> Health:
    """The health of `store` now."""
    failure = store.write_failure()
    if failure is None:
        return Health(ok=True)
    error, since = failure
    return Health(ok=False, error=error, since=timestamp_to_datetime(since))
