"""Atomic units on a table sequenced inline: the commits, their log entries and their checks
in one ``TransactWriteItems``.

Each commit brings its three actions (:func:`~ddbes_dynamodb._log_writer.inline_pending`);
the unit's commits that share a log partition take the positions after that partition's head
(read strongly consistently), consecutive, in the order given. A cancellation is sorted out
as for a batch of the log writer: a taken position means another writer got there first
(re-read the heads and try again), a taken version is a conflict unless the holder is this
very commit (an idempotent retry), and a failed check is a conflict (versions are dense).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from ddbes.errors import StoreError, StoreUnavailable, VersionConflict
from ddbes.model import Commit
from ddbes.timeouts import current_deadline
from ddbes_dynamodb._errors import TransactionCancelled
from ddbes_dynamodb._items import Item, pad
from ddbes_dynamodb._log_writer import CONTENTION_BASE, CONTENTION_CAP, HEAD_ATTEMPTS, Pending
from ddbes_dynamodb._steps import Pause, Request, Steps

__all__ = ["append_unit_inline"]

_FAILED = "ConditionalCheckFailed"


def append_unit_inline(
    table: str,
    unit: list[tuple[Pending, int]],
    *,
    read_head: Callable[[int], Steps[int]],
    resolve_taken: Callable[[Commit, Item | None, int], Steps[Commit]],
) -> Steps[list[Commit]]:
    """Store ``unit`` (each ``(pending, partition)``) in one transaction, with positions."""
    partitions = sorted({partition for _, partition in unit})
    for attempt in range(1, HEAD_ATTEMPTS + 1):
        heads = {}
        for partition in partitions:
            heads[partition] = yield from read_head(partition)
        positions: list[int] = []
        actions: list[dict[str, Any]] = []
        for pending, partition in unit:
            heads[partition] += 1
            position = heads[partition]
            positions.append(position)
            pending.commit_item["n"] = {"N": str(position)}
            pending.log_item["s"] = {"S": pad(position)}
            actions.extend(pending.actions)
        try:
            yield Request("transact_write_items", "append", {"TransactItems": actions})
        except TransactionCancelled as cancelled:
            stored = yield from _sorted_out(unit, cancelled.reasons, resolve_taken, table)
            if stored is not None:
                return stored
            pause = random.uniform(0.0, min(CONTENTION_CAP, CONTENTION_BASE * 2**attempt))
            deadline = current_deadline()
            if deadline is not None and deadline - time.monotonic() <= pause:
                break
            yield Pause(pause)
            continue
        return [
            pending.commit.stored_at(position, partition)
            for (pending, partition), position in zip(unit, positions, strict=True)
        ]
    first = unit[0][0].commit
    raise StoreUnavailable(
        f"the log of table {table!r} stayed too contended: gave up after {attempt} attempts to "
        f"append the atomic unit starting with {first.aggregate_id}; nothing was written, "
        "retry later"
    )


def _sorted_out(
    unit: list[tuple[Pending, int]],
    reasons: list[dict[str, Any]],
    resolve_taken: Callable[[Commit, Item | None, int], Steps[Commit]],
    table: str,
) -> Steps[list[Commit] | None]:
    """The stored unit (an idempotent retry), ``None`` to try again at new positions, or the
    conflict."""

    def code(index: int) -> str | None:
        return reasons[index].get("Code") if index < len(reasons) else None

    for index, (pending, _) in enumerate(unit):
        if code(3 * index + 2) == _FAILED:
            commit = pending.commit
            raise VersionConflict(
                commit.aggregate_id,
                commit.version,
                f"version {commit.version} of {commit.aggregate_id} does not follow its "
                "newest version: versions are dense; hydrate the aggregate and try again",
            )
    taken = [index for index in range(len(unit)) if code(3 * index) == _FAILED]
    if taken:
        stored = []
        for index in taken:  # raises the conflict of the first one stored by someone else
            pending, partition = unit[index]
            stored.append(
                (
                    yield from resolve_taken(
                        pending.commit, reasons[3 * index].get("Item"), partition
                    )
                )
            )
        if len(stored) == len(unit):
            return stored
        raise StoreError(
            f"DynamoDB holds only part of an atomic unit in table {table!r} (another unit "
            "reused its commit ids?): the commits of a unit need ids of their own"
        )
    if any(code(3 * index + 1) == _FAILED for index in range(len(unit))):
        return None  # a position was taken: read the heads again
    if {code(index) for index in range(len(reasons))} <= {None, "None", "TransactionConflict"}:
        return None
    raise StoreError(
        f"DynamoDB cancelled an atomic unit in table {table!r} for an unexpected reason: "
        f"{[reason.get('Code') for reason in reasons]}"
    )
