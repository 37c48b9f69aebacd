"""Reading archived commits: a stub names its archive object, the object holds the commit."""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from ddbes.archiving._format import decode_archive
from ddbes.archiving.ports import ArchiveStore, AsyncArchiveStore
from ddbes.errors import ConfigurationError, CorruptItem
from ddbes.model import Commit

__all__ = ["ArchiveReader", "ArchivedRef"]

_CACHED_OBJECTS = 16


@dataclass(frozen=True, slots=True, kw_only=True)
class ArchivedRef:
    """A stub read from a commit store: which commit it stands for and where it is archived."""

    location: str
    aggregate_type: str
    aggregate_key: str
    version: int
    commit_id: str
    position: int | None
    log_partition: int


class ArchiveReader:
    """Turns stubs into commits, fetching each archive object once while it stays among the
    last few read (a load or a log read meets many stubs of one object in a row). Thread-safe.

    A sync store's reader (``asynchronous=False``) needs an :class:`ArchiveStore`; an async
    store's reads (:meth:`commit_async`) await an :class:`AsyncArchiveStore`, or fetch from an
    :class:`ArchiveStore` in a worker thread.

    Raises:
        ConfigurationError: a sync store is given an :class:`AsyncArchiveStore`.
    """

    def __init__(
        self,
        archive: ArchiveStore | AsyncArchiveStore | None,
        *,
        store: str,
        asynchronous: bool = False,
    ) -> None:
        if isinstance(archive, AsyncArchiveStore) and not asynchronous:
            raise ConfigurationError(
                f"{archive!r} is an async archive store, and {store} reads synchronously: give "
                "it a sync one (S3ArchiveStore), or give this one to AsyncDynamoDBCommitStore"
            )
        self.archive = archive
        self._store = store
        self._lock = threading.Lock()
        self._objects: OrderedDict[str, dict[int, Commit]] = OrderedDict()

    @property
    def sync_archive(self) -> ArchiveStore | None:
        """``archive`` when it is an :class:`ArchiveStore` (always, in a sync store's reader)."""
        archive = self.archive
        return archive if isinstance(archive, ArchiveStore) else None

    def commit(self, ref: ArchivedRef) -> Commit:
        """The archived commit ``ref`` stands for.

        Raises:
            ConfigurationError: no archive store is configured.
            CorruptItem: the object is missing or does not hold that commit.
        """
        commits = self._cached(ref)
        if commits is None:
            archive = self._required(ref)
            assert isinstance(archive, ArchiveStore)  # the constructor refused an async one
            commits = self._keep(ref, archive.get(ref.location))
        return self._pick(ref, commits)

    async def commit_async(self, ref: ArchivedRef) -> Commit:
        """:meth:`commit` for an async store: awaits an :class:`AsyncArchiveStore`, or runs a
        sync archive store's ``get`` in a worker thread."""
        commits = self._cached(ref)
        if commits is None:
            archive = self._required(ref)
            if isinstance(archive, AsyncArchiveStore):
                body = await archive.get(ref.location)
            else:
                body = await asyncio.to_thread(archive.get, ref.location)
            commits = self._keep(ref, body)
        return self._pick(ref, commits)

    def resolve(self, items: Iterable[Commit | ArchivedRef]) -> Iterator[Commit]:
        """``items`` with every stub replaced by its commit."""
        for item in items:
            yield item if isinstance(item, Commit) else self.commit(item)

    def _pick(self, ref: ArchivedRef, commits: dict[int, Commit]) -> Commit:
        commit = commits.get(ref.version)
        if commit is None or commit.commit_id != ref.commit_id:
            raise CorruptItem(
                f"archive of {self._store}",
                ref.location,
                f"it does not hold commit {ref.commit_id!r} at version {ref.version} of "
                f"{ref.aggregate_type}:{ref.aggregate_key}",
            )
        if ref.position is not None and commit.position != ref.position:
            return commit.stored_at(ref.position, ref.log_partition)
        return commit

    def _cached(self, ref: ArchivedRef) -> dict[int, Commit] | None:
        with self._lock:
            cached = self._objects.get(ref.location)
            if cached is not None:
                self._objects.move_to_end(ref.location)
            return cached

    def _required(self, ref: ArchivedRef) -> ArchiveStore | AsyncArchiveStore:
        archive = self.archive
        if archive is None:
            raise ConfigurationError(
                f"{ref.aggregate_type}:{ref.aggregate_key} version {ref.version} in "
                f"{self._store} is archived, and the store has no archive to read it from: "
                "pass archive=S3ArchiveStore(...) (or the archive store used by `ddbes archive "
                "run`) to the commit store, or set archive_bucket (DDBES_ARCHIVE_BUCKET, "
                "--archive-bucket) for the container and the CLI"
            )
        return archive

    def _keep(self, ref: ArchivedRef, body: bytes | None) -> dict[int, Commit]:
        if body is None:
            raise CorruptItem(
                f"archive of {self._store}", ref.location, "the archive object is missing"
            )
        commits = decode_archive(body, where=f"archive of {self._store}")
        with self._lock:
            self._objects[ref.location] = commits
            while len(self._objects) > _CACHED_OBJECTS:
                self._objects.popitem(last=False)
        return commits
