"""``Archiver``: moves the commits of cold aggregates from a commit store into an archive.

Per aggregate, in this order, each step safe to interrupt (``docs/archiving.md``):

1. read the newest commit's facts (:meth:`ArchivableCommitStore.archive_tip`): skip the
   aggregate unless every commit is in the global log, the newest is not archived yet and it is
   older than the policy's ``idle_for``;
2. read the whole history (archived versions through the archive), apply the predicate;
3. put the archive object of versions 1..v under a key fixed by (type, key, v), read it back
   and compare it byte for byte;
4. record it for ``ddbes archive status`` (before the stubs: a run killed after the last
   stub would otherwise leave an archived aggregate that no later run records);
5. replace each commit and log entry by a stub pointing to that object
   (:meth:`ArchivableCommitStore.stub_commits`).

A run interrupted anywhere is completed by the next run: the aggregate is still selected (its
newest version is not a stub), its object is rewritten with the same bytes, and the stubs
already written are left as they are.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from ddbes._validation import encoded_events, encoded_metadata
from ddbes.archiving._format import archive_key, decode_archive, encode_archive
from ddbes.archiving.ports import ArchivableCommitStore, ArchiveRecord, ArchiveStore
from ddbes.clock import SystemClock
from ddbes.errors import ConfigurationError, StoreError
from ddbes.model import Commit
from ddbes.ports import Clock

__all__ = ["ArchivePolicy", "ArchiveReport", "ArchivedAggregate", "Archiver"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ArchivePolicy:
    """Which aggregates an archive run moves.

    Args:
        aggregate_types: the aggregate types to look at (their key registries are walked).
        idle_for: only aggregates whose newest commit is at least this old.
        predicate: called with an aggregate's whole history (version order) once it passed the
            other tests; archive it only when this returns true. Fold the events with your
            aggregate's reducer to decide on its state (``docs/archiving.md``).
    """

    aggregate_types: tuple[str, ...]
    idle_for: timedelta
    predicate: Callable[[Sequence[Commit]], bool] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.aggregate_types, str) or not self.aggregate_types:
            raise ValueError("aggregate_types must be a non-empty tuple of aggregate types")
        if self.idle_for < timedelta(0):
            raise ValueError(f"idle_for must not be negative, got {self.idle_for}")


@dataclass(frozen=True, slots=True, kw_only=True)
class ArchivedAggregate:
    """One aggregate an archive run moved (or, in a dry run, would move)."""

    aggregate_type: str
    aggregate_key: str
    version: int
    """Its newest version: the object holds versions 1..version."""
    location: str
    """The archive object's key."""
    rewritten: int
    """Commits this run turned into stubs (fewer than ``version`` when it completes an
    interrupted run or re-archives an aggregate whose older versions were archived already)."""
    archive_bytes: int
    """The archive object's size."""
    hot_bytes: int
    """The encoded events and metadata of its commits, per copy held in the store."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ArchiveReport:
    """What an archive run did: the aggregates it moved and why it left the others."""

    dry_run: bool
    archived: tuple[ArchivedAggregate, ...] = ()
    skipped: dict[str, int] = field(default_factory=dict)
    """Aggregates left as they are, by reason: ``"recent"`` (a commit within ``idle_for``),
    ``"unsequenced"`` (a commit not in the global log yet), ``"archived"`` (nothing new since
    its archive), ``"predicate"`` (the predicate said no)."""

    @property
    def archive_bytes(self) -> int:
        """The size of the archive objects written."""
        return sum(one.archive_bytes for one in self.archived)

    @property
    def hot_bytes(self) -> int:
        """The encoded events and metadata moved out of the store, per copy."""
        return sum(one.hot_bytes for one in self.archived)


class Archiver:
    """Runs an :class:`ArchivePolicy` over a commit store that can archive.

    Args:
        store: the commit store, the one that holds the data (give the inner store, not an
            ``EncryptingCommitStore`` around it: archives hold what the store holds, ciphertext
            included).
        archive: where archive objects go (default: the store's ``archive``).
        clock: the source of "now" for ``idle_for``.
    """

    def __init__(
        self,
        store: ArchivableCommitStore,
        *,
        archive: ArchiveStore | None = None,
        clock: Clock | None = None,
    ) -> None:
        if not isinstance(store, ArchivableCommitStore):
            raise ConfigurationError(
                f"{store!r} cannot archive: give the commit store that holds the data "
                "(InMemoryCommitStore or DynamoDBCommitStore, not a wrapper around it)"
            )
        archive = archive if archive is not None else store.archive
        if archive is None:
            raise ConfigurationError(
                f"{store!r} has no archive store: pass archive= to the Archiver or the store"
            )
        if store.archive is not None and store.archive is not archive:
            raise ConfigurationError(
                "the Archiver and the commit store have different archive stores: reads of "
                "archived commits would miss the objects this run writes"
            )
        self._store = store
        self._archive = archive
        self._clock = clock if clock is not None else SystemClock()

    def run(
        self,
        policy: ArchivePolicy,
        *,
        dry_run: bool = False,
        limit: int | None = None,
        on_archived: Callable[[ArchivedAggregate], None] | None = None,
    ) -> ArchiveReport:
        """Archive every aggregate ``policy`` selects (at most ``limit``); with ``dry_run``,
        only report what would be archived, writing nothing.

        Raises:
            StoreError: a read or write failed, or an archive object read back differs from
                what was put (nothing of that aggregate was changed in the store then).
        """
        store = self._store
        now = self._clock.now()
        archived: list[ArchivedAggregate] = []
        skipped: Counter[str] = Counter()
        for aggregate_type in policy.aggregate_types:
            for aggregate_key in store.aggregate_keys(aggregate_type):
                if limit is not None and len(archived) >= limit:
                    break
                tip = store.archive_tip(aggregate_type, aggregate_key)
                if tip is None:
                    continue
                if tip.archived:
                    skipped["archived"] += 1
                    continue
                if not tip.sequenced:
                    skipped["unsequenced"] += 1
                    continue
                if now - tip.committed_at < policy.idle_for:
                    skipped["recent"] += 1
                    continue
                commits = list(store.read_commits(aggregate_type, aggregate_key))
                commits = [commit for commit in commits if commit.version <= tip.version]
                if any(commit.position is None for commit in commits):
                    skipped["unsequenced"] += 1
                    continue
                if policy.predicate is not None and not policy.predicate(commits):
                    skipped["predicate"] += 1
                    continue
                one = self._archive_one(commits, dry_run=dry_run)
                archived.append(one)
                if on_archived is not None:
                    on_archived(one)
        return ArchiveReport(dry_run=dry_run, archived=tuple(archived), skipped=dict(skipped))

    def _archive_one(self, commits: list[Commit], *, dry_run: bool) -> ArchivedAggregate:
        first, last = commits[0], commits[-1]
        if [commit.version for commit in commits] != list(range(1, last.version + 1)):
            raise StoreError(f"the versions of {first.aggregate_id} are not dense: not archived")
        body = encode_archive(commits)
        location = archive_key(first.aggregate_type, first.aggregate_key, last.version)
        hot_bytes = sum(
            len(encoded_events(commit)[0]) + len(encoded_metadata(commit).encode())
            for commit in commits
        )
        rewritten = 0
        if not dry_run:
            self._archive.put(location, body)
            self._verify(location, body, commits)
            self._store.record_archive(
                ArchiveRecord(
                    aggregate_type=first.aggregate_type,
                    aggregate_key=first.aggregate_key,
                    version=last.version,
                    location=location,
                    archive_bytes=len(body),
                    hot_bytes=hot_bytes,
                    archived_at=self._clock.now(),
                )
            )
            rewritten = self._store.stub_commits(commits, location)
        return ArchivedAggregate(
            aggregate_type=first.aggregate_type,
            aggregate_key=first.aggregate_key,
            version=last.version,
            location=location,
            rewritten=rewritten,
            archive_bytes=len(body),
            hot_bytes=hot_bytes,
        )

    def _verify(self, location: str, body: bytes, commits: list[Commit]) -> None:
        """The object reads back as put and holds exactly ``commits``."""
        stored = self._archive.get(location)
        if stored != body:
            raise StoreError(
                f"the archive object {location!r} read back differs from what was put: "
                f"{commits[0].aggregate_id} was left as it is; run the archive again"
            )
        decoded = decode_archive(stored, where=f"archive object {location!r}")
        if [(c.version, c.commit_id) for c in decoded.values()] != [
            (c.version, c.commit_id) for c in commits
        ]:
            raise StoreError(f"the archive object {location!r} does not hold the commits put")
