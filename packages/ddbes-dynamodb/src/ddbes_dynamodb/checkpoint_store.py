"""Projector checkpoints in DynamoDB, written only forward."""

from __future__ import annotations

from typing import Any

from ddbes.errors import CheckpointConflict
from ddbes.ports import CheckpointStore, check_advance, moved_message
from ddbes.retry import RetryPolicy
from ddbes.timeouts import Timeouts
from ddbes_dynamodb._errors import ConditionFailed
from ddbes_dynamodb._items import checkpoint_key, corrupt
from ddbes_dynamodb._table import TableHandle

__all__ = ["DynamoDBCheckpointStore"]


class DynamoDBCheckpointStore(CheckpointStore):
    """A :class:`~ddbes.ports.CheckpointStore` in a ddbes DynamoDB table.

    Each (projector name, log partition) is one small item beside the commits (create the table
    with :meth:`DynamoDBCommitStore.create_table`; by default this uses the same one). A save is
    one conditional ``UpdateItem`` that succeeds only when the stored position is not beyond the
    new one, so two projector processes can never move a checkpoint backwards; :meth:`advance`
    is one that succeeds only from the expected position.

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

    @property
    def table_name(self) -> str:
        """The DynamoDB table holding the checkpoints."""
        return self._table.name

    def __repr__(self) -> str:
        return f"DynamoDBCheckpointStore({self._table.name!r})"

    def get(self, name: str, log_partition: int = 0) -> int:
        table = self._table
        response = table.call(
            table.client.get_item,
            "read_checkpoint",
            TableName=table.name,
            Key=checkpoint_key(name, log_partition),
            ConsistentRead=True,
            ProjectionExpression="n",
        )
        item = response.get("Item")
        if not item:
            return 0
        try:
            return int(item["n"]["N"])
        except (KeyError, TypeError, ValueError) as exc:
            key = checkpoint_key(name, log_partition)
            raise corrupt(table.name, key, exc) from exc

    def save(self, name: str, position: int, log_partition: int = 0) -> None:
        if not isinstance(position, int) or isinstance(position, bool):
            raise ValueError(f"a checkpoint position must be an int, got {position!r}")
        if position < 0:
            raise ValueError(f"a checkpoint position must be >= 0, got {position}")
        table = self._table
        try:
            table.call(
                table.client.update_item,
                "save_checkpoint",
                TableName=table.name,
                Key=checkpoint_key(name, log_partition),
                UpdateExpression="SET n = :n",
                ConditionExpression="attribute_not_exists(n) OR n <= :n",
                ExpressionAttributeValues={":n": {"N": str(position)}},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ConditionFailed as failed:
            item = failed.item
            current = int(item["n"]["N"]) if item and "n" in item else self.get(name, log_partition)
            raise CheckpointConflict(
                f"checkpoint {name!r} of log partition {log_partition} in table {table.name!r} "
                f"is at {current}; it cannot move back to {position}",
                current=current,
            ) from None

    def advance(self, name: str, position: int, log_partition: int = 0, *, expected: int) -> None:
        """One conditional ``UpdateItem``: it succeeds only while the stored position is
        ``expected`` (or, for 0, while none is stored)."""
        check_advance(position, expected)
        condition = "n = :e" if expected else "attribute_not_exists(n) OR n = :e"
        table = self._table
        try:
            table.call(
                table.client.update_item,
                "save_checkpoint",
                TableName=table.name,
                Key=checkpoint_key(name, log_partition),
                UpdateExpression="SET n = :n",
                ConditionExpression=condition,
                ExpressionAttributeValues={
                    ":n": {"N": str(position)},
                    ":e": {"N": str(expected)},
                },
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ConditionFailed as failed:
            item = failed.item
            current = int(item["n"]["N"]) if item and "n" in item else self.get(name, log_partition)
            raise CheckpointConflict(
                f"{moved_message(name, log_partition, current, expected)} (table {table.name!r})",
                current=current,
            ) from None
