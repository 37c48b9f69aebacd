"""Where a load starts: the aggregate's snapshot, and the commits to apply after it.

A load with snapshots needs two reads: the snapshot and the commits from its head on. For a
snapshot store whose ``get()`` waits on the network (``fetch_in_parallel``, as S3's does), done
one after the other they would cost the sum of both; instead the snapshot is fetched on a worker
thread while the caller reads the newest ``snapshots_frequency + 1`` commits (no more than
:data:`FIRST_READ`). Snapshots are written every ``snapshots_frequency`` versions, so those reach
back to the latest snapshot's head commit, and the load costs the slower of the two reads. An
older snapshot (a snapshot write failed, or the frequency changed) costs one more read for the
commits in between. Other snapshot stores are read first, then the commits from the head on.

A snapshot store that keeps the latest snapshot beside the commits
(:class:`~ddbes.snapshot_tip.TipSnapshotStore`, such as ``DynamoDBSnapshotStore``) returns the
snapshot and the newest commits in one read: a load is then one request, whatever the history.

A snapshot is only a cache: when it is missing, unreadable, made by other upcasters, outside
the requested bounds or not matched by its head commit in the log, the load replays commits.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from logging import Logger

from ddbes.model import Commit, Snapshot
from ddbes.ports import CommitStore, SnapshotStore
from ddbes.snapshot_tip import SnapshotTip, TipSnapshotStore

__all__ = ["FIRST_READ", "LoadStart", "start_load"]

FIRST_READ = 200
"""The most commits read while the snapshot is fetched. A load reads ``snapshots_frequency + 1``
newest commits, which reach back to the latest snapshot's head commit, unless that is more than
this: a snapshot further back then costs one more read for the commits in between."""

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="ddbes-snapshot")
        return _pool


@dataclass(frozen=True, slots=True)
class LoadStart:
    """Where to start: ``snapshot`` (``None``: replay from the requested version) and the
    commits to apply. With a snapshot, ``commits`` starts with the snapshot's head commit."""

    snapshot: Snapshot | None
    commits: Iterator[Commit]


@dataclass(frozen=True, slots=True)
class _Request:
    commit_store: CommitStore
    aggregate_type: str
    aggregate_key: str
    until: datetime | None

    def read(self, from_version: int, to_version: int | None) -> Iterator[Commit]:
        if to_version is not None and to_version < from_version:
            return iter(())
        return self.commit_store.read_commits(
            self.aggregate_type,
            self.aggregate_key,
            from_version=from_version,
            to_version=to_version,
            until=self.until,
        )


def start_load(
    commit_store: CommitStore,
    snapshot_store: SnapshotStore,
    *,
    aggregate_type: str,
    aggregate_key: str,
    aggregate_id: str,
    checksum: str,
    from_version: int,
    to_version: int | None,
    until: datetime | None,
    window: int,
    logger: Logger,
) -> LoadStart:
    """Decide where a load of the commits in ``[from_version, to_version]`` (at or before
    ``until``) starts. ``window`` is the aggregate's ``snapshots_frequency``: a load never needs
    more than ``window + 1`` commits. A snapshot store whose ``get()`` waits on the network
    (``fetch_in_parallel``) is read while the newest commits are; another one first; a
    :class:`TipSnapshotStore` of this commit store returns both in one read."""
    request = _Request(commit_store, aggregate_type, aggregate_key, until)
    check = _Check(aggregate_id, checksum, from_version, to_version, until, logger)
    if isinstance(snapshot_store, TipSnapshotStore) and snapshot_store.serves(commit_store):
        tip = snapshot_store.read_tip(
            aggregate_type, aggregate_key, commits=min(window + 1, FIRST_READ)
        )
        return _start_from_tip(tip, request, check, min(window + 1, FIRST_READ))
    if not snapshot_store.fetch_in_parallel:
        snapshot = check.usable(_get(snapshot_store, request, aggregate_id, logger))
        if snapshot is None:
            return LoadStart(None, request.read(from_version, to_version))
        commits = request.read(snapshot.version, to_version)
        head = next(commits, None)
        if not check.holds_head(snapshot, head):
            return LoadStart(None, request.read(from_version, to_version))
        assert head is not None
        return LoadStart(snapshot, itertools.chain([head], commits))

    future = _executor().submit(_get, snapshot_store, request, aggregate_id, logger)
    try:
        newest = list(
            commit_store.read_commits(
                aggregate_type,
                aggregate_key,
                from_version=from_version,
                to_version=to_version,
                until=until,
                descending=True,
                limit=min(window + 1, FIRST_READ),
            )
        )
    finally:
        fetched = future.result()
    newest.reverse()
    if not newest:
        return LoadStart(None, iter(()))
    oldest = newest[0].version

    def replay() -> LoadStart:
        return LoadStart(None, itertools.chain(request.read(from_version, oldest - 1), newest))

    snapshot = check.usable(fetched)
    if snapshot is None:
        return replay()
    if snapshot.version >= oldest:
        tail: Iterator[Commit] = iter([c for c in newest if c.version >= snapshot.version])
    else:  # the snapshot is older than the first read reaches: read the commits in between
        tail = itertools.chain(request.read(snapshot.version, oldest - 1), newest)
    head = next(tail, None)
    if not check.holds_head(snapshot, head):
        return replay()
    assert head is not None
    return LoadStart(snapshot, itertools.chain([head], tail))


def _start_from_tip(tip: SnapshotTip, request: _Request, check: _Check, asked: int) -> LoadStart:
    """Where a load starts, from one read of the tip and the ``asked`` newest commits.

    The read holds every commit from ``covered`` on (all of them when it returned fewer than
    asked); bounds are applied here as the commit store applies them, and older commits are
    read only when the snapshot or the requested range reaches below ``covered``.
    """
    if not tip.commits:
        return LoadStart(None, iter(()))
    covered = 1 if len(tip.commits) < asked else tip.commits[-1].version
    until = request.until
    held = [c for c in reversed(tip.commits) if until is None or c.committed_at <= until]

    def between(low: int, high: int | None) -> Iterator[Commit]:
        """The commits in ``[low, high]`` at or before ``until``, in version order."""
        newest = [c for c in held if c.version >= low and (high is None or c.version <= high)]
        if low >= covered:
            return iter(newest)
        older_high = covered - 1 if high is None else min(high, covered - 1)
        return itertools.chain(request.read(low, older_high), newest)

    def replay() -> LoadStart:
        return LoadStart(None, between(check.from_version, check.to_version))

    snapshot = check.usable(_fetch(tip, check))
    if snapshot is None:
        return replay()
    tail = between(snapshot.version, check.to_version)
    head = next(tail, None)
    if not check.holds_head(snapshot, head):
        return replay()
    assert head is not None
    return LoadStart(snapshot, itertools.chain([head], tail))


def _fetch(tip: SnapshotTip, check: _Check) -> Snapshot | None:
    try:
        return tip.snapshot()
    except Exception as exc:  # a snapshot is a cache: any failure means a replay
        check.logger.warning(
            "ignoring the snapshot of %s, replaying its commits: %s", check.aggregate_id, exc
        )
        return None


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


def _get(
    snapshot_store: SnapshotStore, request: _Request, aggregate_id: str, logger: Logger
) -> Snapshot | None:
    try:
        return snapshot_store.get(request.aggregate_type, request.aggregate_key)
    except Exception as exc:  # a snapshot is a cache: any failure means a replay
        logger.warning("ignoring the snapshot of %s, replaying its commits: %s", aggregate_id, exc)
        return None
