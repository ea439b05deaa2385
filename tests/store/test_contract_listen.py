"""The Store contract: a store that can listen hears what other stores on its database
commit (ids and instants, in commit order), never its own writes; one that cannot says
so, and its `data_version` shows the other stores' commits instead."""

from __future__ import annotations

from durable_engine._store import Change, SuspendExecution
from tests.conftest import until
from tests.store.conftest import Stores
from tests.store.helpers import NOW, finish, new, running


async def test_a_listening_store_hears_other_stores_commits_but_not_its_own(
    shared: Stores,
) -> None:
    listener, writer = await shared.open(), await shared.open()
    heard: list[Change] = []
    if not listener.listen(heard.append):
        before = await listener.data_version()
        await writer.create_execution(new("q", owner=None))
        assert await listener.data_version() != before
        assert heard == []
        return
    await until(lambda: Change("listening") in heard)
    await listener.create_execution(new("own", owner=None))  # its own: not heard
    await writer.create_execution(new("q", owner=None))  # queued for any worker
    r = await running(writer, "r")  # owned as it is created: nothing to hear
    await writer.commit(r, SuspendExecution(wake_at=NOW + 60))
    await writer.send_event("r", "go", b"payload", NOW + 1)
    assert await writer.stop_execution("r", NOW + 2, b"stopped") is None
    s = await running(writer, "s")
    await writer.commit(s, finish())
    await until(lambda: Change("end", ("s",)) in heard)
    assert [c for c in heard if c.kind != "listening"] == [
        Change("new"),
        Change("due", at=NOW + 60),  # on this host's clock, whatever the server's
        Change("answer", ("r",)),
        Change("end", ("r",)),
        Change("stop", ("r",)),
        Change("end", ("s",)),
    ]
