"""Projector checkpoints in DynamoDB, written only forward."""

from __future__ import annotations

from typing import Any

from ddbes.composition import Resources, Settings
from ddbes.model import ParkedCommit
from ddbes.ports import CheckpointStore
from ddbes.retry import RetryPolicy
from ddbes.timeouts import Timeouts
from ddbes_dynamodb import _checkpoints, _parked
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
        run(_parked.reset(self._table.name, name, log_partition, position), self._table)

    def parked(self, name: str) -> list[ParkedCommit]:
        return run(_parked.parked(self._table.name, name), self._table)

    def put_parked(self, name: str, parked: ParkedCommit, *, expected: int | None = None) -> bool:
        steps = _parked.put_parked(self._table.name, name, parked, expected=expected)
        return run(steps, self._table)

    def hold(self, name: str, aggregate_type: str, aggregate_key: str, position: int) -> bool:
        steps = _parked.hold(self._table.name, name, aggregate_type, aggregate_key, position)
        return run(steps, self._table)

    def delete_parked(
        self, name: str, aggregate_type: str, aggregate_key: str, *, expected: int
    ) -> bool:
        steps = _parked.delete_parked(
            self._table.name, name, aggregate_type, aggregate_key, expected=expected
        )
        return run(steps, self._table)
