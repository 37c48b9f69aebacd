"""Projector checkpoints in DynamoDB, written only forward."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from ddbes.composition import Resources, Settings
from ddbes.model import PARKED_ERROR_CHARS, ParkedCommit
from ddbes.ports import CheckpointStore, check_operation
from ddbes.retry import RetryPolicy
from ddbes.timeouts import Timeouts
from ddbes_dynamodb import _checkpoints
from ddbes_dynamodb._errors import ConditionFailed
from ddbes_dynamodb._items import Item, checkpoint_key, corrupt
from ddbes_dynamodb._settings import table_handle
from ddbes_dynamodb._steps import run
from ddbes_dynamodb._table import TableHandle

__all__ = ["DynamoDBCheckpointStore"]


class DynamoDBCheckpointStore(CheckpointStore):
    """A :class:`~ddbes.ports.CheckpointStore` in a ddbes DynamoDB table.

    Each (projector name, log partition) is one small item beside the commits (create the table
    with :meth:`DynamoDBCommitStore.create_table`; by default this uses the same one). A save is
    one conditional ``UpdateItem`` that succeeds only when the stored position is not beyond the
    new one, so two projector processes can never move a checkpoint backwards; :meth:`advance`
    is one that succeeds only from the expected position.

    A parked commit is one item per (projector name, aggregate): ``p = "parked#<name>"``, ``s``
    a hash of the aggregate id; :meth:`parked` is one paginated ``Query``, and every other
    parking call one conditional write.

    Args:
        table_name: the table (the commit store's); as for
            :class:`~ddbes_dynamodb.DynamoDBCommitStore`, as are the following.
        client: a boto3 DynamoDB client to use.
        endpoint_url: the DynamoDB endpoint (DynamoDB Local, an emulator).
        region_name: the AWS region.
        retry_policy: how transient failures are retried.
        timeouts: connect and read timeouts, and an overall deadline per call.
    """

    def __init__(
        self,
        table_name: str = "ddbes",
        *,
        client: Any = None,
        endpoint_url: str | None = None,
        region_name: str | None = None,
        retry_policy: RetryPolicy | None = None,
        timeouts: Timeouts | None = None,
    ) -> None:
        self._table = TableHandle(
            table_name,
            client=client,
            endpoint_url=endpoint_url,
            region_name=region_name,
            retry_policy=retry_policy,
            timeouts=timeouts,
        )

    @classmethod
    def from_settings(
        cls, settings: Settings, *, resources: Resources | None = None
    ) -> DynamoDBCheckpointStore:
        """As :meth:`DynamoDBCommitStore.from_settings`, on the same shared client."""
        handle = table_handle(settings, resources)
        return cls(handle.name, client=handle.client, timeouts=handle.timeouts)

    @property
    def table_name(self) -> str:
        """The DynamoDB table holding the checkpoints."""
        return self._table.name

    def __repr__(self) -> str:
        return f"DynamoDBCheckpointStore({self._table.name!r})"

    def get(self, name: str, log_partition: int = 0) -> int:
        return run(_checkpoints.get(self._table.name, name, log_partition), self._table)

    def save(self, name: str, position: int, log_partition: int = 0) -> None:
        run(_checkpoints.save(self._table.name, name, position, log_partition), self._table)

    def advance(self, name: str, position: int, log_partition: int = 0, *, expected: int) -> None:
        """One conditional ``UpdateItem``: it succeeds only while the stored position is
        ``expected`` (or, for 0, while none is stored)."""
        steps = _checkpoints.advance(
            self._table.name, name, position, log_partition, expected=expected
        )
        run(steps, self._table)

    def reset(self, name: str, log_partition: int = 0, *, position: int = 0) -> None:
        check_operation(name, position)
        table = self._table
        key = checkpoint_key(name, log_partition)
        if position:
            table.call(
                table.client.put_item,
                "reset_checkpoint",
                TableName=table.name,
                Item={**key, "n": {"N": str(position)}},
            )
        else:
            table.call(table.client.delete_item, "reset_checkpoint", TableName=table.name, Key=key)

    def parked(self, name: str) -> list[ParkedCommit]:
        table = self._table
        found: list[ParkedCommit] = []
        start: dict[str, Any] | None = None
        while True:
            page: dict[str, Any] = {"ExclusiveStartKey": start} if start else {}
            response = table.call(
                table.client.query,
                "read_parked",
                TableName=table.name,
                KeyConditionExpression="p = :p",
                ExpressionAttributeValues={":p": {"S": _parked_pk(name)}},
                ConsistentRead=True,
                **page,
            )
            for item in response.get("Items", []):
                try:
                    found.append(_decode_parked(item))
                except (KeyError, TypeError, ValueError) as exc:
                    raise corrupt(table.name, item, exc) from exc
            start = response.get("LastEvaluatedKey")
            if not start:
                break
        return sorted(found, key=lambda p: (p.log_partition, p.position, p.aggregate_id))

    def put_parked(self, name: str, parked: ParkedCommit, *, expected: int | None = None) -> bool:
        check_operation(name, parked.position, parked.version, parked.held_through, parked.held)
        table = self._table
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
            table.call(table.client.put_item, "park_commit", TableName=table.name, Item=item,
                       **condition)  # fmt: skip
        except ConditionFailed:
            return False
        return True

    def hold(self, name: str, aggregate_type: str, aggregate_key: str, position: int) -> bool:
        table = self._table
        try:
            table.call(
                table.client.update_item,
                "hold_commit",
                TableName=table.name,
                Key=_parked_key(name, aggregate_type, aggregate_key),
                UpdateExpression="SET h = :n ADD hc :one",
                ConditionExpression="attribute_exists(p) AND h < :n",
                ExpressionAttributeValues={":n": {"N": str(position)}, ":one": {"N": "1"}},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ConditionFailed as failed:
            return bool(failed.item)  # held already (a commit handled again), or not parked
        return True

    def delete_parked(
        self, name: str, aggregate_type: str, aggregate_key: str, *, expected: int
    ) -> bool:
        table = self._table
        try:
            table.call(
                table.client.delete_item,
                "unpark_commit",
                TableName=table.name,
                Key=_parked_key(name, aggregate_type, aggregate_key),
                ConditionExpression="h = :e",
                ExpressionAttributeValues={":e": {"N": str(expected)}},
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
