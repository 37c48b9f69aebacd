"""Where a load starts: the aggregate's snapshot, and the commits to apply after it.

A load with snapshots needs two reads: the snapshot and the commits from its head on. For a
snapshot store whose ``get()`` waits on the network (``fetch_in_parallel``, as S3's does), done
one after the other they would cost the sum of both; instead the snapshot is fetched (on a
worker thread for a sync aggregate, in a second task for an async one) while the shell reads
the newest ``snapshots_frequency + 1`` commits (no more than :data:`FIRST_READ`). Snapshots
are written every ``snapshots_frequency`` versions, so those reach back to the latest snapshot's
head commit, and the load costs the slower of the two reads. An older snapshot (a snapshot
write failed, or the frequency changed) costs one more read for the commits in between.
Other snapshot stores are read first, then the commits from the head on.

A snapshot store that keeps the latest snapshot beside the commits
(:class:`~ddbes.snapshot_tip.TipSnapshotStore`, such as ``DynamoDBSnapshotStore``) returns the
snapshot and the newest commits in one read: a load is then one request, whatever the history.

This is a core operation (:mod:`ddbes.aggregates._requests`): it decides what to read and
applies what it got; the shells read.

A snapshot is only a cache: when it is missing, unreadable, made by other upcasters, outside
the requested bounds or not matched by its head commit in the log, the load replays commits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from logging import Logger
from typing import Any

from ddbes.aggregates._base import AggregateBase
from ddbes.aggregates._requests import (
    Both,
    FetchTipSnapshot,
    GetSnapshot,
    ReadCommits,
    ReadTip,
    Steps,
)
from ddbes.aggregates._settings import AggregateSettings
from ddbes.model import Commit, Snapshot
from ddbes.snapshot_tip import SnapshotTip, TipSnapshotStore

__all__ = ["FIRST_READ", "hydrating_from_snapshot"]

FIRST_READ = 200
"""The most commits read while the snapshot is fetched. A load reads ``snapshots_frequency + 1``
newest commits, which reach back to the latest snapshot's head commit, unless that is more than
this: a snapshot further back then costs one more read for the commits in between."""


class _HeadMissing(Exception):
    """The log does not hold the snapshot's head commit: replay instead (never escapes)."""


@dataclass(frozen=True, slots=True)
class _Reads:
    commit_store: Any
    aggregate: AggregateBase
    until: datetime | None

    def between(self, low: int, high: int | None, each: Callable[[Commit], object]) -> Steps[None]:
        """Hand the commits in ``[low, high]`` (at or before ``until``) to ``each``."""
        if high is not None and high < low:
            return
        yield ReadCommits(
            self.commit_store,
            self.aggregate.aggregate_type,
            self.aggregate.key,
            each,
            from_version=low,
            to_version=high,
            until=self.until,
        )


@dataclass(slots=True)
class _Starter:
    """Takes the snapshot at its head commit (the first commit it is handed), then applies."""

    aggregate: AggregateBase
    snapshot: Snapshot
    check: _Check
    started: bool = field(default=False)

    def __call__(self, commit: Commit) -> None:
        if self.started:
            self.aggregate._apply(commit)
            return
        if not self.check.holds_head(self.snapshot, commit):
            raise _HeadMissing
        self.aggregate._start_at(self.snapshot, commit)
        self.started = True


def hydrating_from_snapshot(
    aggregate: AggregateBase,
    settings: AggregateSettings,
    to_version: int | None,
    until: datetime | None,
) -> Steps[None]:
    """Bring ``aggregate`` from its version to ``to_version`` (at or before ``until``), from
    the snapshot when one helps. ``settings.snapshots_frequency`` bounds the newest commits a
    load needs: ``snapshots_frequency + 1``. A snapshot store whose ``get()`` waits on the
    network (``fetch_in_parallel``) is read while the newest commits are; another one first;
    a :class:`TipSnapshotStore` of this commit store returns both in one read."""
    commit_store, snapshot_store = settings.commit_store, settings.snapshot_store
    reads = _Reads(commit_store, aggregate, until)
    check = _Check(
        aggregate.aggregate_id,
        type(aggregate)._checksum,
        aggregate.version + 1,
        to_version,
        until,
        settings.logger,
    )
    window = min(settings.snapshots_frequency + 1, FIRST_READ)
    if isinstance(snapshot_store, TipSnapshotStore) and snapshot_store.serves(commit_store):
        tip = yield ReadTip(snapshot_store, aggregate.aggregate_type, aggregate.key, window)
        yield from _from_tip(aggregate, tip, reads, check, window)
        return
    if not snapshot_store.fetch_in_parallel:
        try:
            fetched = yield GetSnapshot(snapshot_store, aggregate.aggregate_type, aggregate.key)
        except Exception as exc:
            fetched = check.ignore(exc)
        snapshot = check.usable(fetched)
        if snapshot is not None and (
            yield from _started(
                aggregate,
                snapshot=snapshot,
                check=check,
                reads=reads,
                low=snapshot.version,
                high=to_version,
            )
        ):
            return
        yield from reads.between(check.from_version, to_version, aggregate._apply)
        return

    newest: list[Commit] = []
    got, read = yield Both(
        GetSnapshot(snapshot_store, aggregate.aggregate_type, aggregate.key),
        ReadCommits(
            commit_store,
            aggregate.aggregate_type,
            aggregate.key,
            newest.append,
            from_version=check.from_version,
            to_version=to_version,
            until=until,
            descending=True,
            limit=window,
        ),
    )
    if isinstance(read, BaseException):
        raise read
    fetched = check.ignore(got) if isinstance(got, BaseException) else got
    newest.reverse()
    if not newest:
        return
    oldest = newest[0].version
    snapshot = check.usable(fetched)
    if snapshot is not None:
        if snapshot.version >= oldest:
            tail = [c for c in newest if c.version >= snapshot.version]
            if tail and check.holds_head(snapshot, tail[0]):
                aggregate._start_at(snapshot, tail[0])
                _apply_all(aggregate, tail[1:])
                return
            if not tail:
                check.holds_head(snapshot, None)
        elif (
            yield from _started(
                aggregate,
                snapshot=snapshot,
                check=check,
                reads=reads,
                low=snapshot.version,
                high=oldest - 1,
            )
        ):
            _apply_all(aggregate, newest)
            return
    yield from reads.between(check.from_version, oldest - 1, aggregate._apply)
    _apply_all(aggregate, newest)


def _apply_all(aggregate: AggregateBase, commits: list[Commit]) -> None:
    for commit in commits:
        aggregate._apply(commit)


def _started(
    aggregate: AggregateBase,
    *,
    snapshot: Snapshot,
    check: _Check,
    reads: _Reads,
    low: int,
    high: int | None,
) -> Steps[bool]:
    """Start at ``snapshot`` and apply the commits in ``[low, high]`` after its head commit;
    ``False`` (nothing changed) when the log does not hold that head commit."""
    starter = _Starter(aggregate, snapshot, check)
    try:
        yield from reads.between(low, high, starter)
    except _HeadMissing:
        return False
    if not starter.started:
        return check.holds_head(snapshot, None)
    return True


def _from_tip(
    aggregate: AggregateBase, tip: SnapshotTip, reads: _Reads, check: _Check, asked: int
) -> Steps[None]:
    """Hydrate from one read of the tip and the ``asked`` newest commits.

    The read holds every commit from ``covered`` on (all of them when it returned fewer than
    asked); bounds are applied here as the commit store applies them, and older commits are
    read only when the snapshot or the requested range reaches below ``covered``.
    """
    if not tip.commits:
        return
    covered = 1 if len(tip.commits) < asked else tip.commits[-1].version
    until = reads.until
    held = [c for c in reversed(tip.commits) if until is None or c.committed_at <= until]

    def between(low: int, high: int | None, each: Callable[[Commit], object]) -> Steps[None]:
        """The commits in ``[low, high]`` at or before ``until``, in version order."""
        newest = [c for c in held if c.version >= low and (high is None or c.version <= high)]
        if low < covered:
            older_high = covered - 1 if high is None else min(high, covered - 1)
            yield from reads.between(low, older_high, each)
        for commit in newest:
            each(commit)

    try:
        fetched = yield FetchTipSnapshot(tip)
    except Exception as exc:
        fetched = check.ignore(exc)
    snapshot = check.usable(fetched)
    if snapshot is not None:
        starter = _Starter(aggregate, snapshot, check)
        try:
            yield from between(snapshot.version, check.to_version, starter)
        except _HeadMissing:
            pass
        else:
            if starter.started or check.holds_head(snapshot, None):
                return
    yield from between(check.from_version, check.to_version, aggregate._apply)


@dataclass(frozen=True, slots=True)
class _Check:
    """Whether a snapshot may start this load (each refusal but "none" is logged)."""

    aggregate_id: str
    checksum: str
    from_version: int
    to_version: int | None
    until: datetime | None
    logger: Logger

    def usable(self, snapshot: Snapshot | None) -> Snapshot | None:
        if snapshot is None or snapshot.version < self.from_version:
            return None
        if snapshot.checksum != self.checksum:
            self.logger.warning(
                "ignoring the snapshot of %s at version %d: it was made by other upcasters or "
                "another snapshot_version; replaying its commits",
                self.aggregate_id,
                snapshot.version,
            )
            return None
        if (self.to_version is not None and snapshot.version > self.to_version) or (
            self.until is not None and snapshot.head_committed_at > self.until
        ):
            return None  # the snapshot is newer than what was asked for
        return snapshot

    def ignore(self, error: BaseException) -> Snapshot | None:
        """A failed snapshot read: logged, and the load replays (a snapshot is a cache)."""
        self.logger.warning(
            "ignoring the snapshot of %s, replaying its commits: %s", self.aggregate_id, error
        )
        return None

    def holds_head(self, snapshot: Snapshot, head: Commit | None) -> bool:
        """The log still holds the snapshot's head commit (same version and commit id)."""
        if (
            head is not None
            and head.version == snapshot.version
            and head.commit_id == snapshot.head_commit_id
        ):
            return True
        self.logger.warning(
            "ignoring the snapshot of %s at version %d: the commit log does not hold its head "
            "commit %s; replaying its commits",
            self.aggregate_id,
            snapshot.version,
            snapshot.head_commit_id,
        )
        return False
