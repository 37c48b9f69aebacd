"""What :class:`~ddbes_dynamodb.DynamoDBCommitStore` and
:class:`~ddbes_dynamodb.AsyncDynamoDBCommitStore` both do, written once as steps
(:mod:`._steps`): the items of an append, the requests of each read, how pages are decoded and
where a read of the log stops, how a taken version is told from an idempotent retry. The two
stores only drive these steps, with boto3 or aiobotocore, and hold the same table layout.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from ddbes._validation import check_commit, check_unit, encoded_events, encoded_metadata
from ddbes.archiving import ArchivedRef
from ddbes.codec import format_time
from ddbes.errors import CorruptItem, VersionConflict
from ddbes.model import Commit, log_partition_for
from ddbes_dynamodb._commit_writer import CommitWriter
from ddbes_dynamodb._items import (
    MAX_NUMBER,
    Item,
    commit_items,
    commit_pk,
    decode_commit_item,
    decode_commit_or_stub,
    decode_log_page,
    decode_position,
    item_overhead,
    keys_fit,
    keys_pk,
    log_pk,
    pad,
)
from ddbes_dynamodb._log_writer import Pending, inline_pending
from ddbes_dynamodb._steps import Reads, Request, Steps
from ddbes_dynamodb._unit_writer import append_unit_inline

__all__ = ["CommitLog", "PreparedAppend"]

_COMMIT_FIELDS = "s, i, t, e, x, n, m, ar"
_LOG_FIELDS = "s, a, k, v, i, t, e, x, m, ar, f, c"
_VERSIONS = "p = :p AND s BETWEEN :l AND :h"
_AFTER = "p = :p AND s > :a"

_FIRST_GUESS = 25.0
"""Commits per log item a store expects before its first read of the log: a log page holds
up to 100, a log entry (format 1 and 2 tables) one."""


def items_to_ask(wanted: int, per_item: float) -> int:
    """The ``Limit`` of a log query that should return ``wanted`` more commits when an item
    holds ``per_item`` on average: one item more than that average needs (a read that
    resumes inside a page gets only its tail), and never more items than commits."""
    return max(1, min(wanted, math.ceil(wanted / max(per_item, 1.0)) + 1))


@dataclass(frozen=True, slots=True)
class PreparedAppend:
    """A checked commit and its items, before any request."""

    commit: Commit
    partition: int
    commit_item: Item
    log_item: Item
    registry: Item
    size: int


class CommitLog:
    """The decisions of a commit store on one table, shared by its sync and async shells."""

    def __init__(self, table: str, *, stored: Callable[[str, int, int], None]) -> None:
        self.table = table
        # Commits per log item in this table's recent reads of the log (see ``log``).
        self.per_log_item = _FIRST_GUESS
        self.writer = CommitWriter(
            table=table, resolve_taken=self.stored_or_conflict, stored=stored
        )

    # -- appends --------------------------------------------------------------------------

    def prepare(self, commit: Commit, log_partitions: int) -> PreparedAppend:
        """Check ``commit`` and build its items (no I/O).

        Raises:
            ValueError, InvalidEvent, CommitTooLarge: as :meth:`CommitStore.append`.
        """
        check_commit(commit)
        aggregate_type = commit.aggregate_type
        aggregate_key = commit.aggregate_key
        partition = log_partition_for(aggregate_type, aggregate_key, log_partitions)
        payload, compressed = encoded_events(commit)
        metadata = encoded_metadata(commit)
        commit_item, log_item = commit_items(commit, partition, payload, compressed, metadata)
        registry = {"p": {"S": keys_pk(aggregate_type)}, "s": {"S": aggregate_key}}
        size = 2 * (len(payload) + len(metadata.encode()) + item_overhead(commit, partition))
        return PreparedAppend(commit, partition, commit_item, log_item, registry, size)

    def append_unsequenced(self, prepared: PreparedAppend) -> Steps[Commit]:
        """A background-sequenced append: the commit item alone."""
        return self.writer.append(
            prepared.commit,
            prepared.partition,
            prepared.commit_item,
            prepared.registry,
            prepared.size,
        )

    def prepare_unit(self, commits: Sequence[Commit], log_partitions: int) -> list[PreparedAppend]:
        """Check an atomic unit (:func:`ddbes._validation.check_unit`) and build its items.

        Raises:
            ValueError, InvalidEvent, CommitTooLarge: as :meth:`CommitStore.append_all`.
        """
        check_unit(commits)
        return [self.prepare(commit, log_partitions) for commit in commits]

    def append_unit_unsequenced(self, unit: list[PreparedAppend]) -> Steps[list[Commit]]:
        """A background-sequenced atomic unit: the commit items alone, in one transaction."""
        return self.writer.append_all(
            [(one.commit, one.partition, one.commit_item, one.registry) for one in unit]
        )

    def append_unit_inline(self, unit: list[PreparedAppend]) -> Steps[list[Commit]]:
        """An inline atomic unit: items, log entries and checks in one transaction."""
        return append_unit_inline(
            self.table,
            [(self.inline(one), one.partition) for one in unit],
            read_head=self.read_head,
            resolve_taken=self.stored_or_conflict,
        )

    def inline(self, prepared: PreparedAppend) -> Pending:
        """An inline append, for the partition's log writer."""
        return inline_pending(
            self.table,
            prepared.commit,
            commit_item=prepared.commit_item,
            log_item=prepared.log_item,
            registry=prepared.registry,
            size=prepared.size,
        )

    def stored_or_conflict(
        self, commit: Commit, item: Item | None, partition: int
    ) -> Steps[Commit]:
        """The stored commit when it is this one (an idempotent retry), else a conflict."""
        if item is None or "n" not in item:
            response = yield Request(
                "get_item",
                "read_commit",
                {
                    "TableName": self.table,
                    "Key": {
                        "p": {"S": commit_pk(commit.aggregate_type, commit.aggregate_key)},
                        "s": {"S": pad(commit.version)},
                    },
                    "ConsistentRead": True,
                },
            )
            item = response.get("Item")
        if item is None:
            raise VersionConflict(commit.aggregate_id, commit.version)
        if "ar" in item:  # archived: its stub keeps the id and position, not the events
            if item.get("i", {}).get("S") == commit.commit_id:
                return replace(commit, position=int(item["n"]["N"]), log_partition=partition)
            raise VersionConflict(commit.aggregate_id, commit.version)
        stored = decode_commit_item(
            item, commit.aggregate_type, commit.aggregate_key, partition, table=self.table
        )
        if stored.commit_id == commit.commit_id:
            return stored
        raise VersionConflict(commit.aggregate_id, commit.version)

    # -- reads ----------------------------------------------------------------------------

    def read_head(self, partition: int) -> Steps[int]:
        """The newest position of a log partition (0 when empty)."""
        response = yield Request(
            "query",
            "read_head",
            {
                "TableName": self.table,
                "KeyConditionExpression": "p = :p",
                "ExpressionAttributeValues": {":p": {"S": log_pk(partition)}},
                "ScanIndexForward": False,
                "Limit": 1,
                "ConsistentRead": True,
                "ProjectionExpression": "s",
            },
        )
        items = response["Items"]
        return decode_position(items[0], table=self.table, pk=log_pk(partition)) if items else 0

    def commits(
        self,
        aggregate_type: str,
        aggregate_key: str,
        *,
        log_partitions: int,
        background: bool,
        from_version: int = 1,
        to_version: int | None = None,
        until: datetime | None = None,
        descending: bool = False,
        limit: int | None = None,
    ) -> Reads[Commit | ArchivedRef]:
        """:meth:`CommitStore.read_commits`, page by page; archived commits are their stubs."""
        low = max(from_version, 1)
        high = MAX_NUMBER if to_version is None else min(to_version, MAX_NUMBER)
        if low > high or (limit is not None and limit <= 0):
            return
        pk = commit_pk(aggregate_type, aggregate_key)
        if not keys_fit(pk, aggregate_key):
            return  # no commit can be stored under such a key
        partition = log_partition_for(aggregate_type, aggregate_key, log_partitions)
        values = {":p": {"S": pk}, ":l": {"S": pad(low)}, ":h": {"S": pad(high)}}
        request: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": _VERSIONS,
            "ExpressionAttributeValues": values,
            "ConsistentRead": True,
            "ScanIndexForward": not descending,
            "ProjectionExpression": _COMMIT_FIELDS,
        }
        if until is not None:
            request["FilterExpression"] = "t <= :u"
            values[":u"] = {"S": format_time(until)}
        elif limit is not None:
            request["Limit"] = limit
        left = limit
        while True:
            response = yield Request("query", "read_commits", request)
            commits = [
                decode_commit_or_stub(
                    item, aggregate_type, aggregate_key, partition, table=self.table
                )
                for item in response["Items"]
            ]
            if background and commits:  # a later append of this aggregate needs no check
                self.writer.saw(pk, max(commits[0].version, commits[-1].version))
            if left is not None and len(commits) >= left:
                yield commits[:left]
                return
            if left is not None:
                left -= len(commits)
            yield commits
            if not _next_page(request, response):
                return

    def log(
        self, *, after: int, log_partition: int, limit: int | None
    ) -> Reads[Commit | ArchivedRef]:
        """:meth:`CommitStore.read_log`, page by page, stopping at the first gap; archived
        commits are their stubs."""
        if after < 0:
            raise ValueError(f"after must be >= 0, got {after}")
        if after >= MAX_NUMBER or (limit is not None and limit <= 0):
            return
        request: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": _AFTER,
            "ExpressionAttributeValues": {
                ":p": {"S": log_pk(log_partition)},
                ":a": {"S": pad(after)},
            },
            "ConsistentRead": True,
            "ProjectionExpression": _LOG_FIELDS,
        }
        expected = after + 1
        last = after + limit if limit is not None else None
        while True:
            if last is not None:
                # A query's Limit counts items, and an item of the log holds one commit or a
                # page of up to 100: ask for about as many as the rest of ``limit`` needs, by
                # what this table's log items held so far, instead of up to 1 MB of pages.
                request["Limit"] = items_to_ask(last - expected + 1, self.per_log_item)
            response = yield Request("query", "read_log", request)
            commits: list[Commit | ArchivedRef] = []
            items = response["Items"]
            if items:
                self._learn_page_sizes(items)
            for item in items:
                try:
                    page = decode_log_page(item, log_partition, table=self.table, after=after)
                except CorruptItem as error:
                    if error.position is not None and error.position <= after:
                        error.position = expected
                    yield commits  # what precedes the damaged entry, then the error
                    raise
                for commit in page:
                    if commit.position is not None and commit.position < expected:
                        continue  # the part of the first page at or before ``after``
                    if commit.position != expected:
                        # A Query is not a snapshot: it can see position n + 1 committed while
                        # the transaction of n was still in flight. Stop before the gap; the
                        # next read after n - 1 returns both.
                        yield commits
                        return
                    commits.append(commit)
                    if expected == last:
                        yield commits
                        return
                    expected += 1
            yield commits
            if not _next_page(request, response):
                return

    def _learn_page_sizes(self, items: list[Item]) -> None:
        """Fold the commits per item of a log query's reply into :attr:`per_log_item`."""
        held = 0
        for item in items:
            entries = item.get("c")
            held += len(entries["L"]) if isinstance(entries, dict) and "L" in entries else 1
        self.per_log_item = 0.5 * self.per_log_item + 0.5 * held / len(items)

    def keys(self, aggregate_type: str) -> Reads[str]:
        """:meth:`CommitStore.aggregate_keys`, page by page."""
        if not keys_fit(keys_pk(aggregate_type), "-"):
            return
        request: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "p = :p",
            "ExpressionAttributeValues": {":p": {"S": keys_pk(aggregate_type)}},
            "ConsistentRead": True,
            "ProjectionExpression": "s",
        }
        while True:
            response = yield Request("query", "aggregate_keys", request)
            yield [item["s"]["S"] for item in response["Items"]]
            if not _next_page(request, response):
                return


def _next_page(request: dict[str, Any], response: dict[str, Any]) -> bool:
    """Point ``request`` at the page after ``response``; False after the last page."""
    last = response.get("LastEvaluatedKey")
    if last is None:
        return False
    request["ExclusiveStartKey"] = last
    return True
