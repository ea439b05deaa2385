"""Real processes, killed with SIGKILL at chosen moments, finished by new processes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.crash.harness import (
    finish,
    integrity,
    kill,
    lines,
    operation_rows,
    send_callback,
    spawn,
    wait_until,
)


def test_killed_during_a_wait_a_new_process_finishes_with_the_same_result(tmp_path: Path) -> None:
    db, effects = tmp_path / "crash.db", tmp_path / "effects.log"
    first = spawn(db, effects, "start", "three_steps", "order-1", "1")
    wait_until(
        lambda: any(t == "WAIT" for _, t, _, _ in operation_rows(db)),
        "the wait to be recorded",
        first,
    )
    kill(first)
    assert "step3" not in lines(effects)
    second = spawn(db, effects, "resume", "order-1")
    assert finish(second) == {"result": {"a": 2, "b": 4, "c": 104}}
    assert [line for line in lines(effects) if line.startswith("step")] == [
        "step1",
        "step2",
        "step3",
    ]
    assert integrity(db) == "ok"


def test_at_most_once_step_killed_mid_body_is_interrupted_not_rerun(tmp_path: Path) -> None:
    db, effects = tmp_path / "crash.db", tmp_path / "effects.log"
    first = spawn(db, effects, "start", "at_most_once", "amo")
    wait_until(lambda: "amo start 1" in lines(effects), "the body to start", first)
    kill(first)
    second = spawn(db, effects, "resume", "amo")
    # The interrupted attempt 1 goes to the retry strategy: attempt 2 runs, attempt 1 never again.
    assert finish(second) == {"result": 2}
    body = [line for line in lines(effects) if line.startswith("amo ")]
    assert body == ["amo start 1", "amo start 2", "amo end 2"]


def test_at_most_once_without_retry_fails_as_interrupted(tmp_path: Path) -> None:
    db, effects = tmp_path / "crash.db", tmp_path / "effects.log"
    first = spawn(db, effects, "start", "at_most_once_no_retry", "amo1")
    wait_until(lambda: "amo1 start 1" in lines(effects), "the body to start", first)
    kill(first)
    second = spawn(db, effects, "resume", "amo1")
    assert finish(second) == {"result": "StepInterruptedError"}
    assert [line for line in lines(effects) if line.startswith("amo1 ")] == ["amo1 start 1"]


def test_at_least_once_step_killed_mid_body_runs_again(tmp_path: Path) -> None:
    db, effects = tmp_path / "crash.db", tmp_path / "effects.log"
    first = spawn(db, effects, "start", "at_least_once", "alo")
    wait_until(lambda: "alo start 1" in lines(effects), "the body to start", first)
    kill(first)
    assert operation_rows(db) == []  # nothing was recorded for the step: it must run again
    second = spawn(db, effects, "resume", "alo")
    assert finish(second) == {"result": 1}
    body = [line for line in lines(effects) if line.startswith("alo ")]
    assert body[:2] == ["alo start 1", "alo start 1"]


@pytest.mark.slow
def test_retry_backoff_survives_a_restart_with_the_attempt_kept(tmp_path: Path) -> None:
    db, effects = tmp_path / "crash.db", tmp_path / "effects.log"
    first = spawn(db, effects, "start", "backoff", "retry")
    wait_until(
        lambda: any(s == "PENDING" for _, _, s, _ in operation_rows(db)),
        "a retry to be scheduled",
        first,
    )
    kill(first)
    assert [line for line in lines(effects) if line.startswith("attempt")] == ["attempt 1"]
    second = spawn(db, effects, "resume", "retry")
    assert finish(second) == {"result": 3}
    assert [line for line in lines(effects) if line.startswith("attempt")] == [
        "attempt 1",
        "attempt 2",
        "attempt 3",
    ]
    assert ("1", "STEP", "SUCCEEDED", 3) in operation_rows(db)


def test_map_with_waits_killed_twice_gives_the_right_result(tmp_path: Path) -> None:
    db, effects = tmp_path / "crash.db", tmp_path / "effects.log"
    count = 10
    first = spawn(db, effects, "start", "map_waits", "fan", str(count))
    wait_until(
        lambda: sum("after" in line for line in lines(effects)) >= 2, "some items done", first
    )
    kill(first)
    second = spawn(db, effects, "resume", "fan")
    wait_until(
        lambda: sum("after" in line for line in lines(effects)) >= 6, "more items done", second
    )
    kill(second)
    third = spawn(db, effects, "resume", "fan")
    assert finish(third) == {"result": [n * n for n in range(count)]}
    log = lines(effects)
    for n in range(count):
        for phase in ("before", "after"):
            runs = log.count(f"item {n} {phase}")
            assert 1 <= runs <= 1 + 2, (n, phase, runs)  # at least once; at most 1 + kills
    assert integrity(db) == "ok"


def _callback_id(effects: Path) -> str:
    [line] = [line for line in lines(effects) if line.startswith("callback ")]
    return line.split(" ", 1)[1]


def test_approval_answered_by_a_second_process_while_the_first_runs(tmp_path: Path) -> None:
    db, effects = tmp_path / "crash.db", tmp_path / "effects.log"
    worker = spawn(db, effects, "start", "approval", "po-1", "250")
    wait_until(lambda: any(x.startswith("callback ") for x in lines(effects)), "the id", worker)
    send_callback(db, _callback_id(effects), '{"approved": true}')
    assert finish(worker) == {"result": {"amount": 250, "decision": {"approved": True}}}
    assert lines(effects).count("approved step") == 1


def test_approval_sent_while_the_workflow_process_is_dead(tmp_path: Path) -> None:
    db, effects = tmp_path / "crash.db", tmp_path / "effects.log"
    first = spawn(db, effects, "start", "approval", "po-2", "99")
    wait_until(lambda: any(x.startswith("callback ") for x in lines(effects)), "the id", first)
    # The submitter is a step, run at least once: killed before its outcome is committed
    # it would run again. Kill once it is recorded, while the workflow waits.
    wait_until(
        lambda: ("STEP", "SUCCEEDED") in {(t, s) for _, t, s, _ in operation_rows(db)},
        "the submitter's outcome",
        first,
    )
    kill(first)
    send_callback(db, _callback_id(effects), '"yes"')  # nobody runs the workflow now
    second = spawn(db, effects, "resume", "po-2")
    assert finish(second) == {"result": {"amount": 99, "decision": "yes"}}
    assert [x for x in lines(effects) if x.startswith("callback ")] == [
        f"callback {_callback_id(effects)}"
    ]
    assert integrity(db) == "ok"
