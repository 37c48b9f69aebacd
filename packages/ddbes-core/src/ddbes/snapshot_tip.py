"""An optional capability of a snapshot store: the latest snapshot and the newest commits at once.

A load with snapshots needs the aggregate's latest snapshot and the commits after it. A snapshot
store that keeps the latest snapshot (or a pointer to it) beside the commits, as Equinox's
"tip" does, can return both in one request: ``ddbes_dynamodb.DynamoDBSnapshotStore`` keeps it as
one more item in the aggregate's commit partition, so that one descending Query returns the tip
and then the newest commits. :mod:`ddbes.aggregates.snapshot_loading` uses
:meth:`TipSnapshotStore.read_tip` whenever the configured snapshot store offers it for the
configured commit store, and the snapshot is checked exactly as any other (checksum, bounds,
head commit in the log). Sync aggregates only, for now: an async tip store is still to come.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

from ddbes.model import Commit, Snapshot
from ddbes.ports import CommitStore, SnapshotStore

__all__ = ["SnapshotTip", "TipSnapshotStore"]


@dataclass(frozen=True, slots=True, kw_only=True)
class SnapshotTip:
    """What one :meth:`TipSnapshotStore.read_tip` returned.

    ``commits`` are the aggregate's newest commits, newest first, exactly as
    ``CommitStore.read_commits(descending=True, limit=n)`` returns them; fewer than ``n`` means
    they reach back to version 1. ``snapshot()`` returns what :meth:`SnapshotStore.get` would:
    the latest snapshot or ``None``, and raises what ``get()`` raises. It costs nothing when the
    read held the snapshot, and one more request when the read held only a pointer to it.
    """

    commits: tuple[Commit, ...]
    snapshot: Callable[[], Snapshot | None]


class TipSnapshotStore(SnapshotStore):
    """A snapshot store that reads an aggregate's latest snapshot with its newest commits."""

    @abstractmethod
    def serves(self, commit_store: CommitStore) -> bool:
        """Whether :meth:`read_tip` reads the commits that ``commit_store`` holds (the same
        table); a load with another commit store uses ``get()`` and the commit store instead."""

    @abstractmethod
    def read_tip(self, aggregate_type: str, aggregate_key: str, *, commits: int) -> SnapshotTip:
        """The aggregate's latest snapshot and its ``commits`` newest commits, in one read where
        the backend allows it.

        Args:
            commits: how many of the newest commits to return (at least 1).

        Returns:
            A :class:`SnapshotTip`. A missing, stale or unreadable snapshot is the loader's
            business: ``snapshot()`` returns ``None`` or raises, the commits are returned anyway.

        Raises:
            StoreUnavailable, ConfigurationError: as for :meth:`CommitStore.read_commits`.
        """
