"""Projector checkpoints in DynamoDB for asyncio: :class:`AsyncDynamoDBCheckpointStore`."""

from __future__ import annotations

from typing import Any

from ddbes.async_ports import AsyncCheckpointStore
from ddbes.composition import Resources, Settings
from ddbes.model import ParkedCommit
from ddbes.retry import RetryPolicy
from ddbes.timeouts import Timeouts
from ddbes_dynamodb import _checkpoints, _parked
from ddbes_dynamodb._settings import async_table_handle
from ddbes_dynamodb._steps import run_async
from ddbes_dynamodb._table import AsyncTableHandle

__all__ = ["AsyncDynamoDBCheckpointStore"]


class AsyncDynamoDBCheckpointStore(AsyncCheckpointStore):
    """An :class:`~ddbes.async_ports.AsyncCheckpointStore` on aiobotocore: the items, requests
    and conditions of :class:`~ddbes_dynamodb.DynamoDBCheckpointStore` (the same code), so a
    sync and an async projector see one checkpoint. It has every operation of the port:
    checkpoints, resets and parked commits (for ``AsyncProjector(on_failure="park")``).

    Args:
        table_name: the table; this and the following as for
            :class:`~ddbes_dynamodb.DynamoDBCheckpointStore`.
        endpoint_url: the DynamoDB endpoint (DynamoDB Local, an emulator).
        region_name: the AWS region.
        retry_policy: how transient failures are retried.
        timeouts: connect and read timeouts, and an overall deadline per call.
        client: an aiobotocore DynamoDB client (already entered; never closed here).
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
        self._table = AsyncTableHandle(
            table_name,
            client=client,
            endpoint_url=endpoint_url,
            region_name=region_name,
            retry_policy=retry_policy,
            timeouts=timeouts,
        )

    @classmethod
    def _on(cls, handle: AsyncTableHandle) -> AsyncDynamoDBCheckpointStore:
        """A store on a table handle shared with the other stores of the app."""
        store = cls.__new__(cls)
        store._table = handle
        return store

    @classmethod
    def from_settings(
        cls, settings: Settings, *, resources: Resources | None = None
    ) -> AsyncDynamoDBCheckpointStore:
        """As :meth:`DynamoDBCheckpointStore.from_settings`, on the aiobotocore client the
        app's async stores share (``await resources.aclose()`` closes it)."""
        return cls._on(async_table_handle(settings, resources))

    @property
    def table_name(self) -> str:
        """The DynamoDB table holding the checkpoints."""
        return self._table.name

    def __repr__(self) -> str:
        return f"AsyncDynamoDBCheckpointStore({self._table.name!r})"

    async def close(self) -> None:
        """Close the client this store built (not one it was given, nor a shared one)."""
        await self._table.close()

    async def get(self, name: str, log_partition: int = 0) -> int:
        return await run_async(_checkpoints.get(self._table.name, name, log_partition), self._table)

    async def save(self, name: str, position: int, log_partition: int = 0) -> None:
        steps = _checkpoints.save(self._table.name, name, position, log_partition)
        await run_async(steps, self._table)

    async def advance(
        self, name: str, position: int, log_partition: int = 0, *, expected: int
    ) -> None:
        steps = _checkpoints.advance(
            self._table.name, name, position, log_partition, expected=expected
        )
        await run_async(steps, self._table)

    async def reset(self, name: str, log_partition: int = 0, *, position: int = 0) -> None:
        await run_async(_parked.reset(self._table.name, name, log_partition, position), self._table)

    async def parked(self, name: str) -> list[ParkedCommit]:
        return await run_async(_parked.parked(self._table.name, name), self._table)

    async def put_parked(
        self, name: str, parked: ParkedCommit, *, expected: int | None = None
    ) -> bool:
        steps = _parked.put_parked(self._table.name, name, parked, expected=expected)
        return await run_async(steps, self._table)

    async def hold(self, name: str, aggregate_type: str, aggregate_key: str, position: int) -> bool:
        steps = _parked.hold(self._table.name, name, aggregate_type, aggregate_key, position)
        return await run_async(steps, self._table)

    async def delete_parked(
        self, name: str, aggregate_type: str, aggregate_key: str, *, expected: int
    ) -> bool:
        steps = _parked.delete_parked(
            self._table.name, name, aggregate_type, aggregate_key, expected=expected
        )
        return await run_async(steps, self._table)
