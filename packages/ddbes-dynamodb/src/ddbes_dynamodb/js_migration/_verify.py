"""Checking the target after a migration.

- **The log**, per partition: exactly as many entries after the base ``b`` as commits were
  planned, the last at ``b + planned`` (a strongly consistent ``COUNT`` and the head): dense,
  complete, nothing after it. The migrated entries are log entries of their own, so on a table
  of log pages (format 3) too they count one each; there the head item holds ``b + planned``
  as well, which the next page a sequencer writes builds on.
- **The progress markers**: each records every planned commit of its partition, with the hash
  of the whole plan's identities. A marker moves only in the transaction that writes its
  chunk's commit items and log entries, at the planned positions, so this certifies what each
  position holds.
- **A sample read whole**: about :data:`SAMPLE` commits spread over the plan, plus each
  partition's first and last: the commit item holds the planned commit id, position and stored
  events byte for byte, the log entry at that position the planned type, key, version and id,
  and an aggregate's first commit its key in the registry.
"""

from __future__ import annotations

from typing import Any

from ddbes_dynamodb._items import commit_pk, keys_pk, log_pk, pad
from ddbes_dynamodb._table import TableHandle
from ddbes_dynamodb.js_migration._plan import Planned
from ddbes_dynamodb.js_migration._writer import (
    PartitionProgress,
    read_head_item,
    read_marker,
)

__all__ = ["SAMPLE", "verify"]

SAMPLE = 1000
_MAX_ERRORS = 20
_ENVELOPE = (("a", "S"), ("k", "S"), ("v", "N"))
_COUNT_PAGE = 5000


def _count(table: TableHandle, partition: int, after: int) -> int:
    request: dict[str, Any] = {
        "TableName": table.name,
        "KeyConditionExpression": "p = :p AND s > :a",
        "ExpressionAttributeValues": {":p": {"S": log_pk(partition)}, ":a": {"S": pad(after)}},
        "ConsistentRead": True,
        "Select": "COUNT",
        "Limit": _COUNT_PAGE,  # short requests: DynamoDB Local counts a whole page per call
    }
    total = 0
    while True:
        response = table.call(table.client.query, "verifying the log", **request)
        total += int(response.get("Count", 0))
        last = response.get("LastEvaluatedKey")
        if last is None:
            return total
        request["ExclusiveStartKey"] = last


def _head(table: TableHandle, partition: int) -> int:
    response = table.call(
        table.client.query,
        "verifying the log",
        TableName=table.name,
        KeyConditionExpression="p = :p",
        ExpressionAttributeValues={":p": {"S": log_pk(partition)}},
        ScanIndexForward=False,
        Limit=1,
        ConsistentRead=True,
        ProjectionExpression="s",
    )
    items = response["Items"]
    return int(items[0]["s"]["S"]) if items else 0


def _check_log(
    table: TableHandle,
    planned: list[Planned],
    progress: PartitionProgress,
    errors: list[str],
    *,
    pages: bool,
) -> None:
    """Dense and complete: as many entries after the base as planned, the last at the end (and
    on a table of log pages the head item there)."""
    partition, base = progress.partition, progress.base
    count, head = _count(table, partition, base), _head(table, partition)
    end = base + len(planned)
    if (count, head) != (len(planned), end):
        errors.append(
            f"log partition {partition}: {count} log entries after position {base}, the last "
            f"at {head}, where {len(planned)} commits were migrated to positions "
            f"{base + 1}..{end}"
        )
    elif pages and planned and (recorded := read_head_item(table, partition)) != end:
        errors.append(
            f"log partition {partition}: its head item holds position {recorded}, where the "
            f"log ends at {end}: the next page would not follow the migrated commits"
        )


def _batch_get(table: TableHandle, keys: list[dict[str, Any]]) -> dict[tuple[str, str], Any]:
    found: dict[tuple[str, str], Any] = {}
    for start in range(0, len(keys), 100):
        request: dict[str, Any] = {
            table.name: {"Keys": keys[start : start + 100], "ConsistentRead": True}
        }
        while request:
            response = table.call(
                table.client.batch_get_item, "verifying commits", RequestItems=request
            )
            for item in response.get("Responses", {}).get(table.name, []):
                found[(item["p"]["S"], item["s"]["S"])] = item
            request = response.get("UnprocessedKeys") or {}
    return found


def _sample(partitions: list[list[Planned]]) -> list[tuple[int, int]]:
    """(partition, index) of the commits to read whole."""
    everything = [(p, i) for p, planned in enumerate(partitions) for i in range(len(planned))]
    step = max(1, len(everything) // SAMPLE)
    chosen = set(everything[::step])
    for p, planned in enumerate(partitions):
        if planned:
            chosen.update({(p, 0), (p, len(planned) - 1)})
    return sorted(chosen)


def _check_sample(
    table: TableHandle,
    partitions: list[list[Planned]],
    progress: list[PartitionProgress],
    errors: list[str],
) -> None:
    chosen = _sample(partitions)
    keys: list[dict[str, Any]] = []
    for p, index in chosen:
        commit = partitions[p][index].commit
        pk = commit_pk(commit.aggregate_type, commit.aggregate_key)
        keys.append({"p": {"S": pk}, "s": {"S": pad(commit.version)}})
        keys.append({"p": {"S": log_pk(p)}, "s": {"S": pad(progress[p].base + index + 1)}})
        if partitions[p][index].registers:
            keys.append(
                {"p": {"S": keys_pk(commit.aggregate_type)}, "s": {"S": commit.aggregate_key}}
            )
    found = _batch_get(table, keys)
    for p, index in chosen:
        entry = partitions[p][index]
        commit = entry.commit
        name = f"{commit.aggregate_type}:{commit.aggregate_key!r} version {commit.version}"
        item = found.get(
            (commit_pk(commit.aggregate_type, commit.aggregate_key), pad(commit.version))
        )
        if item is None:
            errors.append(f"{name} is not stored")
            continue
        stored = item["x"]["B"] if "x" in item else item.get("e", {}).get("S", "").encode()
        position = progress[p].base + index + 1
        if (
            item.get("i", {}).get("S") != commit.commit_id
            or item.get("n", {}).get("N") != str(position)
            or stored != entry.payload
        ):
            errors.append(
                f"{name} is not stored as migrated (commit id, position {position}, events)"
            )
        log_entry = found.get((log_pk(p), pad(position)), {})
        envelope = (commit.aggregate_type, commit.aggregate_key, str(commit.version))
        if (
            tuple(log_entry.get(attribute, {}).get(kind) for attribute, kind in _ENVELOPE)
            != envelope
            or log_entry.get("i", {}).get("S") != commit.commit_id
        ):
            errors.append(f"position {position} of log partition {p} does not hold {name}")
        if entry.registers and (keys_pk(commit.aggregate_type), commit.aggregate_key) not in found:
            errors.append(f"{name}: the aggregate's key is not in the key registry")


def verify(
    table: TableHandle,
    source: str,
    partitions: list[list[Planned]],
    progress: list[PartitionProgress],
    *,
    pages: bool = False,
) -> list[str]:
    """What is wrong with the target (empty: the migration is complete and exact); ``pages``:
    the target's log is of pages (format 3)."""
    errors: list[str] = []
    for planned, partition in zip(partitions, progress, strict=True):
        _check_log(table, planned, partition, errors, pages=pages)
        marker = read_marker(table, source, partition.partition)
        if marker is None or (int(marker["n"]["N"]), marker["h"]["S"]) != (
            len(planned),
            partition.hash,
        ):
            errors.append(
                f"log partition {partition.partition}: the migration's progress marker does not "
                f"record the {len(planned)} commits migrated"
            )
    if not errors:
        _check_sample(table, partitions, progress, errors)
    return errors[:_MAX_ERRORS]
