"""Contract checks of atomic units (:meth:`~ddbes.ports.CommitStore.append_all`): all or
nothing, together in the log, idempotent, and DynamoDB's transaction limits in every store.
Part of :data:`ddbes.testing.contracts.COMMIT_STORE_CHECKS`.
"""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from ddbes._validation import MAX_UNIT_COMMITS
from ddbes.errors import CommitTooLarge, VersionConflict
from ddbes.model import Commit, log_partition_for
from ddbes.ports import CommitStore
from ddbes.testing._assertions import raises

__all__ = ["UNIT_CHECKS"]

_T0 = datetime(2024, 1, 1, tzinfo=UTC)
_FLUSH = 60.0


class _Factory(Protocol):
    def __call__(self, *, log_partitions: int = 1) -> CommitStore: ...


def _commit(key: str, version: int, *, at: int = 0, size: int = 0) -> Commit:
    event: dict[str, Any] = {"type": "Moved", "n": version}
    if size:
        event["pad"] = base64.b64encode(os.urandom(size * 3 // 4)).decode()  # incompressible
    return Commit(
        commit_id=uuid.uuid4().hex,
        aggregate_type="Account",
        aggregate_key=key,
        version=version,
        committed_at=_T0 + timedelta(seconds=at or version),
        events=(event,),
    )


def _log(store: CommitStore) -> list[Commit]:
    store.flush_log(timeout=_FLUSH)
    return [c for p in range(store.log_partitions) for c in store.read_log(log_partition=p)]


def check_unit_is_stored_whole_and_together_in_the_log(factory: _Factory) -> None:
    """A unit's commits are all stored, and take consecutive positions in the log, in order."""
    store = factory()
    store.append(_commit("before", 1, at=1))
    unit = [_commit(key, 1, at=2) for key in ("c", "a", "b")]
    stored = store.append_all(unit)
    assert [c.commit_id for c in stored] == [c.commit_id for c in unit], stored
    store.append(_commit("after", 1, at=3))
    log = _log(store)
    assert [c.aggregate_key for c in log] == ["before", "c", "a", "b", "after"], log
    assert [c.position for c in log] == [1, 2, 3, 4, 5]
    for commit in unit:
        (read,) = store.read_commits("Account", commit.aggregate_key)
        assert read.commit_id == commit.commit_id and read.events == commit.events


def check_unit_conflict_names_the_aggregate_and_writes_nothing(factory: _Factory) -> None:
    """When one commit of a unit conflicts (a taken version, or a gap), nothing of the unit
    is written, and the conflict names that aggregate."""
    store = factory()
    store.append(_commit("a", 1))
    store.append(_commit("b", 1))
    taken = [_commit("a", 2), _commit("b", 1), _commit("new", 1)]
    error = raises(VersionConflict, lambda: store.append_all(taken))
    assert isinstance(error, VersionConflict) and error.aggregate_id == "Account:b", error
    gap = [_commit("a", 2), _commit("b", 3)]
    error = raises(VersionConflict, lambda: store.append_all(gap))
    assert isinstance(error, VersionConflict) and error.aggregate_id == "Account:b", error
    assert [c.version for c in store.read_commits("Account", "a")] == [1]
    assert list(store.read_commits("Account", "new")) == []
    assert [c.aggregate_key for c in _log(store)] == ["a", "b"]
    assert sorted(store.aggregate_keys("Account")) == ["a", "b"]


def check_unit_retry_is_stored_once(factory: _Factory) -> None:
    """Appending the same unit again (an unknown outcome) returns it and writes nothing."""
    store = factory()
    store.append(_commit("a", 1))
    unit = [_commit("a", 2), _commit("b", 1)]
    first = store.append_all(unit)
    again = store.append_all(unit)
    assert [c.commit_id for c in again] == [c.commit_id for c in first]
    assert [(c.aggregate_key, c.version) for c in _log(store)] == [("a", 1), ("a", 2), ("b", 1)]


def check_unit_keeps_each_partition_together(factory: _Factory) -> None:
    """With several log partitions, the unit's commits of each partition are consecutive
    there, in the order given."""
    store = factory(log_partitions=4)
    keys = [f"k{i}" for i in range(12)]
    store.append(_commit("first", 1, at=1))
    store.append_all([_commit(key, 1, at=2) for key in keys])
    store.append(_commit("last", 1, at=3))
    store.flush_log(timeout=_FLUSH)
    for partition in range(4):
        mine = [k for k in keys if log_partition_for("Account", k, 4) == partition]
        log = [c.aggregate_key for c in store.read_log(log_partition=partition)]
        others = [k for k in log if k not in mine]
        assert [k for k in log if k in mine] == mine, (partition, log)
        if mine:
            start = log.index(mine[0])
            assert log[start : start + len(mine)] == mine, (partition, log)
        assert len(others) + len(mine) == len(log)
    assert sum(store.head_position(p) for p in range(4)) == len(keys) + 2


def check_unit_limits_are_dynamodbs(factory: _Factory) -> None:
    """No commit, two commits of one aggregate, more than a transaction's commits or bytes:
    refused before anything is written, with the limit named."""
    store = factory()
    raises(ValueError, lambda: store.append_all([]))
    raises(ValueError, lambda: store.append_all([_commit("a", 1), _commit("a", 2)]))
    many = [_commit(f"k{i}", 1) for i in range(MAX_UNIT_COMMITS + 1)]
    error = raises(CommitTooLarge, lambda: store.append_all(many))
    assert str(MAX_UNIT_COMMITS) in str(error), error
    store.append_all(many[:MAX_UNIT_COMMITS])  # the limit itself fits
    big = [_commit(f"big{i}", 1, size=300 * 1024) for i in range(12)]
    error = raises(CommitTooLarge, lambda: store.append_all(big))
    assert "4194304" in str(error), error
    assert list(store.read_commits("Account", "big0")) == []
    assert store.append_all(big[:2])  # 2 x 2 x ~300 KB fits in 4 MB
    assert len(_log(store)) == MAX_UNIT_COMMITS + 2


UNIT_CHECKS: dict[str, Callable[[Any], None]] = {
    name.removeprefix("check_"): check
    for name, check in list(globals().items())
    if name.startswith("check_")
}
