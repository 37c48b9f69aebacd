"""Parked commits and checkpoint resets, as steps (:mod:`._steps`) that
:class:`~ddbes_dynamodb.DynamoDBCheckpointStore` and
:class:`~ddbes_dynamodb.AsyncDynamoDBCheckpointStore` drive.

A parked commit is one item per (projector name, aggregate): ``p = "parked#<name>"``, ``s`` a
hash of the aggregate id; reading them is one paginated ``Query``, and every other parking call
one conditional write.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from ddbes.model import PARKED_ERROR_CHARS, ParkedCommit
from ddbes.ports import check_operation
from ddbes_dynamodb._errors import ConditionFailed
from ddbes_dynamodb._items import Item, checkpoint_key, corrupt
from ddbes_dynamodb._steps import Request, Steps

__all__ = ["delete_parked", "hold", "parked", "put_parked", "reset"]


def reset(table: str, name: str, log_partition: int, position: int) -> Steps[None]:
    """Set the checkpoint to ``position``, backwards too; 0 deletes it."""
    check_operation(name, position)
    key = checkpoint_key(name, log_partition)
    if position:
        item = {**key, "n": {"N": str(position)}}
        yield Request("put_item", "reset_checkpoint", {"TableName": table, "Item": item})
    else:
        yield Request("delete_item", "reset_checkpoint", {"TableName": table, "Key": key})


def parked(table: str, name: str) -> Steps[list[ParkedCommit]]:
    """Every commit projector ``name`` parked, in log order."""
    found: list[ParkedCommit] = []
    start: dict[str, Any] | None = None
    while True:
        page: dict[str, Any] = {"ExclusiveStartKey": start} if start else {}
        response = yield Request(
            "query",
            "read_parked",
            {
                "TableName": table,
                "KeyConditionExpression": "p = :p",
                "ExpressionAttributeValues": {":p": {"S": _parked_pk(name)}},
                "ConsistentRead": True,
                **page,
            },
        )
        for item in response.get("Items", []):
            try:
                found.append(_decode_parked(item))
            except (KeyError, TypeError, ValueError) as exc:
                raise corrupt(table, item, exc) from exc
        start = response.get("LastEvaluatedKey")
        if not start:
            break
    return sorted(found, key=lambda p: (p.log_partition, p.position, p.aggregate_id))


def put_parked(table: str, name: str, parked: ParkedCommit, *, expected: int | None) -> Steps[bool]:
    """Park a commit (only if its aggregate has none parked), or replace the parked one (only
    while its ``held_through`` is ``expected``); ``False`` if the condition failed."""
    check_operation(name, parked.position, parked.version, parked.held_through, parked.held)
    item = {
        **_parked_key(name, parked.aggregate_type, parked.aggregate_key),
        "t": {"S": parked.aggregate_type},
        "k": {"S": parked.aggregate_key},
        "lp": {"N": str(parked.log_partition)},
        "n": {"N": str(parked.position)},
        "v": {"N": str(parked.version)},
        "c": {"S": parked.commit_id},
        "e": {"S": parked.error[:PARKED_ERROR_CHARS]},
        "at": {"S": parked.parked_at.isoformat()},
        "h": {"N": str(parked.held_through)},
        "hc": {"N": str(parked.held)},
    }
    condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(p)"}
    if expected is not None:
        condition = {
            "ConditionExpression": "h = :e",
            "ExpressionAttributeValues": {":e": {"N": str(expected)}},
        }
    try:
        yield Request("put_item", "park_commit", {"TableName": table, "Item": item, **condition})
    except ConditionFailed:
        return False
    return True


def hold(
    table: str, name: str, aggregate_type: str, aggregate_key: str, position: int
) -> Steps[bool]:
    """Hold back a later commit of a parked aggregate; ``False`` if it is not parked."""
    try:
        yield Request(
            "update_item",
            "hold_commit",
            {
                "TableName": table,
                "Key": _parked_key(name, aggregate_type, aggregate_key),
                "UpdateExpression": "SET h = :n ADD hc :one",
                "ConditionExpression": "attribute_exists(p) AND h < :n",
                "ExpressionAttributeValues": {":n": {"N": str(position)}, ":one": {"N": "1"}},
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            },
        )
    except ConditionFailed as failed:
        return bool(failed.item)  # held already (a commit handled again), or not parked
    return True


def delete_parked(
    table: str, name: str, aggregate_type: str, aggregate_key: str, *, expected: int
) -> Steps[bool]:
    """Unpark an aggregate if nothing was held back since ``held_through`` was ``expected``."""
    try:
        yield Request(
            "delete_item",
            "unpark_commit",
            {
                "TableName": table,
                "Key": _parked_key(name, aggregate_type, aggregate_key),
                "ConditionExpression": "h = :e",
                "ExpressionAttributeValues": {":e": {"N": str(expected)}},
            },
        )
    except ConditionFailed:
        return False
    return True


def _parked_pk(name: str) -> str:
    return f"parked#{name}"


def _parked_key(name: str, aggregate_type: str, aggregate_key: str) -> Item:
    digest = hashlib.sha256(f"{aggregate_type}\x1f{aggregate_key}".encode()).hexdigest()
    return {"p": {"S": _parked_pk(name)}, "s": {"S": digest}}


def _decode_parked(item: Item) -> ParkedCommit:
    return ParkedCommit(
        aggregate_type=item["t"]["S"],
        aggregate_key=item["k"]["S"],
        log_partition=int(item["lp"]["N"]),
        position=int(item["n"]["N"]),
        version=int(item["v"]["N"]),
        commit_id=item["c"]["S"],
        error=item["e"]["S"],
        parked_at=datetime.fromisoformat(item["at"]["S"]),
        held_through=int(item["h"]["N"]),
        held=int(item["hc"]["N"]),
    )
