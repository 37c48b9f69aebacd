"""Checking the target after a migration: the log holds exactly the plan, in order and dense,
and every planned commit item and key is stored."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ddbes_dynamodb._items import commit_pk, keys_pk, log_pk, pad
from ddbes_dynamodb._table import TableHandle
from ddbes_dynamodb.js_migration._plan import Planned
from ddbes_dynamodb.js_migration._writer import PartitionProgress

__all__ = ["verify"]

_MAX_ERRORS = 20
_SEGMENTS = 4


def _pages(table: TableHandle, operation: Any, name: str, request: dict[str, Any]) -> Any:
    while True:
        response = table.call(operation, name, **request)
        yield from response.get("Items", [])
        last = response.get("LastEvaluatedKey")
        if last is None:
            return
        request["ExclusiveStartKey"] = last


def _check_log(
    table: TableHandle, planned: list[Planned], progress: PartitionProgress, errors: list[str]
) -> None:
    partition = progress.partition
    request = {
        "TableName": table.name,
        "KeyConditionExpression": "p = :p AND s > :a",
        "ExpressionAttributeValues": {
            ":p": {"S": log_pk(partition)},
            ":a": {"S": pad(progress.base)},
        },
        "ConsistentRead": True,
        "ProjectionExpression": "s, a, k, v, i",
    }
    count = 0
    for item in _pages(table, table.client.query, "verifying the log", request):
        position = int(item["s"]["S"])
        index = position - progress.base - 1
        count += 1
        if index != count - 1:
            errors.append(f"log partition {partition}: position {position - 1} is missing")
            return
        if index >= len(planned):
            errors.append(
                f"log partition {partition}: position {position} is past the migrated commits"
            )
            return
        commit = planned[index].commit
        seen = (item["a"]["S"], item["k"]["S"], int(item["v"]["N"]), item["i"]["S"])
        wanted = (commit.aggregate_type, commit.aggregate_key, commit.version, commit.commit_id)
        if seen != wanted:
            errors.append(
                f"log partition {partition}: position {position} holds {seen[0]}:{seen[1]!r} "
                f"version {seen[2]}, where {wanted[0]}:{wanted[1]!r} version {wanted[2]} "
                "was migrated"
            )
            if len(errors) >= _MAX_ERRORS:
                return
    if count != len(planned):
        errors.append(
            f"log partition {partition}: {count} log entries after position {progress.base}, "
            f"{len(planned)} commits migrated"
        )


def _stored(table: TableHandle) -> tuple[dict[tuple[str, str], tuple[str, int]], set[str]]:
    """Every commit item's (pk, version) -> (commit id, position), and every registry key."""

    def segment(number: int) -> list[dict[str, Any]]:
        request = {
            "TableName": table.name,
            "ConsistentRead": True,
            "ProjectionExpression": "p, s, i, n",
            "FilterExpression": "begins_with(p, :c) OR begins_with(p, :k)",
            "ExpressionAttributeValues": {":c": {"S": "c#"}, ":k": {"S": "k#"}},
            "Segment": number,
            "TotalSegments": _SEGMENTS,
        }
        return list(_pages(table, table.client.scan, "verifying the commits", request))

    commits: dict[tuple[str, str], tuple[str, int]] = {}
    keys: set[str] = set()
    with ThreadPoolExecutor(_SEGMENTS, thread_name_prefix="ddbes-migrate-verify") as pool:
        for items in pool.map(segment, range(_SEGMENTS)):
            for item in items:
                pk, sk = item["p"]["S"], item["s"]["S"]
                if pk.startswith("k#"):
                    keys.add(f"{pk}\x00{sk}")
                elif "n" in item and "i" in item and sk.isdigit():
                    commits[(pk, sk)] = (item["i"]["S"], int(item["n"]["N"]))
    return commits, keys


def verify(
    table: TableHandle, partitions: list[list[Planned]], progress: list[PartitionProgress]
) -> list[str]:
    """What is wrong with the target (empty: the migration is complete and exact)."""
    errors: list[str] = []
    for planned, partition in zip(partitions, progress, strict=True):
        _check_log(table, planned, partition, errors)
    commits, keys = _stored(table)
    for planned, partition in zip(partitions, progress, strict=True):
        for index, entry in enumerate(planned):
            if len(errors) >= _MAX_ERRORS:
                return errors
            commit = entry.commit
            pk = commit_pk(commit.aggregate_type, commit.aggregate_key)
            wanted = (commit.commit_id, partition.base + index + 1)
            if commits.get((pk, pad(commit.version))) != wanted:
                errors.append(
                    f"{commit.aggregate_type}:{commit.aggregate_key!r} version {commit.version}: "
                    f"stored as {commits.get((pk, pad(commit.version)))}, expected {wanted}"
                )
            if (
                entry.registers
                and f"{keys_pk(commit.aggregate_type)}\x00{commit.aggregate_key}" not in keys
            ):
                errors.append(
                    f"{commit.aggregate_type}:{commit.aggregate_key!r} is not in the key registry"
                )
    return errors
