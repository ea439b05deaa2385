"""The QuantaSneaks checkout example: a saga undoes it, a kill in its review loses nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.example_runs import finish, kill, read_until, run, start, wait_for_status

EXAMPLE = "ecommerce_order.py"
RISKY = ("--order", "Q-9", "--pairs", "2", "--new-customer")
EFFECTS = ("reserved", "charged", "[review]", "shipped", "refunded", "released")


def effects(seen: list[str]) -> list[str]:
    return [line for line in seen if line.startswith(EFFECTS)]


@pytest.mark.parametrize("verdict", ["approve", "reject"])
def test_killed_while_a_risky_order_waits_for_review_a_rerun_finishes_it(
    tmp_path: Path, verdict: str
) -> None:
    seen: list[str] = []
    first = start(tmp_path, EXAMPLE, *RISKY)
    ask = read_until(first, f"{EXAMPLE} {verdict} ", seen)
    wait_for_status(tmp_path / "shop.db", "SUSPENDED", first)
    kill(first, seen)
    answered = run(tmp_path, EXAMPLE, verdict, ask.split()[-1]).stdout
    assert (
        answered == {"approve": "approved\n", "reject": "rejected\n"}[verdict]
    )  # nothing ran there
    second = start(tmp_path, EXAMPLE, *RISKY)
    finish(second, seen)
    before = [
        "reserved 2 pair(s) (RSV-Q-9)",
        "charged 378.00 EUR (CHG-Q-9)",
        "[review] order Q-9 of 378.00 EUR scored 70: answer with:",
    ]
    if verdict == "approve":
        assert effects(seen) == [*before, "shipped to FR (TRK-Q-9-FR)"]
        assert seen[-1] == (
            "result: {'order': 'Q-9', 'status': 'SHIPPED', 'risk': 70, 'tracking': 'TRK-Q-9-FR'}"
        )
    else:  # undone in reverse: the refund first, then the stock
        assert effects(seen) == [*before, "refunded 378.00 EUR (CHG-Q-9)", "released RSV-Q-9"]
        assert seen[-1] == (
            "result: {'order': 'Q-9', 'status': 'CANCELLED', "
            "'reason': 'the reviewer rejected the order'}"
        )


def test_a_shipping_failure_refunds_then_releases(tmp_path: Path) -> None:
    out = run(tmp_path, EXAMPLE, "--order", "Q-5", "--country", "JP").stdout.splitlines()
    assert effects(out) == [
        "reserved 1 pair(s) (RSV-Q-5)",
        "charged 189.00 EUR (CHG-Q-5)",
        "refunded 189.00 EUR (CHG-Q-5)",
        "released RSV-Q-5",
    ]
    assert out[-1] == (
        "result: {'order': 'Q-5', 'status': 'CANCELLED', 'reason': 'no carrier ships to JP'}"
    )
    again = run(tmp_path, EXAMPLE, "--order", "Q-5", "--country", "JP").stdout.splitlines()
    assert effects(again) == [] and again[-1] == out[-1]  # stored: nothing runs twice


def test_a_plain_order_ships_without_review_or_compensation(tmp_path: Path) -> None:
    out = run(tmp_path, EXAMPLE).stdout.splitlines()
    assert effects(out) == [
        "reserved 1 pair(s) (RSV-Q-1001)",
        "charged 189.00 EUR (CHG-Q-1001)",
        "shipped to FR (TRK-Q-1001-FR)",
    ]
    refused = run(tmp_path, EXAMPLE, "--order", "Q-0", "--pairs", "0", code=1)
    assert refused.stderr == "order refused: cannot sell 0 of 'QS-AIR-42'\n"
