"""The checkpoint requests and their outcomes, as steps (:mod:`._steps`) that
:class:`~ddbes_dynamodb.DynamoDBCheckpointStore` and
:class:`~ddbes_dynamodb.AsyncDynamoDBCheckpointStore` drive."""

from __future__ import annotations

from typing import Any

from ddbes.errors import CheckpointConflict
from ddbes.ports import check_advance, moved_message
from ddbes_dynamodb._errors import ConditionFailed
from ddbes_dynamodb._items import checkpoint_key, corrupt
from ddbes_dynamodb._steps import Request, Steps

__all__ = ["advance", "get", "save"]


def get(table: str, name: str, log_partition: int) -> Steps[int]:
    """The saved position; 0 when none is."""
    response = yield Request(
        "get_item",
        "read_checkpoint",
        {
            "TableName": table,
            "Key": checkpoint_key(name, log_partition),
            "ConsistentRead": True,
            "ProjectionExpression": "n",
        },
    )
    item = response.get("Item")
    if not item:
        return 0
    try:
        return int(item["n"]["N"])
    except (KeyError, TypeError, ValueError) as exc:
        raise corrupt(table, checkpoint_key(name, log_partition), exc) from exc


def _update(
    table: str, name: str, position: int, log_partition: int, *, condition: str, values: Any
) -> Request:
    return Request(
        "update_item",
        "save_checkpoint",
        {
            "TableName": table,
            "Key": checkpoint_key(name, log_partition),
            "UpdateExpression": "SET n = :n",
            "ConditionExpression": condition,
            "ExpressionAttributeValues": {":n": {"N": str(position)}, **values},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        },
    )


def _current(failed: ConditionFailed, table: str, name: str, log_partition: int) -> Steps[int]:
    item = failed.item
    if item and "n" in item:
        return int(item["n"]["N"])
    return (yield from get(table, name, log_partition))


def save(table: str, name: str, position: int, log_partition: int) -> Steps[None]:
    """Move the checkpoint forward (one conditional ``UpdateItem``)."""
    if not isinstance(position, int) or isinstance(position, bool):
        raise ValueError(f"a checkpoint position must be an int, got {position!r}")
    if position < 0:
        raise ValueError(f"a checkpoint position must be >= 0, got {position}")
    condition = "attribute_not_exists(n) OR n <= :n"
    try:
        yield _update(table, name, position, log_partition, condition=condition, values={})
    except ConditionFailed as failed:
        current = yield from _current(failed, table, name, log_partition)
        raise CheckpointConflict(
            f"checkpoint {name!r} of log partition {log_partition} in table {table!r} "
            f"is at {current}; it cannot move back to {position}",
            current=current,
        ) from None


def advance(
    table: str, name: str, position: int, log_partition: int, *, expected: int
) -> Steps[None]:
    """Move the checkpoint only from ``expected`` (one conditional ``UpdateItem``)."""
    check_advance(position, expected)
    condition = "n = :e" if expected else "attribute_not_exists(n) OR n = :e"
    try:
        values = {":e": {"N": str(expected)}}
        yield _update(table, name, position, log_partition, condition=condition, values=values)
    except ConditionFailed as failed:
        current = yield from _current(failed, table, name, log_partition)
        raise CheckpointConflict(
            f"{moved_message(name, log_partition, current, expected)} (table {table!r})",
            current=current,
        ) from None
