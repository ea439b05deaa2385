"""The reimbursement example, killed with SIGKILL while it waits and resumed by a rerun."""

from __future__ import annotations

from pathlib import Path

from tests.integration.example_runs import finish, kill, read_until, run, start, wait_for_status

EXAMPLE = "reimbursement.py"


def test_killed_while_the_manager_decides_a_rerun_pays_once(tmp_path: Path) -> None:
    seen: list[str] = []
    first = start(tmp_path, EXAMPLE, "--claim", "C-7")
    ask = read_until(first, f"{EXAMPLE} approve ", seen)
    wait_for_status(tmp_path / "reimbursements.db", "SUSPENDED", first)  # out of memory
    kill(first, seen)
    assert run(tmp_path, EXAMPLE, "approve", ask.split()[-1]).stdout == "approved\n"
    second = start(tmp_path, EXAMPLE, "--claim", "C-7")  # the same claim: the same execution
    finish(second, seen)
    # Every side effect happened once, across both processes.
    effects = [
        line for line in seen if line.startswith(("submitted", "[manager]", "paid", "notified"))
    ]
    assert effects == [
        "submitted C-7: 240.00 EUR for train tickets to the Lyon office",
        "[manager] approve 240.00 EUR for sam (train tickets to the Lyon office)? answer with:",
        "paid 240.00 EUR to sam (PAY-C-7)",
        "notified sam: claim C-7 approved by manager and paid",
    ]
    assert seen[-1] == (
        "result: {'claim': 'C-7', 'approved': True, 'by': 'manager', "
        "'payment': {'payment_id': 'PAY-C-7', 'amount': 240.0}}"
    )


def test_a_late_manager_escalates_and_the_director_rejects_after_a_kill(tmp_path: Path) -> None:
    args = ("--claim", "C-8", "--amount", "990", "--timeout", "0.5", "--escalation-timeout", "120")
    seen: list[str] = []
    first = start(tmp_path, EXAMPLE, *args)
    manager = read_until(first, f"{EXAMPLE} reject ", seen).split()[-1]
    director = read_until(first, f"{EXAMPLE} reject ", seen).split()[-1]  # 0.5 s passed
    assert director != manager
    wait_for_status(tmp_path / "reimbursements.db", "SUSPENDED", first)
    kill(first, seen)
    late = run(tmp_path, EXAMPLE, "approve", manager, code=1)  # the manager's time is up
    assert late.stderr.startswith("cannot answer: CallbackNotPending:")
    assert run(tmp_path, EXAMPLE, "reject", director).stdout == "rejected\n"
    second = start(tmp_path, EXAMPLE, *args)
    finish(second, seen)
    assert not [line for line in seen if line.startswith("paid")]
    assert [line for line in seen if line.startswith(("submitted", "notified"))] == [
        "submitted C-8: 990.00 EUR for train tickets to the Lyon office",
        "notified sam: claim C-8 rejected by director",
    ]
    assert (
        seen[-1] == "result: {'claim': 'C-8', 'approved': False, 'by': 'director', 'payment': None}"
    )


def test_a_bad_claim_is_refused_in_one_line(tmp_path: Path) -> None:
    refused = run(tmp_path, EXAMPLE, "--amount", "-5", code=1)
    assert refused.stderr == "claim refused: amount must be between 0 and 5000, not -5.0\n"
