"""Projector checkpoints in DynamoDB, written only forward."""

from __future__ import annotations

from typing import Any

from ddbes.composition import Resources, Settings
from ddbes.ports import CheckpointStore
from ddbes.retry import RetryPolicy
from ddbes.timeouts import Timeouts
from ddbes_dynamodb import _checkpoints
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

    Args:
        table_name, client, endpoint_url, region_name, retry_policy, timeouts: as for
            :class:`~ddbes_dynamodb.DynamoDBCommitStore`.
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
