"""``AsyncS3SnapshotStore``: :class:`~ddbes_s3.S3SnapshotStore` for asyncio, on aiobotocore."""

from __future__ import annotations

from typing import Any

from ddbes.async_ports import AsyncSnapshotStore
from ddbes.composition import AsyncClient
from ddbes.model import Snapshot
from ddbes_s3 import _steps
from ddbes_s3._errors import translate_errors
from ddbes_s3._location import SnapshotObjects
from ddbes_s3.store import client_config

__all__ = ["AsyncS3SnapshotStore"]


class AsyncS3SnapshotStore(SnapshotObjects, AsyncSnapshotStore):
    """An :class:`~ddbes.async_ports.AsyncSnapshotStore` in an S3 bucket, on aiobotocore:
    the objects, keys, bodies and errors of :class:`~ddbes_s3.S3SnapshotStore` (the same code
    builds the requests and reads the answers), so sync and async processes share snapshots.

    The client is opened on first use in the running event loop and belongs to it;
    ``await store.close()`` closes a client this store built. Create the bucket with the sync
    store's ``create_bucket()``.

    Args:
        bucket: the bucket's name, as for :class:`~ddbes_s3.S3SnapshotStore`.
        prefix: the key prefix of every object this store writes.
        **options: ``endpoint_url``, ``region_name`` and ``timeouts`` as for
            :class:`~ddbes_s3.S3SnapshotStore`, and ``client``: an aiobotocore S3 client
            (already entered; never closed here).
    """

    fetch_in_parallel = True

    def __init__(self, bucket: str, prefix: str = "", **options: Any) -> None:
        super().__init__(bucket, prefix, **options)
        self._async_client = AsyncClient(self._client_context, self._client)

    def _client_context(self) -> Any:
        from aiobotocore.config import AioConfig  # noqa: PLC0415 (only when needed)
        from aiobotocore.session import get_session  # noqa: PLC0415

        return get_session().create_client(
            "s3",
            endpoint_url=self._endpoint_url,
            region_name=self._region_name,
            config=AioConfig(**client_config(self._timeouts)),
        )

    async def _open(self) -> Any:
        with translate_errors("create a client", self._bucket):
            return await self._async_client.open()

    async def close(self) -> None:
        """Close the client this store built (not one it was given); idempotent."""
        await self._async_client.close()

    async def get(self, aggregate_type: str, aggregate_key: str) -> Snapshot | None:
        steps = _steps.get(self._bucket, self._prefix, aggregate_type, aggregate_key)
        return await _steps.drive_async(steps, await self._open(), self._bucket)

    async def put(self, snapshot: Snapshot) -> None:
        steps = _steps.put(self._bucket, self._prefix, snapshot)
        await _steps.drive_async(steps, await self._open(), self._bucket)

    async def delete(self, aggregate_type: str, aggregate_key: str) -> None:
        steps = _steps.delete(self._bucket, self._prefix, aggregate_type, aggregate_key)
        await _steps.drive_async(steps, await self._open(), self._bucket)

    async def clear(self, aggregate_type: str | None = None) -> None:
        steps = _steps.clear(self._bucket, self._prefix, aggregate_type)
        await _steps.drive_async(steps, await self._open(), self._bucket)
