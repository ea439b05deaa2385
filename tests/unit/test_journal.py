"""The replay cursor answers from recorded checkpoints alone."""

from __future__ import annotations

from durable_engine._journal import Completed, Execute, Journal, Mismatch, Resume
from durable_engine._models import Checkpoint, OperationStatus, OperationType


def cp(op_id: str, type_: OperationType, name: str | None, status: OperationStatus) -> Checkpoint:
    return Checkpoint(
        execution_id="e", op_id=op_id, parent_id=None, type=type_, name=name, status=status
    )


def test_unrecorded_operation_executes() -> None:
    assert Journal().resolve("1", OperationType.STEP, "a") == Execute()


def test_terminal_checkpoint_replays_and_pending_resumes() -> None:
    done = cp("1", OperationType.STEP, "a", OperationStatus.SUCCEEDED)
    failed = cp("2", OperationType.STEP, "b", OperationStatus.FAILED)
    timer = cp("3", OperationType.WAIT, None, OperationStatus.STARTED)
    journal = Journal([done, failed, timer])
    assert journal.resolve("1", OperationType.STEP, "a") == Completed(done)
    assert journal.resolve("2", OperationType.STEP, "b") == Completed(failed)
    assert journal.resolve("3", OperationType.WAIT, None) == Resume(timer)


def test_type_or_name_change_is_a_mismatch_naming_both() -> None:
    journal = Journal([cp("1", OperationType.STEP, "charge", OperationStatus.SUCCEEDED)])
    outcome = journal.resolve("1", OperationType.WAIT, "charge")
    assert isinstance(outcome, Mismatch)
    text = outcome.describe()
    assert "operation 1" in text and "STEP 'charge'" in text and "WAIT 'charge'" in text
    renamed = journal.resolve("1", OperationType.STEP, "refund")
    assert isinstance(renamed, Mismatch)
    assert renamed.recorded_name == "charge" and renamed.requested_name == "refund"


def test_a_context_replays_until_it_passes_its_furthest_recorded_operation() -> None:
    """The top level recorded 1, 2 and the timer 3 it waits on; context 4 (a map, say)
    recorded 4/2/1 under item 4/2. Code before an operation already recorded ran before,
    in its own context: its log lines were written then."""
    journal = Journal(
        [
            cp("1", OperationType.STEP, "a", OperationStatus.SUCCEEDED),
            cp("2", OperationType.STEP, "b", OperationStatus.SUCCEEDED),
            cp("3", OperationType.WAIT, None, OperationStatus.STARTED),
            cp("4/2/1", OperationType.WAIT, None, OperationStatus.STARTED),
        ]
    )
    assert [journal.recorded_beyond(None, at) for at in (0, 2, 3, 4, 5)] == [
        True,
        True,  # between step 2 and the timer the execution waits on
        True,  # context 4 holds records: the top level got that far
        False,
        False,
    ]
    assert [journal.recorded_beyond("4", at) for at in (0, 1, 2)] == [True, True, False]
    assert [journal.recorded_beyond("4/2", at) for at in (0, 1)] == [True, False]
    assert not journal.recorded_beyond("4/1", 0)  # item 1 recorded nothing
    assert not Journal().recorded_beyond(None, 0)  # a first run replays nothing


def test_each_context_knows_the_recorded_operations_it_has_not_asked_for() -> None:
    """`2` is a child context that has not ended (no record of its own); `2/2` a wait in it."""
    journal = Journal(
        [
            cp("1", OperationType.STEP, "a", OperationStatus.SUCCEEDED),
            cp("2/1", OperationType.STEP, "b", OperationStatus.SUCCEEDED),
            cp("2/2", OperationType.WAIT, "w", OperationStatus.STARTED),
        ]
    )
    assert journal.unasked() is not None and "1 (STEP 'a')" in (journal.unasked() or "")
    assert "2 (unfinished, with operations recorded in it)" in (journal.unasked() or "")
    journal.resolve("1", OperationType.STEP, "a")
    journal.resolve("2", OperationType.CONTEXT, "c")
    assert journal.unasked() is None  # the top level asked for both
    journal.resolve("2/1", OperationType.STEP, "b")
    assert "in context 2 the code no longer asks for: 2/2 (WAIT 'w')" in (
        journal.unasked("2") or ""
    )
    journal.resolve("2/2", OperationType.WAIT, "w")
    assert journal.unasked("2") is None


def test_an_operation_asked_where_an_unfinished_context_holds_records_is_a_mismatch() -> None:
    journal = Journal([cp("1/1", OperationType.STEP, "b", OperationStatus.SUCCEEDED)])
    outcome = journal.resolve("1", OperationType.STEP, "a")
    assert isinstance(outcome, Mismatch)
    assert "operation 1 holds operations recorded in it" in outcome.describe()
    assert journal.resolve("1", OperationType.MAP, "m") == Execute()  # a container: entered


def test_the_unfinished_context_check_holds_once_the_operation_is_called() -> None:
    """A context marks an operation asked as soon as it is called, before it resolves:
    the check must not depend on that mark."""
    journal = Journal([cp("1/1", OperationType.STEP, "b", OperationStatus.SUCCEEDED)])
    journal.asked("1")
    assert isinstance(journal.resolve("1", OperationType.STEP, "a"), Mismatch)
