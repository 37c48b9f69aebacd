"""In-memory adapters: production-quality stores for tests, demos and single-process apps.

They keep the real adapters' semantics (dense log positions per partition, idempotent appends,
conflicts, size limits, JSON round trips: what you read is a fresh decoded copy) and pass the
same contract suites. They are thread-safe. Data lives as long as the object. Each one's
``as_async()`` serves the same data to asyncio code (:mod:`ddbes.async_memory`).
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ddbes import codec
from ddbes._validation import (
    check_commit,
    check_log_partition,
    check_unit,
    encoded_events,
    encoded_metadata,
)
from ddbes.archiving._reader import ArchivedRef, ArchiveReader
from ddbes.archiving.ports import (
    AggregateTip,
    ArchivableCommitStore,
    ArchiveRecord,
    ArchiveStore,
)
from ddbes.errors import CheckpointConflict, SnapshotUnreadable, VersionConflict
from ddbes.model import PARKED_ERROR_CHARS, Commit, Event, ParkedCommit, Snapshot, log_partition_for
from ddbes.ports import (
    CheckpointStore,
    SnapshotStore,
    check_advance,
    check_operation,
    moved_message,
)

if TYPE_CHECKING:
    from ddbes.async_memory import (
        AsyncInMemoryCheckpointStore,
        AsyncInMemoryCommitStore,
        AsyncInMemorySnapshotStore,
    )

__all__ = ["InMemoryCheckpointStore", "InMemoryCommitStore", "InMemorySnapshotStore"]


@dataclass(frozen=True, slots=True)
class _Stored:
    """A commit as held in memory: the events stay encoded, as a real store keeps them."""

    commit: Commit  # events=() and no metadata here; decoded per read
    payload: bytes
    compressed: bool
    metadata: str = ""  # JSON text, "" for none
    archived: str = ""  # the archive object's key of a stub (no payload then), else ""

    def load(self) -> Commit:
        data = codec.decompress(self.payload, self.compressed) if self.compressed else self.payload
        metadata = codec.decode(self.metadata) if self.metadata else {}
        return _with_events(self.commit, codec.decode_events(data), metadata)


def _with_events(commit: Commit, events: tuple[Event, ...], metadata: Any) -> Commit:
    # dataclasses.replace is several times slower on this hot path
    return Commit(
        commit_id=commit.commit_id,
        aggregate_type=commit.aggregate_type,
        aggregate_key=commit.aggregate_key,
        version=commit.version,
        committed_at=commit.committed_at,
        events=events,
        position=commit.position,
        log_partition=commit.log_partition,
        metadata=metadata,
    )


class InMemoryCommitStore(ArchivableCommitStore):
    """A :class:`~ddbes.ports.CommitStore` in this process's memory.

    Args:
        log_partitions: how many global log partitions (fixed for the store's life).
        archive: where archived commits are read from (an
            :class:`~ddbes.archiving.InMemoryArchiveStore`, say): the store can then be archived
            by :class:`~ddbes.archiving.Archiver`, with the stubs of ``docs/archiving.md``.
    """

    db_system = "memory"
    """The ``db.system`` of this store's telemetry spans."""

    def __init__(self, *, log_partitions: int = 1, archive: ArchiveStore | None = None) -> None:
        if not isinstance(log_partitions, int) or log_partitions < 1:
            raise ValueError(f"log_partitions must be a positive int, got {log_partitions!r}")
        self._log_partitions = log_partitions
        self._lock = threading.Lock()
        self._aggregates: dict[tuple[str, str], list[_Stored]] = {}
        self._times: dict[tuple[str, str], list[datetime]] = {}
        self._keys: dict[str, set[str]] = {}
        self._logs: list[list[_Stored]] = [[] for _ in range(log_partitions)]
        self._reader = ArchiveReader(archive, store="an InMemoryCommitStore")
        self._records: dict[str, dict[str, ArchiveRecord]] = {}

    def as_async(self) -> AsyncInMemoryCommitStore:
        """The asyncio view of this store: the same data, for ``AsyncAggregate`` and co."""
        from ddbes.async_memory import AsyncInMemoryCommitStore  # noqa: PLC0415 (it imports this module)

        view: AsyncInMemoryCommitStore | None = self.__dict__.get("_async_view")
        if view is None:
            view = self.__dict__.setdefault("_async_view", AsyncInMemoryCommitStore(self))
        return view

    @property
    def log_partitions(self) -> int:
        return self._log_partitions

    def append(self, commit: Commit) -> Commit:
        check_commit(commit)
        payload, compressed = encoded_events(commit)
        metadata = encoded_metadata(commit)
        with self._lock:
            existing = self._stored_already(commit)
            if existing is not None:
                return existing
            stored = self._store(commit, payload, compressed, metadata)
        return self._appended(_with_events(stored, commit.events, dict(commit.metadata)))

    def append_all(self, commits: Sequence[Commit]) -> list[Commit]:
        encoded = check_unit(commits)
        metadata = [encoded_metadata(commit) for commit in commits]
        with self._lock:
            existing = [self._stored_already(commit) for commit in commits]
            if all(found is not None for found in existing):
                return [found for found in existing if found is not None]
            for commit, found in zip(commits, existing, strict=True):
                if found is not None:  # stored by another unit with the same commit id
                    raise VersionConflict(commit.aggregate_id, commit.version)
            stored = [
                self._store(commit, payload, compressed, meta)
                for commit, (payload, compressed), meta in zip(
                    commits, encoded, metadata, strict=True
                )
            ]
        return [
            self._appended(_with_events(one, commit.events, dict(commit.metadata)))
            for one, commit in zip(stored, commits, strict=True)
        ]

    def _stored_already(self, commit: Commit) -> Commit | None:
        """The stored commit when this one is a retry of it; raise when the version is taken
        by another commit or would leave a gap. Call with the lock held."""
        history = self._aggregates.get((commit.aggregate_type, commit.aggregate_key))
        if history is not None and commit.version <= len(history):
            existing = history[commit.version - 1]
            if existing.commit.commit_id == commit.commit_id:
                return self._load(existing)
            raise VersionConflict(commit.aggregate_id, commit.version)
        head = len(history) if history else 0
        if commit.version != head + 1:
            raise VersionConflict(
                commit.aggregate_id,
                commit.version,
                f"version {commit.version} of {commit.aggregate_id} does not follow its "
                f"newest version {head}: versions are dense",
            )
        return None

    def _store(self, commit: Commit, payload: bytes, compressed: bool, metadata: str) -> Commit:
        """Store a checked commit at the next position of its log. Call with the lock held."""
        ident = (commit.aggregate_type, commit.aggregate_key)
        partition = log_partition_for(
            commit.aggregate_type, commit.aggregate_key, self._log_partitions
        )
        log = self._logs[partition]
        stored_commit = Commit(
            commit_id=commit.commit_id,
            aggregate_type=commit.aggregate_type,
            aggregate_key=commit.aggregate_key,
            version=commit.version,
            committed_at=commit.committed_at,
            events=(),
            position=len(log) + 1,
            log_partition=partition,
        )
        stored = _Stored(stored_commit, payload, compressed, metadata)
        history = self._aggregates.get(ident)
        if history is None:
            history = self._aggregates[ident] = []
            self._times[ident] = []
            self._keys.setdefault(commit.aggregate_type, set()).add(commit.aggregate_key)
        history.append(stored)
        self._times[ident].append(commit.committed_at)
        log.append(stored)
        return stored_commit

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
        ident = (aggregate_type, aggregate_key)
        with self._lock:
            history = self._aggregates.get(ident, [])
            stop = len(history) if to_version is None else max(0, min(to_version, len(history)))
            if until is not None:
                stop = min(stop, bisect.bisect_right(self._times.get(ident, []), until))
            start = max(from_version, 1) - 1
            if limit is not None and descending:
                start = max(start, stop - max(limit, 0))
            elif limit is not None:
                stop = min(stop, start + max(limit, 0))
            selected = history[start:stop]
        if descending:
            selected = selected[::-1]
        return (self._load(stored) for stored in selected)

    def read_log(
        self, *, after: int = 0, log_partition: int = 0, limit: int | None = None
    ) -> Iterator[Commit]:
        check_log_partition(log_partition, self._log_partitions)
        if after < 0:
            raise ValueError(f"after must be >= 0, got {after}")
        with self._lock:
            log = self._logs[log_partition]
            end = len(log) if limit is None else min(len(log), after + max(limit, 0))
            selected = log[after:end]
        return (self._load(stored) for stored in selected)

    def head_position(self, log_partition: int = 0) -> int:
        check_log_partition(log_partition, self._log_partitions)
        with self._lock:
            return len(self._logs[log_partition])

    def aggregate_keys(self, aggregate_type: str) -> Iterator[str]:
        with self._lock:
            keys = sorted(self._keys.get(aggregate_type, ()))
        return iter(keys)

    def __repr__(self) -> str:
        return f"InMemoryCommitStore(log_partitions={self._log_partitions})"

    # -- archiving --------------------------------------------------------------------------

    def _load(self, stored: _Stored) -> Commit:
        if not stored.archived:
            return stored.load()
        commit = stored.commit
        return self._reader.commit(
            ArchivedRef(
                location=stored.archived,
                aggregate_type=commit.aggregate_type,
                aggregate_key=commit.aggregate_key,
                version=commit.version,
                commit_id=commit.commit_id,
                position=commit.position,
                log_partition=commit.log_partition,
            )
        )

    @property
    def archive(self) -> ArchiveStore | None:
        return self._reader.sync_archive

    def archive_tip(self, aggregate_type: str, aggregate_key: str) -> AggregateTip | None:
        with self._lock:
            history = self._aggregates.get((aggregate_type, aggregate_key))
            if not history:
                return None
            newest = history[-1]
        return AggregateTip(
            version=newest.commit.version,
            committed_at=newest.commit.committed_at,
            sequenced=True,  # this store gives positions as it appends
            archived=bool(newest.archived),
        )

    def stub_commits(self, commits: Sequence[Commit], location: str) -> int:
        rewritten = 0
        with self._lock:
            for commit in commits:
                if commit.position is None:
                    raise ValueError(f"{commit.aggregate_id} v{commit.version} has no position")
                history = self._aggregates.get((commit.aggregate_type, commit.aggregate_key), [])
                if commit.version > len(history):
                    raise VersionConflict(commit.aggregate_id, commit.version)
                stored = history[commit.version - 1]
                if (stored.commit.commit_id, stored.commit.position) != (
                    commit.commit_id,
                    commit.position,
                ):
                    raise VersionConflict(commit.aggregate_id, commit.version)
                if stored.archived == location:
                    continue
                stub = _Stored(stored.commit, b"", False, "", archived=location)
                history[commit.version - 1] = stub
                self._logs[stored.commit.log_partition][commit.position - 1] = stub
                rewritten += 1
        return rewritten

    def record_archive(self, record: ArchiveRecord) -> None:
        with self._lock:
            self._records.setdefault(record.aggregate_type, {})[record.aggregate_key] = record

    def archive_records(self, aggregate_type: str) -> Iterator[ArchiveRecord]:
        with self._lock:
            records = self._records.get(aggregate_type, {})
            return iter([records[key] for key in sorted(records)])


class InMemorySnapshotStore(SnapshotStore):
    """A :class:`~ddbes.ports.SnapshotStore` in memory; states are stored as JSON, like S3 does."""

    db_system = "memory"
    """The ``db.system`` of this store's telemetry spans."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._snapshots: dict[tuple[str, str], bytes] = {}

    def as_async(self) -> AsyncInMemorySnapshotStore:
        """The asyncio view of this store: the same data, for ``AsyncAggregate`` and co."""
        from ddbes.async_memory import AsyncInMemorySnapshotStore  # noqa: PLC0415 (it imports this module)

        view: AsyncInMemorySnapshotStore | None = self.__dict__.get("_async_view")
        if view is None:
            view = self.__dict__.setdefault("_async_view", AsyncInMemorySnapshotStore(self))
        return view

    def get(self, aggregate_type: str, aggregate_key: str) -> Snapshot | None:
        with self._lock:
            body = self._snapshots.get((aggregate_type, aggregate_key))
        if body is None:
            return None
        try:
            data = codec.decode(body)
            return Snapshot(
                aggregate_type=aggregate_type,
                aggregate_key=aggregate_key,
                version=int(data["version"]),
                state=data["state"],
                head_commit_id=str(data["head_commit_id"]),
                head_committed_at=codec.parse_time(data["head_committed_at"]),
                checksum=str(data["checksum"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise SnapshotUnreadable(
                f"snapshot of {aggregate_type}:{aggregate_key} cannot be decoded: {exc}"
            ) from exc

    def put(self, snapshot: Snapshot) -> None:
        try:
            body = codec.encode(
                {
                    "version": snapshot.version,
                    "state": snapshot.state,
                    "head_commit_id": snapshot.head_commit_id,
                    "head_committed_at": codec.format_time(snapshot.head_committed_at),
                    "checksum": snapshot.checksum,
                }
            )
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"state of {snapshot.aggregate_id} is not JSON-compatible: {exc}"
            ) from exc
        if codec.decode(body)["state"] != snapshot.state:
            raise ValueError(
                f"state of {snapshot.aggregate_id} would change through JSON (a datetime, tuple "
                "or non-string key?): keep snapshot states plain JSON so a load equals a replay"
            )
        with self._lock:
            self._snapshots[(snapshot.aggregate_type, snapshot.aggregate_key)] = body

    def delete(self, aggregate_type: str, aggregate_key: str) -> None:
        with self._lock:
            self._snapshots.pop((aggregate_type, aggregate_key), None)

    def clear(self, aggregate_type: str | None = None) -> None:
        with self._lock:
            if aggregate_type is None:
                self._snapshots.clear()
            else:
                for ident in [i for i in self._snapshots if i[0] == aggregate_type]:
                    del self._snapshots[ident]

    def corrupt(
        self, aggregate_type: str, aggregate_key: str, body: bytes = b"\x00not json"
    ) -> None:
        """Replace a stored snapshot body with ``body`` (for tests of unreadable snapshots)."""
        with self._lock:
            self._snapshots[(aggregate_type, aggregate_key)] = body


class InMemoryCheckpointStore(CheckpointStore):
    """A :class:`~ddbes.ports.CheckpointStore` in memory."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._positions: dict[tuple[str, int], int] = {}
        self._parked: dict[tuple[str, str, str], ParkedCommit] = {}

    def as_async(self) -> AsyncInMemoryCheckpointStore:
        """The asyncio view of this store: the same data, for ``AsyncAggregate`` and co."""
        from ddbes.async_memory import AsyncInMemoryCheckpointStore  # noqa: PLC0415 (it imports this module)

        view: AsyncInMemoryCheckpointStore | None = self.__dict__.get("_async_view")
        if view is None:
            view = self.__dict__.setdefault("_async_view", AsyncInMemoryCheckpointStore(self))
        return view

    def get(self, name: str, log_partition: int = 0) -> int:
        with self._lock:
            return self._positions.get((name, log_partition), 0)

    def save(self, name: str, position: int, log_partition: int = 0) -> None:
        if position < 0:
            raise ValueError(f"a checkpoint position must be >= 0, got {position}")
        with self._lock:
            current = self._positions.get((name, log_partition), 0)
            if position < current:
                raise CheckpointConflict(
                    f"checkpoint {name!r} of log partition {log_partition} is at {current}; "
                    f"it cannot move back to {position}",
                    current=current,
                )
            self._positions[(name, log_partition)] = position

    def advance(self, name: str, position: int, log_partition: int = 0, *, expected: int) -> None:
        check_advance(position, expected)
        with self._lock:
            current = self._positions.get((name, log_partition), 0)
            if current != expected:
                raise CheckpointConflict(
                    moved_message(name, log_partition, current, expected), current=current
                )
            self._positions[(name, log_partition)] = position

    def reset(self, name: str, log_partition: int = 0, *, position: int = 0) -> None:
        check_operation(name, position)
        with self._lock:
            if position:
                self._positions[(name, log_partition)] = position
            else:
                self._positions.pop((name, log_partition), None)

    def parked(self, name: str) -> list[ParkedCommit]:
        with self._lock:
            found = [p for (n, _, _), p in self._parked.items() if n == name]
        return sorted(found, key=lambda p: (p.log_partition, p.position, p.aggregate_id))

    def put_parked(self, name: str, parked: ParkedCommit, *, expected: int | None = None) -> bool:
        check_operation(name, parked.position, parked.version, parked.held_through, parked.held)
        key = (name, parked.aggregate_type, parked.aggregate_key)
        if len(parked.error) > PARKED_ERROR_CHARS:
            parked = replace(parked, error=parked.error[:PARKED_ERROR_CHARS])
        with self._lock:
            current = self._parked.get(key)
            if (current is None) != (expected is None):
                return False
            if current is not None and current.held_through != expected:
                return False
            self._parked[key] = parked
            return True

    def hold(self, name: str, aggregate_type: str, aggregate_key: str, position: int) -> bool:
        with self._lock:
            current = self._parked.get((name, aggregate_type, aggregate_key))
            if current is None:
                return False
            if position > current.held_through:
                self._parked[(name, aggregate_type, aggregate_key)] = replace(
                    current, held_through=position, held=current.held + 1
                )
            return True

    def delete_parked(
        self, name: str, aggregate_type: str, aggregate_key: str, *, expected: int
    ) -> bool:
        with self._lock:
            current = self._parked.get((name, aggregate_type, aggregate_key))
            if current is None or current.held_through != expected:
                return False
            del self._parked[(name, aggregate_type, aggregate_key)]
            return True
