"""The commit log on DynamoDB for asyncio: :class:`AsyncDynamoDBCommitStore`, on aiobotocore."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any

from ddbes._validation import check_log_partition
from ddbes.archiving import ArchivedRef, ArchiveReader, ArchiveStore, AsyncArchiveStore
from ddbes.async_ports import AsyncCommitStore
from ddbes.composition import Resources, Settings
from ddbes.model import Commit
from ddbes.retry import RetryPolicy
from ddbes.timeouts import Timeouts
from ddbes_dynamodb import admin
from ddbes_dynamodb._commit_log import CommitLog
from ddbes_dynamodb._log_writer import AsyncLogWriter
from ddbes_dynamodb._sequencing import SequencingService
from ddbes_dynamodb._settings import async_table_handle, table_handle
from ddbes_dynamodb._steps import iterate_async, run, run_async
from ddbes_dynamodb._table import DEFAULT_MAX_IN_FLIGHT, AsyncTableHandle, TableHandle
from ddbes_dynamodb.lease_store import DynamoDBLeaseStore

__all__ = ["AsyncDynamoDBCommitStore"]


class AsyncDynamoDBCommitStore(AsyncCommitStore):
    """An :class:`~ddbes.async_ports.AsyncCommitStore` in a ddbes DynamoDB table, on
    aiobotocore: every request is awaited in the event loop, none runs in a thread.

    It reads and writes exactly the items of :class:`~ddbes_dynamodb.DynamoDBCommitStore`
    (the same code builds and decodes them), so sync and async processes share a table. The
    table is created and administered with the sync store (or ``ddbes table create``).

    **Sequencing.** On a table sequenced in the background (the default), an append stores the
    commit item and returns with ``position=None``, like the sync store; the log positions are
    given by the same background sequencer, which runs in a daemon thread of this process with
    its own boto3 client, off the request path (one thread per store, as for the sync store).
    ``await store.flush_log()`` waits for it without blocking the loop. On an ``"inline"``
    table the tasks of one loop that append to the same log partition at the same time share
    a transaction, as the threads of a sync store do.

    The aiobotocore client is opened on first use in the running event loop and belongs to it:
    use a store from one loop, and ``await store.close()`` (or ``async with store:``) before
    the loop ends. :attr:`log_partitions` is known after the first request; ``await
    store.open()`` reads it up front.

    Args:
        table_name: the table; this and the following as for
            :class:`~ddbes_dynamodb.DynamoDBCommitStore`.
        endpoint_url: the DynamoDB endpoint (DynamoDB Local, an emulator).
        region_name: the AWS region.
        retry_policy: how transient failures are retried.
        timeouts: connect and read timeouts, and an overall deadline per call.
        client: an aiobotocore DynamoDB client to use (already entered; this store never
            closes it); by default one is built, with ddbes's retry handling.
        sync_client: the boto3 client of the background sequencer (by default one is built).
        max_in_flight: requests this store keeps in flight at most (default 32); more wait
            their turn in the loop. Each request is written, signed and its reply parsed on
            the loop's thread, and one event-loop iteration handles every response that has
            arrived: the bound keeps iterations short, so the loop stays responsive under
            hundreds of concurrent commands (``bench/async_scale.py``). ``None``: no bound.
        archive: where archived commits are read from, as for
            :class:`~ddbes_dynamodb.DynamoDBCommitStore`: an
            :class:`~ddbes.archiving.AsyncArchiveStore` (``AsyncS3ArchiveStore``) is awaited;
            a sync one (``S3ArchiveStore``) is read in a worker thread.
    """

    db_system = "dynamodb"
    """The ``db.system`` of this store's telemetry spans."""

    def __init__(
        self,
        table_name: str = "ddbes",
        *,
        client: Any = None,
        sync_client: Any = None,
        endpoint_url: str | None = None,
        region_name: str | None = None,
        retry_policy: RetryPolicy | None = None,
        timeouts: Timeouts | None = None,
        max_in_flight: int | None = DEFAULT_MAX_IN_FLIGHT,
        archive: ArchiveStore | AsyncArchiveStore | None = None,
    ) -> None:
        handle = AsyncTableHandle(
            table_name,
            client=client,
            endpoint_url=endpoint_url,
            region_name=region_name,
            retry_policy=retry_policy,
            timeouts=timeouts,
            max_in_flight=max_in_flight,
        )
        sync = TableHandle(
            table_name,
            client=sync_client,
            endpoint_url=endpoint_url,
            region_name=region_name,
            retry_policy=retry_policy,
            timeouts=timeouts,
        )
        self._setup(handle, sync, retry_policy, archive)

    @classmethod
    def _on(
        cls,
        handle: AsyncTableHandle,
        sync: TableHandle,
        retry_policy: RetryPolicy | None = None,
        archive: ArchiveStore | AsyncArchiveStore | None = None,
    ) -> AsyncDynamoDBCommitStore:
        """A store on table handles shared with other stores of the app."""
        store = cls.__new__(cls)
        store._setup(handle, sync, retry_policy, archive)
        return store

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        resources: Resources | None = None,
        archive: ArchiveStore | AsyncArchiveStore | None = None,
    ) -> AsyncDynamoDBCommitStore:
        """As :meth:`DynamoDBCommitStore.from_settings`: on the aiobotocore client the app's
        async stores share, its sequencer on the boto3 client the sync ones share."""
        return cls._on(
            async_table_handle(settings, resources),
            table_handle(settings, resources),
            archive=archive,
        )

    def _setup(
        self,
        handle: AsyncTableHandle,
        sync: TableHandle,
        retry_policy: RetryPolicy | None,
        archive: ArchiveStore | AsyncArchiveStore | None = None,
    ) -> None:
        self._archived = ArchiveReader(
            archive, store=f"DynamoDB table {handle.name!r}", asynchronous=True
        )
        self._handle = handle
        self._sync = sync
        self._name = handle.name
        self._layout_known: admin.TableLayout | None = None
        self._writers: dict[int, AsyncLogWriter] = {}
        self._service = SequencingService(
            table=handle.name,
            call=sync.call,
            client=sync.client,
            leases=DynamoDBLeaseStore(
                handle.name, client=sync.client, retry_policy=retry_policy, timeouts=sync.timeouts
            ),
            read_head=self._read_head_sync,
            on_sequenced=self._logged,
            log_pages=self._log_pages_sync,
        )
        self._log = CommitLog(handle.name, stored=self._service.appended)

    @property
    def table_name(self) -> str:
        """The DynamoDB table this store uses."""
        return self._name

    def __repr__(self) -> str:
        return f"AsyncDynamoDBCommitStore({self._name!r})"

    async def __aenter__(self) -> AsyncDynamoDBCommitStore:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def open(self) -> None:
        """Open the client and read the table's layout (else done by the first request).

        Raises:
            ConfigurationError: the table is missing or holds no ddbes metadata.
        """
        await self._layout()

    async def close(self) -> None:
        """Stop the background sequencer after it sequenced what this store appended (for up
        to 5 s, in a thread), then close the client this store built. Idempotent."""
        await asyncio.to_thread(self._service.close, 5.0)
        await self._handle.close()

    # -- the layout -----------------------------------------------------------------------

    async def _layout(self) -> admin.TableLayout:
        layout = self._layout_known
        if layout is None:
            stored = await run_async(admin.layout_steps(self._name), self._handle)
            if stored is None:
                raise admin.no_metadata(self._name)
            layout = self._layout_known = stored
        return layout

    @property
    def log_partitions(self) -> int:
        """Read from the table on first use. Before any request this reads it once with the
        sequencer's boto3 client (blocking, one ``GetItem``): ``await store.open()`` first
        avoids that."""
        layout = self._layout_known
        if layout is None:
            layout = self._layout_known = admin.open_layout(self._sync, None)
        return layout.log_partitions

    @property
    def sequencing(self) -> str | None:
        """``"background"`` or ``"inline"`` once known (after the first request)."""
        layout = self._layout_known
        return None if layout is None else layout.sequencing

    # -- the AsyncCommitStore port --------------------------------------------------------

    async def append(self, commit: Commit) -> Commit:
        layout = await self._layout()
        prepared = self._log.prepare(commit, layout.log_partitions)
        if layout.sequencing == "background":
            return await run_async(self._log.append_unsequenced(prepared), self._handle)
        writer = self._writer(prepared.partition)
        return self._appended(await writer.append(self._log.inline(prepared)))

    async def append_all(self, commits: Sequence[Commit]) -> list[Commit]:
        layout = await self._layout()
        unit = self._log.prepare_unit(commits, layout.log_partitions)
        if layout.sequencing == "background":
            return await run_async(self._log.append_unit_unsequenced(unit), self._handle)
        stored = await run_async(self._log.append_unit_inline(unit), self._handle)
        for partition in {one.partition for one in unit}:  # past the writers' cached heads
            writer = self._writers.get(partition)
            if writer is not None:
                writer.head = None
        return [self._appended(commit) for commit in stored]

    def _writer(self, partition: int) -> AsyncLogWriter:
        writer = self._writers.get(partition)
        if writer is None:
            writer = self._writers[partition] = AsyncLogWriter(
                partition=partition,
                table=self._name,
                handle=self._handle,
                read_head=self._log.read_head,
                resolve_taken=self._log.stored_or_conflict,
            )
        return writer

    def _logged(self, commits: Callable[[], list[Commit]]) -> None:
        """A batch entered the log: tell the append listeners (decoding it only for them)."""
        if self._append_listeners:
            for commit in commits():
                self._appended(commit)

    def _log_pages_sync(self) -> bool:
        layout = self._layout_known
        if layout is None:
            layout = self._layout_known = admin.open_layout(self._sync, None)
        return layout.log_pages

    def _read_head_sync(self, partition: int) -> int:
        return run(self._log.read_head(partition), self._sync)

    async def flush_log(self, timeout: float | None = None) -> None:
        """Wait until the background sequencer logged every commit this store appended (in a
        thread: the loop keeps running); returns at once on an ``"inline"`` table."""
        layout = await self._layout()
        if layout.sequencing == "background":
            await asyncio.to_thread(self._service.flush, timeout)

    async def read_commits(
        self,
        aggregate_type: str,
        aggregate_key: str,
        *,
        from_version: int = 1,
        to_version: int | None = None,
        until: datetime | None = None,
        descending: bool = False,
        limit: int | None = None,
    ) -> AsyncIterator[Commit]:
        layout = await self._layout()
        reads = self._log.commits(
            aggregate_type,
            aggregate_key,
            log_partitions=layout.log_partitions,
            background=layout.sequencing == "background",
            from_version=from_version,
            to_version=to_version,
            until=until,
            descending=descending,
            limit=limit,
        )
        async for commit in iterate_async(reads, self._handle):
            yield commit if isinstance(commit, Commit) else await self._unarchived(commit)

    async def _reading(self, log_partition: int) -> None:
        layout = await self._layout()
        check_log_partition(log_partition, layout.log_partitions)
        if layout.sequencing == "background":
            self._service.reading(log_partition)

    async def read_log(
        self, *, after: int = 0, log_partition: int = 0, limit: int | None = None
    ) -> AsyncIterator[Commit]:
        await self._reading(log_partition)
        reads = self._log.log(after=after, log_partition=log_partition, limit=limit)
        async for commit in iterate_async(reads, self._handle):
            yield commit if isinstance(commit, Commit) else await self._unarchived(commit)

    async def _unarchived(self, ref: ArchivedRef) -> Commit:
        """An archived commit: awaited from an async archive store, fetched in a worker thread
        from a sync one."""
        return await self._archived.commit_async(ref)

    async def head_position(self, log_partition: int = 0) -> int:
        await self._reading(log_partition)
        return await run_async(self._log.read_head(log_partition), self._handle)

    async def aggregate_keys(self, aggregate_type: str) -> AsyncIterator[str]:
        async for key in iterate_async(self._log.keys(aggregate_type), self._handle):
            yield key
