"""Atomic units: what they refuse, and what they do besides the commits (snapshots)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import ddbes
from ddbes.memory import InMemoryCommitStore, InMemorySnapshotStore
from ddbes.model import Commit
from ddbes.ports import CommitStore


class Account(ddbes.Aggregate):
    key_schema = ("id",)

    @staticmethod
    def reducer(state: Any, event: dict[str, Any], commit: Commit) -> Any:
        return {"events": (state or {}).get("events", 0) + 1}


class _Plain(CommitStore):
    """A third-party store that predates atomic units: append_all is the port's default."""

    def __init__(self) -> None:
        self._inner = InMemoryCommitStore()

    @property
    def log_partitions(self) -> int:
        return 1

    def append(self, commit: Commit) -> Commit:
        return self._inner.append(commit)

    def read_commits(self, aggregate_type: str, aggregate_key: str, **kw: Any) -> Iterator[Commit]:
        return self._inner.read_commits(aggregate_type, aggregate_key, **kw)

    def read_log(
        self, *, after: int = 0, log_partition: int = 0, limit: int | None = None
    ) -> Iterator[Commit]:
        return self._inner.read_log(after=after, log_partition=log_partition, limit=limit)

    def head_position(self, log_partition: int = 0) -> int:
        return self._inner.head_position(log_partition)

    def aggregate_keys(self, aggregate_type: str) -> Iterator[str]:
        return self._inner.aggregate_keys(aggregate_type)


def test_aggregates_of_two_stores_cannot_share_a_unit() -> None:
    first = Account.using(commit_store=InMemoryCommitStore())("a")
    second = Account.using(commit_store=InMemoryCommitStore())("b")
    unit = ddbes.UnitOfWork()
    unit.commit(first, {"type": "Opened"})
    with pytest.raises(ValueError, match="another commit store"):
        unit.commit(second, {"type": "Opened"})
    assert len(unit) == 1


def test_a_store_without_atomic_units_says_what_to_do_and_nothing_changes() -> None:
    accounts = Account.using(commit_store=_Plain())
    a, b = accounts("a"), accounts("b")
    unit = ddbes.UnitOfWork()
    unit.commit(a, {"type": "Opened"})
    unit.commit(b, {"type": "Opened"})
    with pytest.raises(NotImplementedError, match=r"implement CommitStore\.append_all"):
        unit.save()
    assert (a.version, b.version) == (0, 0)
    assert accounts.load("a") is None


def test_a_saved_unit_writes_the_snapshots_that_fall_due() -> None:
    snapshots = InMemorySnapshotStore()
    accounts = Account.using(
        commit_store=InMemoryCommitStore(),
        snapshot_store=snapshots,
        snapshots=True,
        snapshots_frequency=2,
    )
    a, b = accounts("a"), accounts("b")
    a.commit({"type": "Opened"})
    with ddbes.UnitOfWork() as unit:
        unit.commit(a, {"type": "Moved"})  # version 2: a snapshot is due
        unit.commit(b, {"type": "Opened"})  # version 1: none
    snapshot = snapshots.get("Account", "a")
    assert snapshot is not None and snapshot.version == 2
    assert snapshots.get("Account", "b") is None


def test_an_empty_unit_writes_nothing_and_a_discarded_one_cannot_be_saved() -> None:
    assert ddbes.UnitOfWork().save() == []
    unit = ddbes.UnitOfWork()
    unit.commit(Account.using(commit_store=InMemoryCommitStore())("a"), {"type": "Opened"})
    unit.discard()
    with pytest.raises(RuntimeError, match="saved or discarded"):
        unit.save()
    with pytest.raises(RuntimeError, match="saved or discarded"):
        unit.commit(Account.using(commit_store=InMemoryCommitStore())("b"), {"type": "X"})
    assert repr(ddbes.UnitOfWork()) == "UnitOfWork([])"
