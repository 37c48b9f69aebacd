"""Checking the target after a migration.

- **The whole log**, per partition: positions ``b + 1 ..`` dense, nothing after the last, and
  each entry the planned commit (version and commit id), in order. Only ``s``, ``v`` and ``i``
  are read, so this costs little beside the writes.
- **The progress markers**: each says every planned commit of its partition is written, with
  the plan's hash.
- **A sample of commit items, read whole**: about :data:`SAMPLE` commits spread over the plan,
  plus each partition's first and last, must hold the planned commit id, position and stored
  events byte for byte, and an aggregate's first commit its key in the registry. Each commit
  item was written in the same transaction as its log entry, so a complete log means complete
  commit items; the sample checks what was written.
"""

from __future__ import annotations

from typing import Any

from ddbes_dynamodb._items import commit_pk, keys_pk, log_pk, pad
from ddbes_dynamodb._table import TableHandle
from ddbes_dynamodb.js_migration._plan import Planned
from ddbes_dynamodb.js_migration._writer import PartitionProgress, read_marker

__all__ = ["SAMPLE", "verify"]

SAMPLE = 1000
_MAX_ERRORS = 20


def _check_log(
    table: TableHandle, planned: list[Planned], progress: PartitionProgress, errors: list[str]
) -> None:
    partition = progress.partition
    request: dict[str, Any] = {
        "TableName": table.name,
        "KeyConditionExpression": "p = :p AND s > :a",
        "ExpressionAttributeValues": {
            ":p": {"S": log_pk(partition)},
            ":a": {"S": pad(progress.base)},
        },
        "ConsistentRead": True,
        "ProjectionExpression": "s, v, i",
        "Limit": 2000,
    }
    count = 0
    while True:
        response = table.call(table.client.query, "verifying the log", **request)
        for item in response.get("Items", []):
            position = int(item["s"]["S"])
            index = position - progress.base - 1
            if index != count:
                errors.append(f"log partition {partition}: position {position - 1} is missing")
                return
            count += 1
            if index >= len(planned):
                errors.append(
                    f"log partition {partition}: position {position} is past the migrated commits"
                )
                return
            commit = planned[index].commit
            if (int(item["v"]["N"]), item["i"]["S"]) != (commit.version, commit.commit_id):
                errors.append(
                    f"log partition {partition}: position {position} holds version "
                    f"{item['v']['N']} commit id {item['i']['S']!r}, where "
                    f"{commit.aggregate_type}:{commit.aggregate_key!r} version {commit.version} "
                    f"({commit.commit_id!r}) was migrated"
                )
                if len(errors) >= _MAX_ERRORS:
                    return
        last = response.get("LastEvaluatedKey")
        if last is None:
            break
        request["ExclusiveStartKey"] = last
    if count != len(planned):
        errors.append(
            f"log partition {partition}: {count} log entries after position {progress.base}, "
            f"{len(planned)} commits migrated"
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
        if entry.registers and (keys_pk(commit.aggregate_type), commit.aggregate_key) not in found:
            errors.append(f"{name}: the aggregate's key is not in the key registry")


def verify(
    table: TableHandle,
    source: str,
    partitions: list[list[Planned]],
    progress: list[PartitionProgress],
) -> list[str]:
    """What is wrong with the target (empty: the migration is complete and exact)."""
    errors: list[str] = []
    for planned, partition in zip(partitions, progress, strict=True):
        _check_log(table, planned, partition, errors)
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
