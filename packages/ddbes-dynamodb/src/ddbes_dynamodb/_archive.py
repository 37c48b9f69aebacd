"""Archiving on DynamoDB, as steps (:mod:`._steps`) the sync and async stores share.

An archived commit keeps both its items as stubs: the commit item keeps ``p s i t n`` and the
log entry ``p s a k v i t``, each gains ``ar`` (the archive object's key) and loses ``e x m``.
So the version stays taken (``attribute_not_exists(p)`` still fails for a stale writer), the
position stays filled, and the stub says where the events are. Each stub is one conditional
``UpdateItem``: the item must still hold that commit id (and the commit item its position), so
a rewrite never creates an item and never touches another commit.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ddbes.archiving import AggregateTip, ArchiveRecord
from ddbes.codec import format_time
from ddbes.errors import StoreError, VersionConflict
from ddbes.model import Commit
from ddbes_dynamodb._errors import ConditionFailed
from ddbes_dynamodb._items import MAX_NUMBER, Item, commit_pk, corrupt, keys_fit, log_pk, pad
from ddbes_dynamodb._steps import Reads, Request, Steps

__all__ = ["archive_pk", "archive_records", "archive_tip", "record_archive", "stub_commit"]

_STUB = "SET ar = :ar REMOVE e, x, m"


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


def stub_commit(table: str, commit: Commit, location: str) -> Steps[bool]:
    """Turn ``commit``'s log entry, then its commit item, into stubs pointing to ``location``;
    whether the commit item changed (``False``: it was that stub already)."""
    if commit.position is None:
        raise ValueError(f"{commit.aggregate_id} v{commit.version} is not in the global log")
    values: dict[str, Any] = {
        ":ar": {"S": location},
        ":i": {"S": commit.commit_id},
        ":v": {"N": str(commit.version)},
    }
    log_key: Item = {"p": {"S": log_pk(commit.log_partition)}, "s": {"S": pad(commit.position)}}
    try:
        yield Request(
            "update_item",
            "archive_log_entry",
            {
                "TableName": table,
                "Key": log_key,
                "UpdateExpression": _STUB,
                "ConditionExpression": "i = :i AND v = :v",
                "ExpressionAttributeValues": values,
            },
        )
    except ConditionFailed as exc:
        raise StoreError(
            f"the log entry at position {commit.position} of partition {commit.log_partition} "
            f"in table {table!r} is not commit {commit.commit_id!r} of {commit.aggregate_id} "
            f"v{commit.version}: not archived"
        ) from exc
    commit_key: Item = {
        "p": {"S": commit_pk(commit.aggregate_type, commit.aggregate_key)},
        "s": {"S": pad(commit.version)},
    }
    try:
        yield Request(
            "update_item",
            "archive_commit",
            {
                "TableName": table,
                "Key": commit_key,
                "UpdateExpression": _STUB,
                "ConditionExpression": (
                    "i = :i AND attribute_exists(n) AND (attribute_not_exists(ar) OR ar <> :ar)"
                ),
                "ExpressionAttributeValues": {":ar": values[":ar"], ":i": values[":i"]},
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            },
        )
    except ConditionFailed as exc:
        item = exc.item or {}
        if item.get("i", {}).get("S") == commit.commit_id and item.get("ar", {}).get("S") == (
            location
        ):
            return False
        raise VersionConflict(
            commit.aggregate_id,
            commit.version,
            f"version {commit.version} of {commit.aggregate_id} is not commit "
            f"{commit.commit_id!r} in the log any more: not archived",
        ) from exc
    return True


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
