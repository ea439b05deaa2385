"""The operation tree that `get_operations` and `history` show."""

from __future__ import annotations

from datetime import UTC, datetime

from durable_engine._converter import ValueConverter
from durable_engine._models import (
    Checkpoint,
    OperationStatus,
    OperationType,
    timestamp_to_datetime,
)
from durable_engine._views import build_operation_tree
from serdes import MsgpackSerDes


def _op(op_id: str, parent_id: str | None, type_: str, status: str) -> Checkpoint:
    return Checkpoint("e1", op_id, parent_id, OperationType(type_), None, OperationStatus(status))


def test_operations_of_a_context_with_no_row_show_under_its_nearest_recorded_ancestor() -> None:
    # Branch 1/1 was cancelled (it has a row); the context 1/1/2 inside it never finished
    # (no row), so its wait shows under 1/1 rather than at the top of the tree.
    rows = [
        _op("2", None, "STEP", "SUCCEEDED"),
        _op("1", None, "PARALLEL", "SUCCEEDED"),
        _op("1/1", "1", "CONTEXT", "CANCELLED"),
        _op("1/1/2/1", "1/1/2", "WAIT", "CANCELLED"),
        _op("3/1", "3", "STEP", "SUCCEEDED"),  # a context still running at the top
    ]
    tree = build_operation_tree(rows, ValueConverter(MsgpackSerDes(), payload_limit=1024))
    assert [node.operation_id for node in tree] == ["1", "2", "3/1"]
    [branch] = tree[0].children
    assert [child.operation_id for child in branch.children] == ["1/1/2/1"]


def test_an_instant_past_what_a_date_can_hold_shows_as_the_latest_date() -> None:
    """Such instants were stored before lengths of time over 1000 years were refused:
    the history of that execution still shows."""
    assert timestamp_to_datetime(1e20) == datetime.max.replace(tzinfo=UTC)
    assert timestamp_to_datetime(-1e20) == datetime.min.replace(tzinfo=UTC)
    assert timestamp_to_datetime(0.0) == datetime(1970, 1, 1, tzinfo=UTC)
