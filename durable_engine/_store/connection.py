"""One SQLite connection served by a thread of its own.

A `ThreadedConnection` owns a plain `sqlite3.Connection` (autocommit mode:
`isolation_level=None`) that only its thread ever touches. The event loop hands it
jobs through a queue; `run(fn, *args)` calls `fn(connection, *args)` on that thread
and returns a future of its value: one thread round trip, however many statements
`fn` runs. The result goes back with `loop.call_soon_threadsafe`, which wakes the
event loop through its self-pipe: the one unavoidable cost of a round trip.
`here(fn, *args)` saves that cost for a short job: it calls `fn` on the event loop's
own thread, which is allowed only while the connection's thread has nothing to do
(`idle`), so the connection is never used by two threads at once.

The thread is started by `open` and ends with `close`, or as soon as the connection
cannot be opened: an error from `open` is raised once the thread has ended. It is a
daemon thread, so a connection left open never holds up the interpreter's exit (an
SQLite file stays consistent whenever its process stops).
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from queue import SimpleQueue
from typing import Any, TypeVar

__all__ = ["ThreadedConnection", "in_own_thread"]

T = TypeVar("T")

_Job = tuple[
    Callable[..., Any], tuple[Any, ...], "asyncio.Future[Any] | None", "ThreadedConnection"
]
"""`(fn, args, future, owner)`: run `fn(connection, *args)`, settle `future` with the
outcome through `owner`."""


def _close(conn: sqlite3.Connection) -> None:
    """The last job of every connection: its thread ends after it."""
    conn.close()


class ThreadedConnection:
    """A `sqlite3.Connection` used from asyncio through a dedicated thread."""

    __slots__ = ("_closed", "_conn", "_in_flight", "_jobs", "_thread")

    def __init__(self, jobs: SimpleQueue[_Job]) -> None:
        """Use `ThreadedConnection.open`."""
        self._jobs = jobs
        self._thread: threading.Thread | None = None
        self._closed = False
        self._conn: sqlite3.Connection | None = None  # set by the thread once opened
        self._in_flight = 0  # jobs handed to the thread and not yet settled on the loop

    @classmethod
    async def open(
        cls, path: str, connect: Callable[[str], sqlite3.Connection] | None = None
    ) -> ThreadedConnection:
        """Start a thread that opens `path` (with `connect(path)` if given, else read and
        write) and serves this connection's jobs.

        Raises what opening raised, after the thread has ended."""
        jobs: SimpleQueue[_Job] = SimpleQueue()
        opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        connection = cls(jobs)
        thread = threading.Thread(
            target=_serve,
            args=(path, connect or _connect, connection, opened),
            name="durable-sqlite",
            daemon=True,
        )
        connection._thread = thread
        thread.start()
        try:
            await opened
        except asyncio.CancelledError:
            connection._stop()  # it ends on its own once it has opened (or failed to)
            raise
        except BaseException:
            thread.join()  # it reported its failure as its last act
            raise
        return connection

    def run(self, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """Run `fn(connection, *args)` on the connection's thread; the future is its
        value or its exception. Jobs run one at a time, in the order given."""
        if self._closed:
            raise sqlite3.ProgrammingError("Cannot operate on a closed database.")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._in_flight += 1
        self._jobs.put((fn, args, future, self))
        return future

    @property
    def idle(self) -> bool:
        """Whether the connection's thread has no job, queued or running: `here` may run."""
        return self._in_flight == 0 and self._conn is not None and not self._closed

    def here(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(connection, *args)` called now, on the calling (event loop) thread. Only
        while `idle`: nothing else uses the connection then, and nothing can start to
        until this returns."""
        if not self.idle:
            raise RuntimeError("the connection's thread is busy")
        assert self._conn is not None
        return fn(self._conn, *args)

    def _landed(self, future: asyncio.Future[Any], ok: bool, value: Any) -> None:
        """A job's outcome, back on the event loop: its thread is done with it."""
        self._in_flight -= 1
        _settle(future, ok, value)

    async def close(self) -> None:
        """Close the connection once the jobs queued before have run; the thread ends."""
        if self._closed:
            return
        assert self._thread is not None
        if not self._thread.is_alive():  # it ended as its event loop closed under it
            self._closed = True
            return
        future = self.run(_close)
        self._closed = True
        try:
            await asyncio.shield(future)
        finally:
            if future.done():  # else cancelled meanwhile: the thread ends on its own
                self._thread.join()

    def _stop(self) -> None:
        if not self._closed:
            self._closed = True
            self._jobs.put((_close, (), None, self))


def _connect(path: str) -> sqlite3.Connection:
    # Used from the event loop's thread too (`here`), never from two threads at once.
    return sqlite3.connect(path, isolation_level=None, check_same_thread=False)


def _serve(
    path: str,
    connect: Callable[[str], sqlite3.Connection],
    connection: ThreadedConnection,
    opened: asyncio.Future[None],
) -> None:
    """The connection's thread: open `path`, then run jobs until the closing one."""
    jobs = connection._jobs
    try:
        conn = connect(path)
    except BaseException as exc:
        _report(opened, False, exc)
        return
    connection._conn = conn
    if not _report(opened, True, None):
        conn.close()
        return
    while True:
        fn, args, future, owner = jobs.get()
        try:
            value, ok = fn(conn, *args), True
        except BaseException as exc:
            value, ok = exc, False
        if fn is _close:
            if future is not None:
                _report(future, ok, value, owner._landed)
            return
        if not _report(future, ok, value, owner._landed):  # type: ignore[arg-type]
            conn.close()  # its event loop is gone: no one awaits the jobs any more
            return


async def in_own_thread(fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)` run in a thread started for it, which has ended once this returns
    (unless cancelled meanwhile: it then ends on its own when `fn` returns)."""
    future: asyncio.Future[T] = asyncio.get_running_loop().create_future()

    def work() -> None:
        try:
            value: Any = fn(*args)
        except BaseException as exc:
            _report(future, False, exc)
        else:
            _report(future, True, value)

    thread = threading.Thread(target=work, name="durable-check", daemon=True)
    thread.start()
    try:
        return await future
    finally:
        if future.done():  # it reported as its last act
            thread.join()


def _report(
    future: asyncio.Future[Any],
    ok: bool,
    value: Any,
    settle: Callable[[asyncio.Future[Any], bool, Any], None] | None = None,
) -> bool:
    """Settle `future` on its event loop (through `settle`, if given); False if that
    loop has closed."""
    try:
        future.get_loop().call_soon_threadsafe(settle or _settle, future, ok, value)
    except RuntimeError:  # the event loop is closed
        return False
    return True


def _settle(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.done():  # cancelled meanwhile
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)
