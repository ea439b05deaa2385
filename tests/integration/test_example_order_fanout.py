"""The order fan-out example: sub-workflows invoked in parallel, killed while they wait."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import rows
from tests.integration.example_runs import finish, kill, read_until, start, wait_for_status

EXAMPLE = "order_fanout.py"


def test_killed_while_parcels_are_packed_a_rerun_finishes_every_shipment_once(
    tmp_path: Path,
) -> None:
    db = tmp_path / "fanout.db"
    seen: list[str] = []
    first = start(tmp_path, EXAMPLE, "O-5", "--packing-seconds", "4")
    for _ in range(3):
        read_until(first, "picked ", seen)
    # The order and its three shipments are all out of memory, in their waits.
    wait_for_status(db, "SUSPENDED", first)
    kill(first, seen)
    assert not [line for line in seen if line.startswith(("labelled", "confirmed"))]
    second = start(tmp_path, EXAMPLE, "O-5", "--packing-seconds", "4")
    finish(second, seen)
    effects = sorted(line for line in seen if line.startswith(("picked", "labelled")))
    assert effects == [
        "labelled PCL-O-5-GDANSK",
        "labelled PCL-O-5-LYON",
        "labelled PCL-O-5-PORTO",
        "picked boots, map at PORTO",
        "picked rope at GDANSK",
        "picked tent, stove at LYON",
    ]
    assert seen[-4:] == [
        "note: order O-5 ships in 3 parcel(s)",
        "  PCL-O-5-GDANSK: rope",
        "  PCL-O-5-LYON: tent, stove",
        "  PCL-O-5-PORTO: boots, map",
    ]
    assert [line for line in seen if line.startswith("confirmed")] == ["confirmed O-5: 3 parcel(s)"]
    # One child execution per warehouse, each invoked once, under the order.
    executions = rows(db, "SELECT function, status, parent_id IS NULL FROM executions")
    assert sorted(executions) == [
        ("fan_out_order", "SUCCEEDED", 1),
        ("fulfil_shipment", "SUCCEEDED", 0),
        ("fulfil_shipment", "SUCCEEDED", 0),
        ("fulfil_shipment", "SUCCEEDED", 0),
    ]
