"""The commit log on DynamoDB: conditional appends, a gap-free log per partition."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from ddbes._validation import check_log_partition
from ddbes.archiving import (
    AggregateTip,
    ArchivableCommitStore,
    ArchiveReader,
    ArchiveRecord,
    ArchiveStore,
)
from ddbes.composition import Resources, Settings
from ddbes.model import Commit
from ddbes.retry import RetryPolicy
from ddbes.timeouts import Timeouts
from ddbes_dynamodb import _archive, admin, autoscaling
from ddbes_dynamodb._commit_log import CommitLog, PreparedAppend
from ddbes_dynamodb._log_writer import LogWriter
from ddbes_dynamodb._sequencing import SequencingService
from ddbes_dynamodb._settings import table_handle
from ddbes_dynamodb._steps import iterate, run
from ddbes_dynamodb._table import TableHandle
from ddbes_dynamodb.lease_store import DynamoDBLeaseStore

__all__ = ["DynamoDBCommitStore"]


class DynamoDBCommitStore(ArchivableCommitStore):
    """A :class:`~ddbes.ports.CommitStore` in one DynamoDB table, plus its administration.

    How a commit gets its global log position is fixed when the table is created
    (:meth:`create_table`'s ``sequencing``):

    - ``"background"`` (the default): a commit is one conditional ``PutItem`` of its commit
      item (version 1, and the first commit of an aggregate this store has not read, add a
      check in a transaction). A sequencer gives positions shortly after, in batches, under a
      lease, so many writer processes never race for positions: ``append`` returns the commit
      with ``position=None``, and :meth:`flush_log` waits for the log.
    - ``"inline"``: a commit is part of one ``TransactWriteItems`` with its log entry at the
      next position of its partition: positions are known when ``append`` returns, and writer
      processes of one partition race for them. Threads of one store share a transaction.

    ``docs/data-model.md`` has the items, the reasoning and the figures.

    Args:
        table_name: the table (create it with :meth:`create_table`).
        client: a low-level boto3 DynamoDB client to use; by default one is built with
            ``endpoint_url`` and ``region_name``, ddbes's retry handling and a connection pool.
        endpoint_url: where DynamoDB is (DynamoDB Local, moto), when ``client`` is not given.
        region_name: the AWS region, when ``client`` is not given.
        retry_policy: how throttling and connection failures are retried before
            :class:`~ddbes.errors.StoreUnavailable`.
        timeouts: the connect and read timeouts of the client built here, and the deadline of
            every operation, retries included (default :class:`~ddbes.timeouts.Timeouts`:
            3 s, 10 s, 20 s). The background sequencer keeps the same deadlines.
        autoscaling_client: an ``application-autoscaling`` client for the autoscaling methods
            (by default one is built pointing where the DynamoDB client points).
        archive: where archived commits are read from (an :class:`~ddbes_s3.S3ArchiveStore`):
            needed once ``ddbes archive run`` archived aggregates of the table
            (``docs/archiving.md``); without it a read of an archived commit raises
            :class:`~ddbes.errors.ConfigurationError`.

    The store is thread-safe; share one instance (and so one connection pool) per process.
    """

    db_system = "dynamodb"
    """The ``db.system`` of this store's telemetry spans."""

    def __init__(
        self,
        table_name: str = "ddbes",
        *,
        client: Any = None,
        endpoint_url: str | None = None,
        region_name: str | None = None,
        retry_policy: RetryPolicy | None = None,
        autoscaling_client: Any = None,
        timeouts: Timeouts | None = None,
        archive: ArchiveStore | None = None,
    ) -> None:
        self._archived = ArchiveReader(archive, store=f"DynamoDB table {table_name!r}")
        self._table = TableHandle(
            table_name,
            client=client,
            endpoint_url=endpoint_url,
            region_name=region_name,
            retry_policy=retry_policy,
            timeouts=timeouts,
        )
        self._name = table_name
        self._call = self._table.call
        self._client = self._table.client
        self._scaling = autoscaling_client
        self._lock = threading.Lock()
        self._log_partitions: int | None = None
        self._pending_layout: admin.TableLayout | None = None
        self._sequencing: str | None = None
        self._log_pages = True
        self._writers: dict[int, LogWriter] = {}
        self._service = SequencingService(
            table=table_name,
            call=self._call,
            client=self._client,
            leases=DynamoDBLeaseStore(
                table_name, client=self._client, retry_policy=retry_policy, timeouts=timeouts
            ),
            read_head=self._read_head,
            on_sequenced=self._logged,
            log_pages=lambda: self._load_layout().log_pages,
        )
        self._log = CommitLog(table_name, stored=self._service.appended)
        self._commit_writer = self._log.writer

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        resources: Resources | None = None,
        archive: ArchiveStore | None = None,
    ) -> DynamoDBCommitStore:
        """The store of ``table_name``, ``endpoint_url``, ``region_name`` and ``timeout`` in
        ``settings`` (:mod:`ddbes.composition`), on the client the app's stores share, reading
        archived commits from ``archive`` (the container passes the ``archive_bucket``'s)."""
        handle = table_handle(settings, resources)
        return cls(handle.name, client=handle.client, timeouts=handle.timeouts, archive=archive)

    @property
    def table_name(self) -> str:
        """The DynamoDB table this store uses."""
        return self._name

    @property
    def client(self) -> Any:
        """The low-level boto3 DynamoDB client this store uses."""
        return self._client

    def __repr__(self) -> str:
        return f"DynamoDBCommitStore({self._name!r})"

    # -- the CommitStore port -------------------------------------------------------------

    @property
    def log_partitions(self) -> int:
        """Read from the table's metadata item on first use (the table fixes it)."""
        partitions = self._log_partitions
        if partitions is None:
            partitions = self._load_layout().log_partitions
        return partitions

    @property
    def sequencing(self) -> str:
        """``"background"`` or ``"inline"``: how the table gives log positions (see the class)."""
        sequencing = self._sequencing
        if sequencing is None:
            sequencing = self._load_layout().sequencing
        return sequencing

    def _load_layout(self) -> admin.TableLayout:
        with self._lock:
            if self._log_partitions is None or self._sequencing is None:
                stored = admin.open_layout(self._table, self._pending_layout)
                self._log_partitions = stored.log_partitions
                self._sequencing = stored.sequencing
                self._log_pages = stored.log_pages
            return admin.TableLayout(self._log_partitions, self._sequencing, self._log_pages)

    def append(self, commit: Commit) -> Commit:
        prepared = self._log.prepare(commit, self.log_partitions)
        if self.sequencing == "background":
            return run(self._log.append_unsequenced(prepared), self._table)
        return self._appended(self._writer(prepared.partition).append(self._log.inline(prepared)))

    def append_all(self, commits: Sequence[Commit]) -> list[Commit]:
        unit = self._log.prepare_unit(commits, self.log_partitions)
        if self.sequencing == "background":
            return run(self._log.append_unit_unsequenced(unit), self._table)
        stored = run(self._log.append_unit_inline(unit), self._table)
        self._heads_moved(unit)
        return [self._appended(commit) for commit in stored]

    def _heads_moved(self, unit: list[PreparedAppend]) -> None:
        """A unit took positions past the heads the partitions' log writers cache."""
        for partition in {one.partition for one in unit}:
            writer = self._writers.get(partition)
            if writer is not None:
                writer.head = None

    def flush_log(self, timeout: float | None = None) -> None:
        if self.sequencing == "background":
            self._service.flush(timeout)

    def close(self) -> None:
        """Stop this store's background sequencer, after it sequenced what this store
        appended (for up to 5 s). Idempotent; using the store again starts it again."""
        self._service.close(flush_timeout=5.0)

    def _note_stored(self, pk: str, version: int) -> None:
        """A read through another path (the snapshot tip) found this version stored: the
        next append of the aggregate needs no check of its predecessor."""
        self._commit_writer.saw(pk, version)

    def _logged(self, commits: Callable[[], list[Commit]]) -> None:
        """A batch entered the log: tell the append listeners (decoding it only for them)."""
        if self._append_listeners:
            for commit in commits():
                self._appended(commit)

    def _writer(self, partition: int) -> LogWriter:
        writer = self._writers.get(partition)
        if writer is None:
            with self._lock:
                writer = self._writers.get(partition)
                if writer is None:
                    writer = self._writers[partition] = LogWriter(
                        partition=partition,
                        table=self._name,
                        handle=self._table,
                        read_head=self._log.read_head,
                        resolve_taken=self._log.stored_or_conflict,
                    )
        return writer

    def _read_head(self, partition: int) -> int:
        return run(self._log.read_head(partition), self._table)

    def read_commits(
        self,
        aggregate_type: str,
        aggregate_key: str,
        *,
        from_version: int = 1,
        to_version: int | None = None,
        until: datetime | None = None,
        descending: bool = False,
        limit: int | None = None,
    ) -> Iterator[Commit]:
        reads = self._log.commits(
            aggregate_type,
            aggregate_key,
            log_partitions=self.log_partitions,
            background=self._sequencing == "background",
            from_version=from_version,
            to_version=to_version,
            until=until,
            descending=descending,
            limit=limit,
        )
        return self._archived.resolve(iterate(reads, self._table))

    def read_log(
        self, *, after: int = 0, log_partition: int = 0, limit: int | None = None
    ) -> Iterator[Commit]:
        check_log_partition(log_partition, self.log_partitions)
        if self.sequencing == "background":
            self._service.reading(log_partition)
        reads = self._log.log(after=after, log_partition=log_partition, limit=limit)
        return self._archived.resolve(iterate(reads, self._table))

    def head_position(self, log_partition: int = 0) -> int:
        check_log_partition(log_partition, self.log_partitions)
        if self.sequencing == "background":
            self._service.reading(log_partition)
        return self._read_head(log_partition)

    def aggregate_keys(self, aggregate_type: str) -> Iterator[str]:
        return iterate(self._log.keys(aggregate_type), self._table)

    # -- archiving -------------------------------------------------------------------------

    @property
    def archive(self) -> ArchiveStore | None:
        return self._archived.sync_archive

    def archive_tip(self, aggregate_type: str, aggregate_key: str) -> AggregateTip | None:
        return run(_archive.archive_tip(self._name, aggregate_type, aggregate_key), self._table)

    def stub_commits(self, commits: Sequence[Commit], location: str) -> int:
        pages = self._load_layout().log_pages
        return run(_archive.stub_commits(self._name, commits, location, pages=pages), self._table)

    def record_archive(self, record: ArchiveRecord) -> None:
        run(_archive.record_archive(self._name, record), self._table)

    def archive_records(self, aggregate_type: str) -> Iterator[ArchiveRecord]:
        return iterate(_archive.archive_records(self._name, aggregate_type), self._table)

    # -- administration -------------------------------------------------------------------

    def create_table(
        self,
        read_capacity: int | None = None,
        write_capacity: int | None = None,
        log_partitions: int = 1,
        wait: bool = True,
        *,
        sequencing: str = "background",
    ) -> None:
        """Create the table: on-demand billing without capacities, else provisioned.

        ``log_partitions`` and ``sequencing`` (``"background"`` or ``"inline"``, see the class)
        are recorded in the table, where every store reads them; they cannot change later. A
        ``"background"`` table has one sparse global secondary index, the sequencer's to-do
        list. An existing table is left as it is (a different layout is logged and the stored
        one kept). With ``wait=False`` this returns while the table is still being created;
        this store records the layout on its first use.

        Raises:
            ValueError: a capacity or ``log_partitions`` is not a positive int, only one
                capacity is given, or ``sequencing`` is unknown.
            ConfigurationError: a table of that name exists but is not a ddbes table.
        """
        recorded = admin.create_table(
            self._table,
            read_capacity=read_capacity,
            write_capacity=write_capacity,
            log_partitions=log_partitions,
            sequencing=sequencing,
            wait=wait,
        )
        self._forget_layout(deleted=False)
        with self._lock:
            if not recorded:
                self._pending_layout = admin.TableLayout(log_partitions, sequencing)

    def delete_table(self, wait: bool = True) -> None:
        """Delete the table and every commit in it; a missing table is not an error."""
        self._service.close()
        admin.delete_table(self._table, wait=wait)
        self._forget_layout(deleted=True)

    def _forget_layout(self, *, deleted: bool) -> None:
        with self._lock:
            self._log_partitions = None
            self._sequencing = None
            self._pending_layout = None
            self._writers.clear()
            self._service.forget(pending=deleted)
            self._commit_writer.forget()

    def describe(self) -> admin.TableDescription:
        """The table's status, billing, estimated size, layout, log heads and, for a table
        sequenced in the background, the commits not yet in the log."""
        description = admin.describe_table(self._table)
        if description.log_partitions is None:
            return description
        partitions = range(description.log_partitions)
        heads = tuple(self._read_head(p) for p in partitions)
        backlog = tuple(
            admin.count_unsequenced(self._table, p) if description.sequencing == "background" else 0
            for p in partitions
        )
        return replace(description, heads=heads, backlog=backlog)

    def _autoscaling_client(self) -> Any:
        if self._scaling is None:
            self._scaling = self._table.make_client("application-autoscaling")
        return self._scaling

    def setup_autoscaling(
        self,
        table_read_min_capacity: int = 1,
        table_read_max_capacity: int = 2,
        table_write_min_capacity: int = 1,
        table_write_max_capacity: int = 2,
        utilization_target_in_percent: float = 70,
        *,
        scale_in_cooldown: int = 60,
        scale_out_cooldown: int = 60,
        role_arn: str | None = None,
    ) -> None:
        """Scale the provisioned table's (and any index's) capacity with its utilization.

        Registers Application Auto Scaling targets for reads and writes and puts a
        target-tracking policy on each; running it again updates them.

        Raises:
            ValueError: a capacity is not a positive int, a maximum is below its minimum, or the
                target is outside 20..90 percent.
            ConfigurationError: the table is missing or on-demand.
        """
        autoscaling.setup_autoscaling(
            self._table,
            self._autoscaling_client(),
            read_range=(table_read_min_capacity, table_read_max_capacity),
            write_range=(table_write_min_capacity, table_write_max_capacity),
            utilization_target_in_percent=utilization_target_in_percent,
            scale_in_cooldown=scale_in_cooldown,
            scale_out_cooldown=scale_out_cooldown,
            role_arn=role_arn,
        )

    def remove_autoscaling(self) -> None:
        """Remove the scaling policies and targets; what does not exist is skipped."""
        autoscaling.remove_autoscaling(self._table, self._autoscaling_client())

    def describe_autoscaling(self) -> list[autoscaling.ScalingTarget]:
        """The table's scalable targets with their target-tracking policies."""
        return autoscaling.describe_autoscaling(self._table, self._autoscaling_client())
