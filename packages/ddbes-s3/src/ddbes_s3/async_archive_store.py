"""``AsyncS3ArchiveStore``: :class:`~ddbes_s3.S3ArchiveStore` for asyncio, on aiobotocore."""

from __future__ import annotations

from typing import Any

from ddbes.archiving import AsyncArchiveStore
from ddbes.composition import AsyncClient
from ddbes_s3 import _steps
from ddbes_s3._errors import translate_errors
from ddbes_s3.archive_store import ArchiveObjects, archive_client_config

__all__ = ["AsyncS3ArchiveStore"]


class AsyncS3ArchiveStore(ArchiveObjects, AsyncArchiveStore):
    """An :class:`~ddbes.archiving.AsyncArchiveStore` in an S3 bucket, on aiobotocore: the
    objects, keys and errors of :class:`~ddbes_s3.S3ArchiveStore` (the same code builds the
    requests and reads the answers). Give it to ``AsyncDynamoDBCommitStore(archive=...)``,
    which then awaits archived commits instead of fetching them in a worker thread.

    The client is opened on first use in the running event loop and belongs to it;
    ``await store.close()`` closes a client this store built.

    Args:
        bucket: the bucket's name, as for :class:`~ddbes_s3.S3ArchiveStore`.
        prefix: the key prefix of every object this store writes.
        **options: ``endpoint_url``, ``region_name`` and ``timeouts`` as for
            :class:`~ddbes_s3.S3ArchiveStore`, and ``client``: an aiobotocore S3 client
            (already entered; never closed here).
    """

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
            config=AioConfig(**archive_client_config(self._timeouts)),
        )

    async def _open(self) -> Any:
        with translate_errors("create a client", self._bucket):
            return await self._async_client.open()

    async def close(self) -> None:
        """Close the client this store built (not one it was given); idempotent."""
        await self._async_client.close()

    async def put(self, key: str, body: bytes) -> None:
        steps = _steps.put_archive(self._bucket, self._prefix, key, body)
        await _steps.drive_async(steps, await self._open(), self._bucket)

    async def get(self, key: str) -> bytes | None:
        steps = _steps.get_archive(self._bucket, self._prefix, key)
        return await _steps.drive_async(steps, await self._open(), self._bucket)
