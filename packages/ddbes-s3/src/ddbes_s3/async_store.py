"""``AsyncS3SnapshotStore``: :class:`~ddbes_s3.S3SnapshotStore` for asyncio, on aiobotocore."""

from __future__ import annotations

import asyncio
from typing import Any

from ddbes.async_ports import AsyncSnapshotStore
from ddbes.composition import Resources, Settings
from ddbes.errors import ConfigurationError
from ddbes.model import Snapshot
from ddbes.timeouts import DEFAULT_TIMEOUTS, Timeouts
from ddbes_s3 import _steps
from ddbes_s3._errors import translate_errors
from ddbes_s3._keys import normalize_prefix, object_key
from ddbes_s3._settings import store_arguments
from ddbes_s3.store import client_config

__all__ = ["AsyncS3SnapshotStore"]


class AsyncS3SnapshotStore(AsyncSnapshotStore):
    """An :class:`~ddbes.async_ports.AsyncSnapshotStore` in an S3 bucket, on aiobotocore:
    the objects, keys, bodies and errors of :class:`~ddbes_s3.S3SnapshotStore` (the same code
    builds the requests and reads the answers), so sync and async processes share snapshots.

    The client is opened on first use in the running event loop and belongs to it;
    ``await store.close()`` closes a client this store built. Create the bucket with the sync
    store's ``create_bucket()``.

    Args:
        bucket, prefix, endpoint_url, region_name, timeouts: as for
            :class:`~ddbes_s3.S3SnapshotStore`.
        client: an aiobotocore S3 client (already entered; never closed here).
    """

    fetch_in_parallel = True

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        client: Any = None,
        endpoint_url: str | None = None,
        region_name: str | None = None,
        timeouts: Timeouts | None = None,
    ) -> None:
        if not bucket:
            raise ConfigurationError(f"AsyncS3SnapshotStore needs a bucket name, got {bucket!r}")
        if client is not None and (
            endpoint_url is not None or region_name is not None or timeouts is not None
        ):
            raise ValueError("pass either a client or endpoint_url/region_name/timeouts, not both")
        self._bucket = bucket
        self._prefix = normalize_prefix(prefix)
        self._client = client
        self._context: Any = None
        self._opening: asyncio.Lock | None = None
        self._endpoint_url = endpoint_url
        self._region_name = region_name
        self._timeouts = timeouts or DEFAULT_TIMEOUTS

    @classmethod
    def from_settings(
        cls, settings: Settings, *, resources: Resources | None = None
    ) -> AsyncS3SnapshotStore:
        """The store of ``snapshots_bucket`` and ``snapshots_prefix`` in ``settings``
        (:mod:`ddbes.composition`), at ``s3_endpoint_url`` (else ``endpoint_url``).

        Raises:
            ConfigurationError: no ``snapshots_bucket`` is set.
        """
        return cls(**store_arguments(settings))

    def __repr__(self) -> str:
        return f"AsyncS3SnapshotStore(bucket={self._bucket!r}, prefix={self._prefix!r})"

    @property
    def bucket(self) -> str:
        """The bucket's name."""
        return self._bucket

    @property
    def prefix(self) -> str:
        """The key prefix of every object this store writes (``""`` or ending with ``/``)."""
        return self._prefix

    def key_for(self, aggregate_type: str, aggregate_key: str) -> str:
        """The object key of an aggregate's snapshot."""
        return object_key(self._prefix, aggregate_type, aggregate_key)

    async def _open(self) -> Any:
        if self._client is not None:
            return self._client
        if self._opening is None:
            self._opening = asyncio.Lock()
        async with self._opening:
            if self._client is None:
                from aiobotocore.config import AioConfig  # noqa: PLC0415 (only when needed)
                from aiobotocore.session import get_session  # noqa: PLC0415

                with translate_errors("create a client", self._bucket):
                    context = get_session().create_client(
                        "s3",
                        endpoint_url=self._endpoint_url,
                        region_name=self._region_name,
                        config=AioConfig(**client_config(self._timeouts)),
                    )
                    self._client = await context.__aenter__()
                self._context = context
            return self._client

    async def close(self) -> None:
        """Close the client this store built (not one it was given); idempotent."""
        context, self._context = self._context, None
        if context is not None:
            self._client = None
            await context.__aexit__(None, None, None)

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
