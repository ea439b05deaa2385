"""The replay cursor answers from recorded checkpoints alone."""

from __future__ import annotations

from durable_engine.journal import Completed, Execute, Journal, Mismatch, Resume
from durable_engine.models import Checkpoint, OperationStatus, OperationType


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
