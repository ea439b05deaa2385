"""Wake-ups on PostgreSQL: NOTIFY in the writing transaction, LISTEN on a connection of
its own.

A write another process should hear of (a queued execution, an answered callback, an
event, a stop, a wake-up sooner than known, an ending) leaves a note with `note` while
its batch runs; the batch sends the notes with `pg_notify` before it commits, so they
are delivered only if it does. Payloads hold ids and instants, never values:
`<sender> <kind> [<arg> ...]`, where the sender is the writing store's token, so a store
does not wake itself.

The `Listener` holds the LISTEN connection, outside the pool. A lost connection is
opened again with backoff; notifications sent meanwhile are lost, so each
(re)connection is reported as a `Change("listening")`, after which the scheduler looks
at the database afresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import hashlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from .base import Change

if TYPE_CHECKING:
    import asyncpg

__all__ = ["Listener", "channel_for", "collecting", "note", "payloads"]

logger = logging.getLogger("durable_engine")

_NOTES: contextvars.ContextVar[list[tuple[str, tuple[str, ...]]] | None] = contextvars.ContextVar(
    "durable_engine_pg_notes", default=None
)

_IDS_PER_PAYLOAD = 200
"""Ids in one notification: 200 ids of 32 characters stay well below the server's
8000-byte payload limit."""

BACKOFF = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
"""Waits between attempts to listen again; the last repeats."""

PING_EVERY = 30.0
"""How often an idle listening connection is checked (a silent network cut)."""

# One row whether or not there are notes: the transaction's id and the notes sent.
SEND_NOTES = (
    "SELECT txid_current_if_assigned(),"
    " (SELECT count(*) FROM (SELECT pg_notify($1, n) FROM unnest($2::text[]) AS n) AS sent)"
)


def channel_for(schema: str) -> str:
    """The channel of the stores on `schema`: apps in other schemas of the same database
    do not hear each other (a name past PostgreSQL's 63 bytes is shortened by a hash)."""
    channel = f"durable_engine.{schema}"
    if len(channel.encode()) <= 63:
        return channel
    return "durable_engine.#" + hashlib.sha256(schema.encode()).hexdigest()[:40]


def note(kind: str, *args: str) -> None:
    """Have the running batch tell other processes of `kind` (ids or instants in
    `args`) if it commits; nothing outside a batch."""
    notes = _NOTES.get()
    if notes is not None:
        notes.append((kind, args))


@contextlib.contextmanager
def collecting() -> Any:
    """Collect the notes of the code run inside (one attempt of a batch)."""
    notes: list[tuple[str, tuple[str, ...]]] = []
    token = _NOTES.set(notes)
    try:
        yield notes
    finally:
        _NOTES.reset(token)


def payloads(sender: str, notes: list[tuple[str, tuple[str, ...]]]) -> list[str]:
    """The notification payloads for `notes`: one per kind, ids merged (and split to
    fit), the earliest instant of a `due`."""
    ids: dict[str, dict[str, None]] = {}
    due: float | None = None
    bare: dict[str, None] = {}
    for kind, args in notes:
        if kind == "due":
            at = float(args[0])
            due = at if due is None else min(due, at)
        elif args:
            ids.setdefault(kind, {}).update(dict.fromkeys(args))
        else:
            bare[kind] = None
    out = [f"{sender} {kind}" for kind in bare]
    if due is not None:
        out.append(f"{sender} due {due!r}")
    for kind, keys in ids.items():
        listed = list(keys)
        for i in range(0, len(listed), _IDS_PER_PAYLOAD):
            out.append(" ".join((sender, kind, *listed[i : i + _IDS_PER_PAYLOAD])))
    return out


def parse(payload: str, own: str, offset: float) -> Change | None:
    """The change a payload tells of, its instant on this host's clock; None for this
    store's own notes and for payloads it does not know."""
    parts = payload.split(" ")
    if len(parts) < 2 or parts[0] == own:
        return None
    kind, args = parts[1], parts[2:]
    if kind == "due":
        try:
            return Change("due", at=float(args[0]) - offset)
        except (IndexError, ValueError):
            return None
    if kind in ("new", "schedules", "answer", "stop", "end"):
        return Change(kind, tuple(args))
    return None


Connect = Callable[[], Awaitable["asyncpg.Connection[Any]"]]


class Listener:
    """LISTENs on `channel` with a connection of its own and hands each change another
    store committed to `on_change`, on the event loop; reconnects with backoff."""

    def __init__(
        self,
        connect: Connect,
        channel: str,
        token: str,
        offset: Callable[[], float],
        on_change: Callable[[Change], None],
    ) -> None:
        self._connect = connect
        self._channel = channel
        self._token = token
        self._offset = offset
        self._on_change = on_change
        self._conn: asyncpg.Connection[Any] | None = None
        self._lost: asyncio.Event = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name="durable-listener")

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._drop()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            conn.terminate()

    def _notified(self, conn: object, pid: int, channel: str, payload: object) -> None:
        change = parse(str(payload), self._token, self._offset())
        if change is not None:
            self._on_change(change)

    def _terminated(self, conn: object) -> None:
        self._lost.set()

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                await self._listen()
                failures = 0  # it listened, and then lost the connection
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                if failures == 1:
                    logger.warning("listening for notifications failed, polling: %s", exc)
            self._drop()
            self._on_change(Change("lost"))
            await asyncio.sleep(BACKOFF[min(failures, len(BACKOFF) - 1)])

    async def _listen(self) -> None:
        """Listen until the connection is lost (raises) or found dead (returns)."""
        self._lost = asyncio.Event()
        conn = self._conn = await self._connect()
        conn.add_termination_listener(self._terminated)
        await conn.add_listener(self._channel, self._notified)
        # Whatever was sent while no one listened is lost: look at everything again.
        self._on_change(Change("listening"))
        while not self._lost.is_set() and not conn.is_closed():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(PING_EVERY):
                    await self._lost.wait()
                    return
            async with asyncio.timeout(10.0):
                await conn.fetchval("SELECT 1")
