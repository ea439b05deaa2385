"""What the pages work out from the records, without HTTP: waits, timeline, cut values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from durable_engine import ExecutionInfo, ExecutionStatus, OperationInfo
from durable_engine import OperationStatus as S
from durable_engine import OperationType as T
from durable_engine.web._view import cut, pending_callbacks, timeline, waits_for

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def _op(
    op_id: str,
    type: T,
    status: S,
    *,
    at: float | None = 0,
    until: float | None = None,
    name: str | None = None,
    attempt: int = 1,
    wake_at: datetime | None = None,
    ref: str | None = None,
) -> OperationInfo:
    return OperationInfo(
        operation_id=op_id,
        parent_id=op_id.rpartition("/")[0] or None,
        name=name,
        type=type,
        status=status,
        attempt=attempt,
        result=None,
        error=None,
        started_at=None if at is None else T0 + timedelta(seconds=at),
        ended_at=None if until is None else T0 + timedelta(seconds=until),
        wake_at=wake_at,
        ref=ref,
    )


def _info(
    status: ExecutionStatus = ExecutionStatus.SUSPENDED, ended: float | None = None
) -> ExecutionInfo:
    return ExecutionInfo(
        execution_id="e1",
        name=None,
        function="f",
        status=status,
        input=None,
        result=None,
        error=None,
        created_at=T0,
        ended_at=None if ended is None else T0 + timedelta(seconds=ended),
    )


def test_waits_name_each_kind_of_wait_in_call_order() -> None:
    due = T0 + timedelta(hours=2)
    batch = _op("4", T.PARALLEL, S.STARTED, name="fan")
    batch.children = [
        _op("4/1", T.CALLBACK, S.STARTED, name="approval", ref="cb_1"),
        _op("4/2", T.INVOKE, S.STARTED, name="charge", ref="child-9"),
    ]
    ops = [
        _op("1", T.STEP, S.SUCCEEDED, until=1, name="done"),
        _op("2", T.WAIT, S.STARTED, name="cool-off", wake_at=due),
        _op("3", T.STEP, S.PENDING, name="fetch", attempt=2, wake_at=due),
        batch,
        _op("5", T.CONDITION, S.PENDING, name="poll", wake_at=due),
    ]
    waits = waits_for(ops)
    assert [w.text for w in waits] == [
        "a timer (cool-off) due at 2030-01-01 02:00:00",
        "a retry of fetch (attempt 3) at 2030-01-01 02:00:00",
        "callback approval",
        "child execution (charge)",
        "the next check of poll (attempt 2) at 2030-01-01 02:00:00",
    ]
    assert [w.kind for w in waits] == ["timer", "retry", "callback", "child", "condition"]
    assert [w.line for w in waits][2:4] == [
        "callback approval: cb_1",
        "child execution (charge): child-9",
    ]
    assert waits[2].callback_id == "cb_1" and waits[3].execution_id == "child-9"
    assert [c.callback_id for c in pending_callbacks(_info(), ops)] == ["cb_1"]


def test_timeline_places_bars_over_the_execution_span() -> None:
    ops = [
        _op("1", T.STEP, S.SUCCEEDED, at=0, until=2),
        _op("2", T.WAIT, S.SUCCEEDED, at=2, until=8),
        _op("3", T.STEP, S.STARTED, at=8),
        _op("4", T.STEP, S.STARTED, at=None),  # never started: no bar
    ]
    bars = timeline(_info(), ops, now=T0 + timedelta(seconds=10))
    assert [(b.op.operation_id, b.left, b.width, b.open) for b in bars] == [
        ("1", 0.0, 20.0, False),
        ("2", 20.0, 60.0, False),
        ("3", 80.0, 20.0, True),
    ]
    ended = timeline(_info(ExecutionStatus.SUCCEEDED, ended=4), ops[:1], now=T0 + timedelta(days=1))
    assert [(b.left, b.width) for b in ended] == [(0.0, 50.0)]


def test_values_are_cut_and_say_how_long_they_were() -> None:
    short = cut({"a": "<b>"})
    assert (short.text, short.is_cut) == ('{"a": "<b>"}', False)
    long = cut("x" * 50, limit=10)
    assert long.text == '"xxxxxxxxx' and long.length == 52 and long.is_cut
