"""Appending to one log partition: position assignment, group commit, and conflict handling.

All positions of a partition pass through one point, so writers of a partition compete. Inside
one process they do not have to: the threads of a store that append to the same partition at the
same time queue up, and one of them (the leader) writes the queued commits in **one**
``TransactWriteItems`` at consecutive positions, up to :data:`MAX_BATCH` commits. A lone writer
is its own leader and sends a transaction of one commit, with no waiting. Other processes still
compete for positions: a lost race means "re-read the head and try again".

Every batch is atomic: its positions all exist afterwards or none does, so the log has no hole.

What a batch writes and how a cancellation is sorted out are steps (:mod:`._steps`) that
:class:`LogWriter` (threads) and :class:`AsyncLogWriter` (tasks of one event loop) drive.
"""

from __future__ import annotations

import asyncio
import copy
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ddbes._validation import MAX_ITEM_BYTES
from ddbes.errors import CommitTooLarge, StoreError, StoreUnavailable, VersionConflict
from ddbes.model import Commit
from ddbes.timeouts import current_deadline
from ddbes_dynamodb._errors import ItemTooLarge, TransactionCancelled
from ddbes_dynamodb._items import Item, pad
from ddbes_dynamodb._steps import AsyncHandle, Pause, Request, Steps, SyncHandle, run, run_async

__all__ = ["MAX_BATCH", "AsyncLogWriter", "LogWriter", "Pending", "inline_pending"]

MAX_BATCH = 25
"""Commits per transaction: three actions each, under DynamoDB's 100 actions."""

MAX_BATCH_BYTES = 2 * 1024 * 1024
"""Item bytes per transaction, well under DynamoDB's 4 MB."""

HEAD_ATTEMPTS = 200
CONTENTION_BASE = 0.001
CONTENTION_CAP = 0.05

_FAILED = "ConditionalCheckFailed"
_NOT_EXISTS = "attribute_not_exists(p)"
_KNOWN = frozenset(
    {
        None,
        "None",
        _FAILED,
        "TransactionConflict",
        "ProvisionedThroughputExceeded",
        "ThrottlingError",
    }
)


@dataclass(slots=True, eq=False)
class Pending:
    """One commit waiting for its transaction: its three actions, and then its outcome."""

    commit: Commit
    actions: list[dict[str, Any]]
    commit_item: Item
    log_item: Item
    size: int
    done: threading.Event | None = None
    lead: bool = False
    result: Commit | None = None
    error: BaseException | None = None
    identity: tuple[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self.identity = (self.commit.aggregate_type, self.commit.aggregate_key)

    def outcome(self) -> Commit:
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


def inline_pending(
    table: str, commit: Commit, *, commit_item: Item, log_item: Item, registry: Item, size: int
) -> Pending:
    """A commit's three actions: its item, its log entry (the position is set per attempt),
    and the key registry (version 1) or a check that the previous version exists."""
    third: dict[str, Any]
    if commit.version == 1:
        third = {"Put": {"TableName": table, "Item": registry}}
    else:
        previous = {"p": commit_item["p"], "s": {"S": pad(commit.version - 1)}}
        third = {
            "ConditionCheck": {
                "TableName": table,
                "Key": previous,
                "ConditionExpression": "attribute_exists(p)",
            }
        }
    actions = [
        {
            "Put": {
                "TableName": table,
                "Item": commit_item,
                "ConditionExpression": _NOT_EXISTS,
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        },
        {"Put": {"TableName": table, "Item": log_item, "ConditionExpression": _NOT_EXISTS}},
        third,
    ]
    return Pending(commit, actions, commit_item, log_item, size)


def _code(reasons: list[dict[str, Any]], index: int) -> str | None:
    return reasons[index].get("Code") if index < len(reasons) else None


class _PartitionWriter:
    """The queue of one log partition and the steps that write a batch of it."""

    _handle: Any

    def __init__(
        self,
        *,
        partition: int,
        table: str,
        handle: SyncHandle | AsyncHandle,
        read_head: Callable[[int], Steps[int]],
        resolve_taken: Callable[[Commit, Item | None, int], Steps[Commit]],
    ) -> None:
        self.partition = partition
        self._handle = handle
        self._table = table
        self._read_head = read_head
        self._resolve_taken = resolve_taken
        self._queue: deque[Pending] = deque()
        self.head: int | None = None

    def _take(self) -> list[Pending]:
        """The next batch (under the lock): queue order, one commit per aggregate, size-capped."""
        batch: list[Pending] = []
        skipped: list[Pending] = []
        seen: set[tuple[str, str]] = set()
        size = 0
        while self._queue and len(batch) < MAX_BATCH:
            pending = self._queue[0]
            if batch and size + pending.size > MAX_BATCH_BYTES:
                break
            self._queue.popleft()
            if pending.identity in seen:
                # One transaction may not touch an item twice; the next batch takes it.
                skipped.append(pending)
                continue
            seen.add(pending.identity)
            batch.append(pending)
            size += pending.size
        self._queue.extendleft(reversed(skipped))
        return batch

    def _write(self, batch: list[Pending]) -> Steps[None]:
        """Store ``batch`` at the next positions, setting each pending's outcome."""
        head = self.head
        for attempt in range(1, HEAD_ATTEMPTS + 1):
            if head is None:
                head = yield from self._read_head(self.partition)
            actions: list[dict[str, Any]] = []
            for offset, pending in enumerate(batch, 1):
                position = head + offset
                pending.commit_item["n"] = {"N": str(position)}
                pending.log_item["s"] = {"S": pad(position)}
                actions.extend(pending.actions)
            try:
                yield Request("transact_write_items", "append", {"TransactItems": actions})
            except TransactionCancelled as cancelled:
                batch, taken = yield from self._sort_out(batch, cancelled)
                if not batch:
                    return
                if taken:
                    head = None  # another process took a position: re-read the head
                    ceiling = min(CONTENTION_CAP, CONTENTION_BASE * 2**attempt)
                    pause = random.uniform(0.0, ceiling)
                    deadline = current_deadline()
                    if deadline is not None and deadline - time.monotonic() <= pause:
                        break  # the commit's deadline: give up as on endless contention
                    yield Pause(pause)
                continue
            except ItemTooLarge as exc:
                if len(batch) > 1:
                    for pending in batch:  # find the one DynamoDB refuses
                        yield from self._write([pending])
                    return
                (pending,) = batch
                pending.error = CommitTooLarge(
                    pending.commit.aggregate_id,
                    max(pending.size, MAX_ITEM_BYTES + 1),
                    MAX_ITEM_BYTES,
                )
                pending.error.__cause__ = exc
                return
            except StoreError as exc:
                # The outcome is unknown, and the store may have lost writes it acknowledged
                # (a crash before its disk caught up): trust only a fresh read of the head.
                self.head = None
                for pending in batch:  # one exception object per thread that raises it
                    pending.error = copy.copy(exc)
                    pending.error.__cause__ = exc.__cause__
                return
            for offset, pending in enumerate(batch, 1):
                pending.result = pending.commit.stored_at(head + offset, self.partition)
            self.head = head + len(batch)
            return
        for pending in batch:
            pending.error = StoreUnavailable(
                f"log partition {self.partition} of table {self._table!r} stayed too contended: "
                f"gave up after {attempt} attempts (all the limit or the deadline allowed) to "
                f"append {pending.commit.aggregate_id} version {pending.commit.version}; "
                "nothing was written, retry later"
            )

    def _sort_out(
        self, batch: list[Pending], cancelled: TransactionCancelled
    ) -> Steps[tuple[list[Pending], bool]]:
        """Settle the commits a cancellation decided; return the rest and whether a log
        position was taken by someone else."""
        reasons = cancelled.reasons
        retry: list[Pending] = []
        taken = False
        for index, pending in enumerate(batch):
            base = 3 * index
            commit = pending.commit
            if _code(reasons, base) == _FAILED:
                try:
                    pending.result = yield from self._resolve_taken(
                        commit, reasons[base].get("Item"), self.partition
                    )
                except (VersionConflict, StoreError) as exc:
                    pending.error = exc
            elif _code(reasons, base + 2) == _FAILED:
                pending.error = VersionConflict(
                    commit.aggregate_id,
                    commit.version,
                    f"version {commit.version} of {commit.aggregate_id} does not follow its "
                    "newest version: versions are dense; hydrate the aggregate and try again",
                )
            else:
                taken = taken or _code(reasons, base + 1) == _FAILED
                retry.append(pending)
        codes = {reason.get("Code") for reason in reasons} - _KNOWN
        if retry and len(retry) == len(batch) and not taken and codes:
            for pending in retry:
                pending.error = StoreError(
                    f"DynamoDB cancelled a commit in table {self._table!r} for an unexpected "
                    f"reason: {cancelled}"
                )
            return [], False
        return retry, taken


class LogWriter(_PartitionWriter):
    """Writes commits into one log partition; shared by every thread of a store."""

    _handle: SyncHandle

    def __init__(self, **arguments: Any) -> None:
        super().__init__(**arguments)
        self._lock = threading.Lock()
        self._leading = False

    def append(self, pending: Pending) -> Commit:
        with self._lock:
            if self._leading:
                pending.done = threading.Event()
                self._queue.append(pending)
                follower = True
            else:
                self._leading = True
                self._queue.append(pending)
                follower = False
        if follower:
            assert pending.done is not None
            pending.done.wait()
            if not pending.lead:
                return pending.outcome()
        self._lead(pending)
        return pending.outcome()

    def _lead(self, own: Pending) -> None:
        """Write batches until ``own`` has its outcome, then pass the lead on (or drop it)."""
        while own.result is None and own.error is None:
            with self._lock:
                batch = self._take()
            try:
                run(self._write(batch), self._handle)
            except BaseException as exc:  # never leave a follower waiting
                for pending in batch:
                    if pending.result is None and pending.error is None:
                        pending.error = exc
            for pending in batch:
                if pending is not own and pending.done is not None:
                    pending.done.set()
        with self._lock:
            if self._queue:
                successor = self._queue[0]
                successor.lead = True
                assert successor.done is not None
                successor.done.set()
            else:
                self._leading = False


class AsyncLogWriter(_PartitionWriter):
    """:class:`LogWriter` for the tasks of one event loop: the task that holds the partition
    writes the queued commits (its own among them) in batches; a task that finds its commit
    written when its turn comes returns at once."""

    _handle: AsyncHandle

    def __init__(self, **arguments: Any) -> None:
        super().__init__(**arguments)
        self._turn = asyncio.Lock()

    async def append(self, pending: Pending) -> Commit:
        self._queue.append(pending)
        async with self._turn:
            while pending.result is None and pending.error is None:
                batch = self._take()
                try:
                    await run_async(self._write(batch), self._handle)
                except BaseException as exc:  # never leave a queued commit without an outcome
                    for waiting in batch:
                        if waiting.result is None and waiting.error is None:
                            waiting.error = (
                                exc
                                if waiting is pending or isinstance(exc, Exception)
                                else StoreUnavailable(
                                    f"the task writing {waiting.commit.aggregate_id} version "
                                    f"{waiting.commit.version} to table {self._table!r} was "
                                    "cancelled; the outcome is unknown: retry with the same "
                                    "commit"
                                )
                            )
                    raise
        return pending.outcome()
