"""The replay cursor: what to do with an operation, given what was recorded.

Pure: no await, no SQL, no serialization. Given the recorded checkpoints and a
requested operation (id, type, name), it answers one of a few outcomes and the
caller handles them with `match`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from ._models import TERMINAL_OPERATION, Checkpoint, OperationType, op_position

__all__ = ["CONTAINERS", "Completed", "Execute", "Journal", "Mismatch", "Outcome", "Resume"]


@dataclass(frozen=True, slots=True)
class Execute:
    """Nothing recorded: run the operation for real."""


@dataclass(frozen=True, slots=True)
class Completed:
    """Recorded with a terminal status: return its result or raise its error."""

    checkpoint: Checkpoint


@dataclass(frozen=True, slots=True)
class Resume:
    """Recorded but not finished (a timer, a retry delay, an attempt in flight)."""

    checkpoint: Checkpoint


@dataclass(frozen=True, slots=True)
class Mismatch:
    """The code asks for a different operation than the one recorded at this position."""

    op_id: str
    recorded_type: OperationType | None
    """None: the id has no record of its own, only records inside it (a container
    not finished yet)."""
    recorded_name: str | None
    requested_type: OperationType
    requested_name: str | None

    def describe(self) -> str:
        recorded = (
            f"was recorded as {self.recorded_type} {self.recorded_name!r}"
            if self.recorded_type is not None
            else "holds operations recorded in it (a child context, parallel or map "
            "not finished yet)"
        )
        return (
            f"operation {self.op_id} {recorded} but the code now asks for "
            f"{self.requested_type} {self.requested_name!r}; the workflow code changed in "
            "a way that breaks replay"
        )


Outcome = Execute | Completed | Resume | Mismatch

_EXECUTE = Execute()
"""The one `Execute` outcome (it carries nothing): no object is made per new operation."""

CONTAINERS = frozenset((OperationType.CONTEXT, OperationType.PARALLEL, OperationType.MAP))
"""Operations that hold others, the only ones with ids recorded under theirs."""


class Journal:
    """An execution's checkpoints, looked up by operation id as replay proceeds."""

    __slots__ = ("_below", "_holders", "_latest", "_open", "_records", "_unasked")

    def __init__(self, checkpoints: Iterable[Checkpoint] = ()) -> None:
        # A fresh execution's journal starts empty: no comprehension to run.
        self._records = {cp.op_id: cp for cp in checkpoints} if checkpoints else {}
        self._latest = _latest_positions(self._records) if self._records else {}
        """The highest operation number recorded before this run in each context."""
        self._unasked = _with_enclosing(self._records) if self._records else set()
        """Ids recorded by an earlier run (and the ids enclosing them) that the code has
        not asked for in this one."""
        self._holders = frozenset(self._unasked - self._records.keys())
        """Ids with records under them but none of their own: containers an older
        version left unfinished (it recorded none as it began)."""
        self._below: dict[str, set[str]] | None = None
        self._open = any(cp.status not in TERMINAL_OPERATION for cp in self._records.values())
        """Whether an operation was ever recorded STARTED or PENDING: if not, none is open."""

    def __len__(self) -> int:
        return len(self._records)

    def get(self, op_id: str) -> Checkpoint | None:
        return self._records.get(op_id)

    def children(self, parent_id: str) -> list[Checkpoint]:
        """Checkpoints recorded directly under `parent_id`."""
        return [cp for cp in self._records.values() if cp.parent_id == parent_id]

    def recorded_beyond(self, context_id: str | None, position: int) -> bool:
        """Whether a run before this one got further in context `context_id` (None: the
        top level) than operation number `position`: the code there is running again."""
        return self._latest.get(context_id, 0) > position

    def resolve(self, op_id: str, type_: OperationType, name: str | None) -> Outcome:
        """What to do with operation `op_id`, asked for as `type_` named `name`."""
        cp = self._records.get(op_id)
        if cp is None:
            if self._holders and op_id in self._holders and type_ not in CONTAINERS:
                return Mismatch(op_id, None, None, type_, name)
            self._unasked.discard(op_id)
            return _EXECUTE
        self._unasked.discard(op_id)
        if cp.type != type_ or (cp.name != name and not _named_before(cp.name, name)):
            return Mismatch(op_id, cp.type, cp.name, type_, name)
        if cp.status in TERMINAL_OPERATION:
            return Completed(cp)
        return Resume(cp)

    def recorded_under(self, op_id: str) -> set[str]:
        """The ids directly under `op_id` that have a record or recorded operations under
        them: what its outcome, coming from elsewhere, stands for."""
        return set(self._index().get(op_id, ()))

    def first_start_under(self, op_id: str) -> float | None:
        """The earliest `started_at` recorded under `op_id`: when a child context that
        has no record of its own began, on a run before this one."""
        if not self._records:
            return None
        starts = [
            cp.started_at
            for below in self._descendants(op_id)
            if (cp := self._records.get(below)) is not None and cp.started_at is not None
        ]
        return min(starts, default=None)

    def _descendants(self, op_id: str) -> Iterator[str]:
        """Ids recorded under `op_id`, and the ids between them and it."""
        below = self._index()
        stack = list(below.get(op_id, ()))
        while stack:
            current = stack.pop()
            yield current
            stack.extend(below.get(current, ()))

    def _index(self) -> dict[str, set[str]]:
        if self._below is None:
            self._below = {}
            for recorded in self._records:
                self._link(recorded)
        return self._below

    def _link(self, op_id: str) -> None:
        """Index `op_id` under each enclosing id (ids are paths: `3/1/2` is under `3/1`)."""
        assert self._below is not None
        while "/" in op_id:
            parent = op_id.rpartition("/")[0]
            siblings = self._below.setdefault(parent, set())
            if op_id in siblings:
                return
            siblings.add(op_id)
            op_id = parent

    def unfinished(self, under: str | None = None) -> tuple[str, ...]:
        """Ids of the operations recorded as still STARTED or PENDING; with `under`, only
        those inside that operation."""
        if not self._open:  # most executions, as they end: nothing to look through
            return ()
        left = [cp.op_id for cp in self._records.values() if cp.status not in TERMINAL_OPERATION]
        if under is not None and left:
            inside = under + "/"
            left = [op for op in left if op.startswith(inside)]
        return tuple(left)

    def asked(self, op_id: str) -> None:
        """The code called operation `op_id` (it may run later, in a task of its own)."""
        self._unasked.discard(op_id)

    def unasked(self, context_id: str | None = None) -> str | None:
        """Once the code of context `context_id` (None: the execution) has returned:
        the operations recorded directly in it before that it never asked for, described,
        or None if it asked for them all. Code that ends without them has changed in a
        way that breaks replay."""
        if not self._unasked:  # a first run, or every recorded operation asked for
            return None
        if context_id is None:
            left = [op for op in self._unasked if "/" not in op]
        else:
            left = [op for op in self._index().get(context_id, ()) if op in self._unasked]
        if not left:
            return None
        listed = ", ".join(self._describe(op) for op in sorted(left, key=op_position))
        where = "" if context_id is None else f" in context {context_id}"
        return (
            f"recorded operations{where} the code no longer asks for: {listed}; the "
            "workflow code changed in a way that breaks replay"
        )

    def _describe(self, op_id: str) -> str:
        cp = self._records.get(op_id)
        if cp is None:  # a context or batch that ended in no run yet
            return f"{op_id} (unfinished, with operations recorded in it)"
        return f"{op_id} ({cp.type} {cp.name!r})"

    def record(self, checkpoint: Checkpoint) -> None:
        """Remember a checkpoint written during this run (visited already)."""
        if self._below is not None and checkpoint.op_id not in self._records:
            self._link(checkpoint.op_id)
        if checkpoint.status not in TERMINAL_OPERATION:
            self._open = True
        self._records[checkpoint.op_id] = checkpoint


def _named_before(recorded: str | None, name: str | None) -> bool:
    """Whether `recorded` is the default name an older version gave the step now named
    `name` by default: the last part of a qualified name (`charge` for `Payments.charge`)."""
    return recorded is not None and name is not None and name.rpartition(".")[2] == recorded


def _with_enclosing(records: Iterable[str]) -> set[str]:
    """The ids in `records` and every id enclosing one (`3` and `3/1` for `3/1/2`)."""
    ids: set[str] = set()
    for op_id in records:
        while op_id and op_id not in ids:
            ids.add(op_id)
            op_id = op_id.rpartition("/")[0]
    return ids


def _latest_positions(records: Iterable[str]) -> dict[str | None, int]:
    """For each context (None: the top level), the highest operation number recorded in
    it, counting a context that holds records as recorded itself."""
    latest: dict[str | None, int] = {}
    for op_id in records:
        while op_id:
            parent, _, last = op_id.rpartition("/")
            context = parent or None
            if last.isdigit() and int(last) > latest.get(context, 0):
                latest[context] = int(last)
            op_id = parent
    return latest
