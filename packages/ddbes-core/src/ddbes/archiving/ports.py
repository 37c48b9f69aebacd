"""The ports of archiving: where archived commits live (:class:`ArchiveStore`), and what a
commit store does to archive an aggregate (:class:`ArchivableCommitStore`)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from ddbes.model import Commit
from ddbes.ports import CommitStore

__all__ = [
    "AggregateTip",
    "ArchivableCommitStore",
    "ArchiveRecord",
    "ArchiveStore",
    "AsyncArchiveStore",
]


class ArchiveStore(ABC):
    """Immutable objects of archived commits, one per aggregate and archived version.

    Guarantees every implementation gives:

    * :meth:`put` of a key stores ``body`` whole, or raises and leaves what was there; putting
      the same body again is harmless (an interrupted archive run puts it again).
    * :meth:`get` returns exactly the bytes last put, strongly consistent (S3 is).
    * Keys are ``/``-separated text that :func:`ddbes.archiving.archive_key` builds; a store
      may add its own prefix.

    Errors are :mod:`ddbes.errors`: :class:`~ddbes.errors.ConfigurationError` for a missing
    bucket or refused access, :class:`~ddbes.errors.StoreUnavailable` when unreachable.
    """

    @abstractmethod
    def put(self, key: str, body: bytes) -> None:
        """Store ``body`` under ``key``, replacing what was there."""

    @abstractmethod
    def get(self, key: str) -> bytes | None:
        """The bytes stored under ``key``; ``None`` when there are none."""


class AsyncArchiveStore(ABC):
    """:class:`ArchiveStore` for asyncio, with the same guarantees and errors. Give one to
    ``AsyncDynamoDBCommitStore(archive=...)``: it awaits the object instead of fetching it in a
    worker thread (``S3ArchiveStore`` is the sync store, ``AsyncS3ArchiveStore`` this one)."""

    @abstractmethod
    async def put(self, key: str, body: bytes) -> None:
        """Store ``body`` under ``key``, replacing what was there."""

    @abstractmethod
    async def get(self, key: str) -> bytes | None:
        """The bytes stored under ``key``; ``None`` when there are none."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AggregateTip:
    """What an archive run needs to know of an aggregate before reading its history."""

    version: int
    """The newest version."""
    committed_at: datetime
    """When the newest version was committed."""
    sequenced: bool
    """Whether every commit is in the global log (has a position)."""
    archived: bool
    """Whether the newest version is archived already (so is every older one)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ArchiveRecord:
    """One archived aggregate, as ``ddbes archive status`` reports it."""

    aggregate_type: str
    aggregate_key: str
    version: int
    """The newest version the archive object holds (versions 1..version)."""
    location: str
    """The archive object's key."""
    archive_bytes: int
    """The archive object's size."""
    hot_bytes: int
    """The bytes of events and metadata removed from the commit store (every copy of them)."""
    archived_at: datetime


class ArchivableCommitStore(CommitStore):
    """A :class:`~ddbes.ports.CommitStore` whose cold aggregates :class:`~ddbes.archiving.Archiver`
    can archive; its reads of archived commits go through its ``archive``.

    An archived commit keeps a **stub** in the store: its version, commit id, time, position
    and the archive object's key, without events. So its version stays taken (a stale writer
    conflicts), its log entry keeps its position, and every read returns the whole commit,
    fetched from the archive.
    """

    @property
    @abstractmethod
    def archive(self) -> ArchiveStore | None:
        """The archive that archived commits are read from (``None``: none configured)."""

    @abstractmethod
    def archive_tip(self, aggregate_type: str, aggregate_key: str) -> AggregateTip | None:
        """The newest commit's facts without reading events; ``None`` for no commits."""

    @abstractmethod
    def stub_commits(self, commits: Sequence[Commit], location: str) -> int:
        """Replace each of ``commits`` (and its log entry) by a stub pointing to ``location``.

        Each item is rewritten only while it still holds that commit id and a position, so a
        re-run is harmless. Returns how many commits were rewritten (0 when all were already).

        Raises:
            ValueError: a commit has no position (it is not in the global log).
            VersionConflict: a version holds another commit id than the one given.
        """

    @abstractmethod
    def record_archive(self, record: ArchiveRecord) -> None:
        """Keep ``record`` (replacing the aggregate's previous one) for :meth:`archive_records`."""

    @abstractmethod
    def archive_records(self, aggregate_type: str) -> Iterator[ArchiveRecord]:
        """The records of the archived aggregates of ``aggregate_type``, by key."""
