"""Archiving on DynamoDB, as steps (:mod:`._steps`) the sync and async stores share.

An archived commit keeps both its items as stubs: the commit item keeps ``p s i t n`` and the
log entry ``p s a k v i t``, each gains ``ar`` (the archive object's key) and loses ``e x m``.
So the version stays taken (``attribute_not_exists(p)`` still fails for a stale writer), the
position stays filled, and the stub says where the events are. Each stub is one conditional
update, in ``TransactWriteItems`` of :data:`STUBS_PER_TRANSACTION` commits: the item must still
hold that commit id (and the commit item its position), so a rewrite never creates an item and
never touches another commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ddbes.archiving import AggregateTip, ArchiveRecord
from ddbes.codec import format_time
from ddbes.errors import StoreError, VersionConflict
from ddbes.model import Commit
from ddbes_dynamodb._errors import TransactionCancelled
from ddbes_dynamodb._items import MAX_NUMBER, Item, commit_pk, corrupt, keys_fit, log_pk, pad
from ddbes_dynamodb._steps import Reads, Request, Steps

__all__ = [
    "STUBS_PER_TRANSACTION",
    "archive_pk",
    "archive_records",
    "archive_tip",
    "record_archive",
    "stub_commits",
]

_STUB = "SET ar = :ar REMOVE e, x, m"
_FAILED = "ConditionalCheckFailed"
STUBS_PER_TRANSACTION = 50
"""Commits stubbed per ``TransactWriteItems``: two updates each, DynamoDB's limit is 100
actions (and 4 MB, far above 100 small updates with keys of at most 2 KB)."""


def archive_pk(aggregate_type: str) -> str:
    """The partition key of the archive records of an aggregate type."""
    return f"a#{aggregate_type}"


def archive_tip(table: str, aggregate_type: str, aggregate_key: str) -> Steps[AggregateTip | None]:
    """The newest commit item's version, time, position and stub marker (no events read)."""
    pk = commit_pk(aggregate_type, aggregate_key)
    if not keys_fit(pk, aggregate_key):
        return None
    response = yield Request(
        "query",
        "archive_tip",
        {
            "TableName": table,
            "KeyConditionExpression": "p = :p AND s BETWEEN :l AND :h",
            "ExpressionAttributeValues": {
                ":p": {"S": pk},
                ":l": {"S": pad(1)},
                ":h": {"S": pad(MAX_NUMBER)},
            },
            "ScanIndexForward": False,
            "Limit": 1,
            "ConsistentRead": True,
            "ProjectionExpression": "s, t, n, ar",
        },
    )
    items = response["Items"]
    if not items:
        return None
    item = items[0]
    try:
        return AggregateTip(
            version=int(item["s"]["S"]),
            committed_at=datetime.fromisoformat(item["t"]["S"]),
            # the sequencer logs an aggregate's versions in order: the newest logged, all are
            sequenced="n" in item,
            archived="ar" in item,
        )
    except (KeyError, ValueError) as exc:
        raise corrupt(table, item, exc, pk) from exc


def stub_commits(table: str, commits: Sequence[Commit], location: str) -> Steps[int]:
    """Turn the log entries and commit items of ``commits`` (version order) into stubs
    pointing to ``location``, :data:`STUBS_PER_TRANSACTION` commits per ``TransactWriteItems``
    (two actions each), in version order, so the newest commit item is in the last one: a run
    killed before it leaves the aggregate selected again. Returns how many commit items
    changed (a commit item already that stub is left out, and its transaction retried)."""
    for commit in commits:
        if commit.position is None:
            raise ValueError(f"{commit.aggregate_id} v{commit.version} is not in the global log")
    per = STUBS_PER_TRANSACTION
    rewritten = 0
    for start in range(0, len(commits), per):
        rewritten += yield from _stub_batch(table, list(commits[start : start + per]), location)
    return rewritten


def _stub_actions(table: str, commit: Commit, location: str) -> list[dict[str, Any]]:
    """The log entry's update, then the commit item's, each conditional on the commit id."""
    values: dict[str, Any] = {
        ":ar": {"S": location},
        ":i": {"S": commit.commit_id},
        ":v": {"N": str(commit.version)},
    }
    position = commit.position or 0  # stub_commits checked it is set
    log_key: Item = {"p": {"S": log_pk(commit.log_partition)}, "s": {"S": pad(position)}}
    commit_key: Item = {
        "p": {"S": commit_pk(commit.aggregate_type, commit.aggregate_key)},
        "s": {"S": pad(commit.version)},
    }
    return [
        {
            "Update": {
                "TableName": table,
                "Key": log_key,
                "UpdateExpression": _STUB,
                "ConditionExpression": "i = :i AND v = :v",
                "ExpressionAttributeValues": values,
            }
        },
        {
            "Update": {
                "TableName": table,
                "Key": commit_key,
                "UpdateExpression": _STUB,
                "ConditionExpression": (
                    "i = :i AND attribute_exists(n) AND (attribute_not_exists(ar) OR ar <> :ar)"
                ),
                "ExpressionAttributeValues": {":ar": values[":ar"], ":i": values[":i"]},
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        },
    ]


def _stub_batch(table: str, batch: list[Commit], location: str) -> Steps[int]:
    """One transaction of stubs; commits whose item is that stub already are dropped from it
    (an interrupted run's completed transactions), and it is sent again without them."""
    while batch:
        actions = [action for commit in batch for action in _stub_actions(table, commit, location)]
        try:
            yield Request("transact_write_items", "archive_commits", {"TransactItems": actions})
        except TransactionCancelled as cancelled:
            batch = _not_stubbed(table, batch, cancelled.reasons, location)
            continue
        return len(batch)
    return 0


def _not_stubbed(
    table: str, batch: list[Commit], reasons: list[dict[str, Any]], location: str
) -> list[Commit]:
    """The commits of a cancelled batch still to stub, or the conflict that cancelled it."""

    def reason(index: int) -> dict[str, Any]:
        return reasons[index] if index < len(reasons) else {}

    left = []
    for index, commit in enumerate(batch):
        if reason(2 * index).get("Code") == _FAILED:
            raise StoreError(
                f"the log entry at position {commit.position} of partition "
                f"{commit.log_partition} in table {table!r} is not commit {commit.commit_id!r} "
                f"of {commit.aggregate_id} v{commit.version}: not archived"
            )
        failed = reason(2 * index + 1)
        if failed.get("Code") != _FAILED:
            left.append(commit)
            continue
        item = failed.get("Item") or {}
        if item.get("i", {}).get("S") != commit.commit_id or item.get("ar", {}).get("S") != (
            location
        ):
            raise VersionConflict(
                commit.aggregate_id,
                commit.version,
                f"version {commit.version} of {commit.aggregate_id} is not commit "
                f"{commit.commit_id!r} in the log any more: not archived",
            )
    if len(left) == len(batch):
        raise StoreError(
            f"DynamoDB cancelled the archive stubs of {batch[0].aggregate_id} in table "
            f"{table!r} for an unexpected reason: {[r.get('Code') for r in reasons]}"
        )
    return left


def record_archive(table: str, record: ArchiveRecord) -> Steps[None]:
    """Keep ``record`` (one item per archived aggregate, replaced by each archive of it)."""
    yield Request(
        "put_item",
        "record_archive",
        {
            "TableName": table,
            "Item": {
                "p": {"S": archive_pk(record.aggregate_type)},
                "s": {"S": record.aggregate_key},
                "v": {"N": str(record.version)},
                "ar": {"S": record.location},
                "z": {"N": str(record.archive_bytes)},
                "h": {"N": str(record.hot_bytes)},
                "w": {"S": format_time(record.archived_at)},
            },
        },
    )


def archive_records(table: str, aggregate_type: str) -> Reads[ArchiveRecord]:
    """The archive records of ``aggregate_type``, by key, page by page."""
    pk = archive_pk(aggregate_type)
    if not keys_fit(pk, "-"):
        return
    request: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "p = :p",
        "ExpressionAttributeValues": {":p": {"S": pk}},
        "ConsistentRead": True,
    }
    while True:
        response = yield Request("query", "archive_records", request)
        page = []
        for item in response["Items"]:
            try:
                page.append(
                    ArchiveRecord(
                        aggregate_type=aggregate_type,
                        aggregate_key=item["s"]["S"],
                        version=int(item["v"]["N"]),
                        location=item["ar"]["S"],
                        archive_bytes=int(item["z"]["N"]),
                        hot_bytes=int(item["h"]["N"]),
                        archived_at=datetime.fromisoformat(item["w"]["S"]),
                    )
                )
            except (KeyError, ValueError) as exc:
                raise corrupt(table, item, exc, pk) from exc
        yield page
        last = response.get("LastEvaluatedKey")
        if last is None:
            return
        request["ExclusiveStartKey"] = last
