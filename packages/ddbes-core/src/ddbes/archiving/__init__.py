"""Archiving cold aggregates: their commits move to one compressed object per aggregate in an
archive (S3), and the commit store keeps a stub per commit. See ``docs/archiving.md``.

::

    from ddbes.archiving import ArchivePolicy, Archiver, InMemoryArchiveStore

    archive = InMemoryArchiveStore()
    store = InMemoryCommitStore(archive=archive)
    ...
    report = Archiver(store).run(ArchivePolicy(aggregate_types=("Order",),
                                               idle_for=timedelta(days=365)))

Loads, log reads and projectors read archived commits through the store as before (slower: an
object fetch per aggregate), and the next commit to an archived aggregate is an ordinary one.
"""

from ddbes.archiving._format import archive_key, decode_archive, encode_archive
from ddbes.archiving._reader import ArchivedRef, ArchiveReader
from ddbes.archiving.archiver import ArchivedAggregate, ArchivePolicy, Archiver, ArchiveReport
from ddbes.archiving.memory import InMemoryArchiveStore
from ddbes.archiving.ports import (
    AggregateTip,
    ArchivableCommitStore,
    ArchiveRecord,
    ArchiveStore,
    AsyncArchiveStore,
)

__all__ = [
    "AggregateTip",
    "ArchivableCommitStore",
    "ArchivePolicy",
    "ArchiveReader",
    "ArchiveRecord",
    "ArchiveReport",
    "ArchiveStore",
    "ArchivedAggregate",
    "ArchivedRef",
    "Archiver",
    "AsyncArchiveStore",
    "InMemoryArchiveStore",
    "archive_key",
    "decode_archive",
    "encode_archive",
]
