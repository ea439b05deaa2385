"""Parallel and map: their configuration, their result, and when a batch is decided.

Pure: the completion rules are plain functions of counts, tested without an engine.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import serdes

from ._config import check_callable, check_instance, check_int, check_name, check_number
from ._errors import ErrorInfo, error_from_info, error_info

if TYPE_CHECKING:
    from ._context import DurableContext

__all__ = [
    "BatchItem",
    "BatchItemStatus",
    "BatchResult",
    "CompletionConfig",
    "CompletionReason",
    "ItemBatcher",
    "MapConfig",
    "ParallelBranch",
    "ParallelConfig",
    "decide",
]

T = TypeVar("T")


class CompletionReason(enum.StrEnum):
    ALL_COMPLETED = "ALL_COMPLETED"
    MIN_SUCCESSFUL_REACHED = "MIN_SUCCESSFUL_REACHED"
    FAILURE_TOLERANCE_EXCEEDED = "FAILURE_TOLERANCE_EXCEEDED"


class BatchItemStatus(enum.StrEnum):
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    """Started, then stopped because the batch was decided."""
    NOT_STARTED = "NOT_STARTED"
    """Never started because the batch was decided first."""


@dataclass(frozen=True, slots=True)
class CompletionConfig:
    """When a batch is done. With no criteria, the first failure ends it."""

    min_successful: int | None = None
    tolerated_failure_count: int | None = None
    tolerated_failure_percentage: float | None = None

    @classmethod
    def first_successful(cls) -> CompletionConfig:
        """Done as soon as one branch succeeds."""
        return cls(min_successful=1)

    @classmethod
    def all_completed(cls) -> CompletionConfig:
        """Every branch runs to its end, whatever fails."""
        return cls(tolerated_failure_percentage=100.0)

    @classmethod
    def all_successful(cls) -> CompletionConfig:
        """Every branch must succeed: the first failure ends the batch."""
        return cls(tolerated_failure_count=0)

    def __post_init__(self) -> None:
        if self.min_successful is not None:  # 0 would end the batch before it began
            check_int(self.min_successful, "min_successful", 1)
        if self.tolerated_failure_count is not None:
            check_int(self.tolerated_failure_count, "tolerated_failure_count", 0)
        pct = self.tolerated_failure_percentage
        if pct is not None and not 0 <= check_number(pct, "tolerated_failure_percentage") <= 100:
            raise ValueError(f"tolerated_failure_percentage must be between 0 and 100, not {pct!r}")

    def validate(self, total: int) -> None:
        """Raise ValueError if these rules cannot be met with `total` branches."""
        if self.min_successful is not None and self.min_successful > total:
            raise ValueError(
                f"min_successful={self.min_successful} cannot be reached with {total} items"
            )


def decide(
    config: CompletionConfig, total: int, succeeded: int, failed: int
) -> CompletionReason | None:
    """The batch's outcome once this many branches have ended, or None to go on."""
    if failed and _too_many_failures(config, total, failed):
        return CompletionReason.FAILURE_TOLERANCE_EXCEEDED
    minimum = config.min_successful
    if (
        minimum is not None
        and succeeded >= minimum
        and (succeeded + failed < total or minimum < total)
    ):
        return CompletionReason.MIN_SUCCESSFUL_REACHED
    if succeeded + failed >= total:
        return CompletionReason.ALL_COMPLETED
    return None


def _too_many_failures(config: CompletionConfig, total: int, failed: int) -> bool:
    count, pct = config.tolerated_failure_count, config.tolerated_failure_percentage
    if count is None and pct is None:
        if config.min_successful is None:
            return True  # no criteria: fail fast
        return total - failed < config.min_successful  # min_successful can no longer be met
    if count is not None and failed > count:
        return True
    return pct is not None and total > 0 and failed * 100.0 / total > pct


@dataclass(frozen=True, slots=True)
class ParallelBranch(Generic[T]):
    """A branch of `ctx.parallel` with a name of its own."""

    func: Callable[[DurableContext], Awaitable[T]]
    name: str | None = None

    def __post_init__(self) -> None:
        check_callable(self.func, "func")
        check_name(self.name)


def _check_concurrency(max_concurrency: int | None) -> None:
    if max_concurrency is not None:
        check_int(max_concurrency, "max_concurrency", 1)


@dataclass(frozen=True, slots=True, kw_only=True)
class ParallelConfig:
    """`max_concurrency` bounds branches started and not finished, blocked ones included."""

    max_concurrency: int | None = None
    completion_config: CompletionConfig = field(default_factory=CompletionConfig.all_successful)

    def __post_init__(self) -> None:
        _check_concurrency(self.max_concurrency)
        check_instance(self.completion_config, CompletionConfig, "completion_config")


@dataclass(frozen=True, slots=True, kw_only=True)
class ItemBatcher:
    """Groups map items: each child gets a list of up to `max_items_per_batch` items
    whose serialized size stays within `max_item_bytes_per_batch`."""

    max_items_per_batch: int | None = None
    max_item_bytes_per_batch: int | None = None

    def __post_init__(self) -> None:
        if self.max_items_per_batch is None and self.max_item_bytes_per_batch is None:
            raise ValueError("ItemBatcher needs max_items_per_batch or max_item_bytes_per_batch")
        if self.max_items_per_batch is not None:
            check_int(self.max_items_per_batch, "max_items_per_batch", 1)
        if self.max_item_bytes_per_batch is not None:
            check_int(self.max_item_bytes_per_batch, "max_item_bytes_per_batch", 1)

    def batches(self, items: Sequence[Any], size_of: Callable[[Any], int]) -> list[list[Any]]:
        """Consecutive groups of `items`; an item bigger than the byte limit goes alone."""
        out: list[list[Any]] = []
        current: list[Any] = []
        current_bytes = 0
        for item in items:
            size = size_of(item) if self.max_item_bytes_per_batch is not None else 0
            full = self.max_items_per_batch is not None and len(current) >= self.max_items_per_batch
            too_big = (
                self.max_item_bytes_per_batch is not None
                and current
                and current_bytes + size > self.max_item_bytes_per_batch
            )
            if full or too_big:
                out.append(current)
                current, current_bytes = [], 0
            current.append(item)
            current_bytes += size
        if current:
            out.append(current)
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class MapConfig:
    """`item_namer(item, index)` names each child context (a batch of items, if batched)."""

    max_concurrency: int | None = None
    completion_config: CompletionConfig = field(default_factory=CompletionConfig)
    item_batcher: ItemBatcher | None = None
    item_namer: Callable[[Any, int], str] | None = None

    def __post_init__(self) -> None:
        _check_concurrency(self.max_concurrency)
        check_instance(self.completion_config, CompletionConfig, "completion_config")
        check_instance(self.item_batcher, ItemBatcher, "item_batcher", optional=True)
        check_callable(self.item_namer, "item_namer", optional=True)


@dataclass(frozen=True, slots=True)
class BatchItem(Generic[T]):
    index: int
    name: str | None
    status: BatchItemStatus
    result: T | None = None
    error: BaseException | None = None


@dataclass(frozen=True, slots=True)
class BatchResult(Generic[T]):
    """Every branch's outcome in input order, and why the batch ended."""

    all: list[BatchItem[T]]
    completion_reason: CompletionReason

    def succeeded(self) -> list[BatchItem[T]]:
        return [i for i in self.all if i.status is BatchItemStatus.SUCCEEDED]

    def failed(self) -> list[BatchItem[T]]:
        return [i for i in self.all if i.status is BatchItemStatus.FAILED]

    def get_results(self) -> list[T]:
        """Results of the branches that succeeded, in input order."""
        return [i.result for i in self.succeeded()]  # type: ignore[misc]

    def get_errors(self) -> list[BaseException]:
        return [i.error for i in self.failed() if i.error is not None]

    def throw_if_error(self) -> None:
        """Raise the first failed branch's error (in input order), if any failed."""
        errors = self.get_errors()
        if errors:
            raise errors[0]

    @property
    def success_count(self) -> int:
        return len(self.succeeded())

    @property
    def failure_count(self) -> int:
        return len(self.failed())

    @property
    def total_count(self) -> int:
        return len(self.all)


def _encode_item(item: BatchItem[Any]) -> dict[str, Any]:
    """A BatchItem as plain data: its error stored as the engine stores every error."""
    error = None if item.error is None else error_info(item.error).to_dict()
    return {
        "index": item.index,
        "name": item.name,
        "status": item.status.value,
        "result": item.result,
        "error": error,
    }


def _decode_item(data: Any) -> BatchItem[Any]:
    """The BatchItem `_encode_item` stored; its error is rebuilt as a replay of the
    batch rebuilds it (the same class of ours, error type, message, trace and data)."""
    error = data["error"]
    return BatchItem(
        data["index"],
        data["name"],
        BatchItemStatus(data["status"]),
        data["result"],
        None if error is None else error_from_info(ErrorInfo.from_dict(error)),
    )


# A workflow may return a batch's result, or what it holds: serdes' default registry,
# the one `serdes.MsgpackSerDes()` and `serdes.JsonSerDes()` use when given none (so the
# engine's default codec too), knows them. The tags name the public module, so that
# stored values outlive a move between private modules; keep them as they are.
serdes.register(CompletionReason, name="durable_engine.CompletionReason")
serdes.register(BatchItemStatus, name="durable_engine.BatchItemStatus")
serdes.register(
    BatchItem, name="durable_engine.BatchItem", encode=_encode_item, decode=_decode_item
)
serdes.register(BatchResult, name="durable_engine.BatchResult")
