"""Contract suites: one per port, run against every adapter, first-party or not.

Each suite is a dict of ``name -> check(factory)``. A check builds fresh stores with the factory,
exercises the port and raises ``AssertionError`` when the adapter breaks a promise of the port's
docstring. The checks use only the standard library, so any test runner can drive them; with
pytest::

    import pytest
    from ddbes.testing.contracts import COMMIT_STORE_CHECKS

    @pytest.mark.parametrize("check", COMMIT_STORE_CHECKS.values(), ids=COMMIT_STORE_CHECKS.keys())
    def test_my_commit_store(check):
        check(lambda log_partitions=1: MyCommitStore(..., log_partitions=log_partitions))

Factories: a commit store factory takes ``log_partitions`` (keyword, default 1) and returns a new,
empty store; the snapshot and checkpoint store factories take no arguments.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from ddbes.errors import CommitTooLarge, VersionConflict
from ddbes.model import Commit, log_partition_for
from ddbes.ports import CommitStore
from ddbes.testing._archive_checks import ARCHIVABLE_STORE_CHECKS, ARCHIVE_STORE_CHECKS
from ddbes.testing._assertions import raises as _raises
from ddbes.testing._checkpoint_checks import CHECKPOINT_OPERATIONS_CHECKS, CHECKPOINT_STORE_CHECKS
from ddbes.testing._key_store_checks import KEY_STORE_CHECKS
from ddbes.testing._limits import LIMIT_CHECKS
from ddbes.testing._snapshot_checks import SNAPSHOT_STORE_CHECKS
from ddbes.testing._unit_checks import UNIT_CHECKS

__all__ = [
    "ARCHIVABLE_STORE_CHECKS",
    "ARCHIVE_STORE_CHECKS",
    "CHECKPOINT_OPERATIONS_CHECKS",
    "CHECKPOINT_STORE_CHECKS",
    "COMMIT_STORE_CHECKS",
    "KEY_STORE_CHECKS",
    "SNAPSHOT_STORE_CHECKS",
    "CommitStoreFactory",
]


class CommitStoreFactory(Protocol):
    """Makes a fresh, empty commit store (with ``log_partitions`` partitions) per check."""

    def __call__(self, *, log_partitions: int = 1) -> CommitStore: ...


_T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _commit(
    key: str,
    version: int,
    events: tuple[dict[str, Any], ...] | None = None,
    *,
    aggregate_type: str = "Cart",
    at: datetime | None = None,
    commit_id: str | None = None,
) -> Commit:
    return Commit(
        commit_id=commit_id or uuid.uuid4().hex,
        aggregate_type=aggregate_type,
        aggregate_key=key,
        version=version,
        committed_at=at or _T0 + timedelta(seconds=version),
        events=events or ({"type": "ItemAdded", "n": version},),
    )


_FLUSH = 60.0


def _settled(store: CommitStore, stored: Commit) -> Commit:
    """``stored`` as the store holds it once it is in the global log: a store that writes its log
    in the background returns ``position=None`` from ``append`` and gives it after
    :meth:`~ddbes.ports.CommitStore.flush_log`."""
    if stored.position is not None:
        return stored
    store.flush_log(timeout=_FLUSH)
    (found,) = store.read_commits(
        stored.aggregate_type,
        stored.aggregate_key,
        from_version=stored.version,
        to_version=stored.version,
    )
    assert found.position is not None, found
    return found


def _append(store: CommitStore, commit: Commit) -> Commit:
    return _settled(store, store.append(commit))


def _all_log(store: CommitStore) -> list[Commit]:
    return [c for p in range(store.log_partitions) for c in store.read_log(log_partition=p)]


# ------------------------------------------------------------------ commit store


def check_append_and_read_round_trip(factory: CommitStoreFactory) -> None:
    """A stored commit reads back equal, events and all, by key and from the log."""
    store = factory()
    events = (
        {"type": "Added", "text": "ø ✓", "n": 1.5, "list": [1, None, True], "obj": {"a": {}}},
    )
    stored = _append(store, _commit("k1", 1, events))
    assert stored.position == 1, stored
    assert stored.log_partition == 0
    assert stored.events == events
    read = list(store.read_commits("Cart", "k1"))
    assert read == [stored], (read, stored)
    assert read[0].committed_at == _T0 + timedelta(seconds=1)
    assert read[0].committed_at.tzinfo is not None
    assert list(store.read_log()) == [stored]
    assert store.head_position() == 1
    assert list(store.read_commits("Cart", "missing")) == []


def check_stale_version_conflicts_and_writes_nothing(factory: CommitStoreFactory) -> None:
    """Appending at a version another commit holds raises VersionConflict and writes nothing."""
    store = factory()
    first = _append(store, _commit("k", 1))
    error = _raises(VersionConflict, lambda: store.append(_commit("k", 1, ({"type": "Other"},))))
    assert isinstance(error, VersionConflict)
    assert error.aggregate_id == "Cart:k" and error.version == 1
    assert list(store.read_commits("Cart", "k")) == [first]
    assert store.head_position() == 1
    assert [c.commit_id for c in store.read_log()] == [first.commit_id]


def check_multi_event_commit_is_atomic(factory: CommitStoreFactory) -> None:
    """A commit of many events is stored whole, at one version and one log position."""
    store = factory()
    events = tuple({"type": f"E{i}", "i": i} for i in range(25))
    stored = _append(store, _commit("k", 1, events))
    assert stored.position == 1
    (read,) = store.read_commits("Cart", "k")
    assert read.events == events
    assert store.head_position() == 1
    _raises(VersionConflict, lambda: store.append(_commit("k", 1, events)))
    assert store.head_position() == 1


def check_retried_commit_id_is_stored_once(factory: CommitStoreFactory) -> None:
    """Appending the same commit_id again returns the stored commit and writes nothing."""
    store = factory()
    commit = _commit("k", 1)
    first = _append(store, commit)
    again = _append(store, commit)
    assert again == first, (again, first)
    assert len(list(store.read_commits("Cart", "k"))) == 1
    assert store.head_position() == 1
    second = _append(store, _commit("k", 2))
    assert _append(store, commit) == first
    assert second.position == 2 and store.head_position() == 2


def check_concurrent_writers_leave_dense_positions(factory: CommitStoreFactory) -> None:
    """Threads appending at once leave positions 1..n with no hole and no duplicate."""
    store = factory()
    threads, per_thread = 8, 25
    errors: list[BaseException] = []

    def writer(index: int) -> None:
        try:
            for version in range(1, per_thread + 1):
                store.append(_commit(f"w{index}", version))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    workers = [threading.Thread(target=writer, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert not errors, errors
    store.flush_log(timeout=_FLUSH)
    log = list(store.read_log())
    total = threads * per_thread
    assert [c.position for c in log] == list(range(1, total + 1))
    assert len({c.commit_id for c in log}) == total
    for index in range(threads):
        versions = [c.version for c in log if c.aggregate_key == f"w{index}"]
        assert versions == list(range(1, per_thread + 1)), versions


def check_concurrent_writers_of_one_aggregate_conflict(factory: CommitStoreFactory) -> None:
    """Of writers racing for one version, exactly one wins; the others conflict."""
    store = factory()
    winners: list[Commit] = []
    conflicts: list[VersionConflict] = []
    barrier = threading.Barrier(6)

    def writer() -> None:
        barrier.wait()
        try:
            winners.append(store.append(_commit("hot", 1)))
        except VersionConflict as exc:
            conflicts.append(exc)

    workers = [threading.Thread(target=writer) for _ in range(6)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(winners) == 1 and len(conflicts) == 5, (winners, conflicts)
    winners = [_settled(store, winner) for winner in winners]
    assert list(store.read_commits("Cart", "hot")) == winners
    assert store.head_position() == 1


def check_log_reads_resume_exactly_after_a_position(factory: CommitStoreFactory) -> None:
    """read_log(after=p) returns exactly the commits after p, in order, and honours limit."""
    store = factory()
    stored = [_append(store, _commit(f"k{i % 3}", i // 3 + 1)) for i in range(12)]
    assert [c.position for c in stored] == list(range(1, 13))
    for after in (0, 1, 5, 11, 12):
        got = list(store.read_log(after=after))
        assert got == stored[after:], (after, got)
    assert list(store.read_log(after=3, limit=4)) == stored[3:7]
    assert list(store.read_log(after=12)) == []
    assert list(store.read_log(after=50)) == []
    _raises(ValueError, lambda: list(store.read_log(after=-1)))
    _raises(ValueError, lambda: list(store.read_log(log_partition=1)))


def check_version_range_reads(factory: CommitStoreFactory) -> None:
    """read_commits honours from_version, to_version, descending and limit."""
    store = factory()
    stored = [_append(store, _commit("k", v)) for v in range(1, 11)]
    assert list(store.read_commits("Cart", "k", from_version=3, to_version=6)) == stored[2:6]
    assert list(store.read_commits("Cart", "k", from_version=8)) == stored[7:]
    assert list(store.read_commits("Cart", "k", to_version=2)) == stored[:2]
    assert list(store.read_commits("Cart", "k", to_version=99)) == stored
    assert list(store.read_commits("Cart", "k", from_version=11)) == []
    assert list(store.read_commits("Cart", "k", descending=True, limit=1)) == [stored[-1]]
    assert list(store.read_commits("Cart", "k", descending=True)) == stored[::-1]
    assert list(store.read_commits("Cart", "k", limit=3)) == stored[:3]
    got = list(
        store.read_commits("Cart", "k", from_version=2, to_version=5, descending=True, limit=2)
    )
    assert got == [stored[4], stored[3]], got


def check_time_range_reads(factory: CommitStoreFactory) -> None:
    """read_commits(until=t) returns exactly the commits made at or before t."""
    store = factory()
    stored = [_append(store, _commit("k", v, at=_T0 + timedelta(minutes=v))) for v in range(1, 6)]
    until = _T0 + timedelta(minutes=3)
    assert list(store.read_commits("Cart", "k", until=until)) == stored[:3]
    assert list(store.read_commits("Cart", "k", until=until + timedelta(seconds=59))) == stored[:3]
    assert list(store.read_commits("Cart", "k", until=_T0)) == []
    assert list(store.read_commits("Cart", "k", until=until, descending=True, limit=1)) == [
        stored[2]
    ]
    other_zone = until.astimezone(datetime.now().astimezone().tzinfo)
    assert list(store.read_commits("Cart", "k", until=other_zone)) == stored[:3]
    micro = _append(store, _commit("m", 1, at=_T0 + timedelta(microseconds=1)))
    assert list(store.read_commits("Cart", "m", until=_T0)) == []
    assert list(store.read_commits("Cart", "m", until=_T0 + timedelta(microseconds=1))) == [micro]


def check_keys_never_see_each_others_commits(factory: CommitStoreFactory) -> None:
    """Keys that prefix or resemble each other ("a", "a:5", "a.b") never share commits."""
    store = factory()
    keys = [
        "a",
        "a:5",
        "a.b",
        "a:",
        ":a",
        "a:1:2",
        "a\\",
        "a b",
        "A",
        "a#1",
        "@",
        "ü/%:",
        "a.",
        "a..b",
    ]
    for index, key in enumerate(keys):
        store.append(_commit(key, 1, ({"type": "T", "key": key, "i": index},)))
    store.append(_commit("a", 1, ({"type": "T", "key": "other-type"},), aggregate_type="Cart:a"))
    store.append(_commit("a", 1, ({"type": "T", "key": "other-type2"},), aggregate_type="Car"))
    store.flush_log(timeout=_FLUSH)
    for key in keys:
        read = list(store.read_commits("Cart", key))
        assert [c.events[0]["key"] for c in read] == [key], (key, read)
        assert read[0].aggregate_key == key
    assert sorted(store.aggregate_keys("Cart")) == sorted(keys)
    assert list(store.aggregate_keys("Cart")) == sorted(keys)
    assert list(store.aggregate_keys("Car")) == ["a"]
    assert list(store.aggregate_keys("Nothing")) == []
    assert store.head_position() == len(keys) + 2


def check_long_history_reads_back_whole(factory: CommitStoreFactory) -> None:
    """A history larger than one backend page reads back whole, every page followed."""
    store = factory()
    total = 2000
    payload = "x" * 300
    for version in range(1, total + 1):
        store.append(_commit("long", version, ({"type": "T", "v": version, "pad": payload},)))
    store.flush_log(timeout=_FLUSH)
    read = list(store.read_commits("Cart", "long"))
    assert [c.version for c in read] == list(range(1, total + 1))
    assert all(c.events[0]["v"] == c.version for c in read)
    log = list(store.read_log())
    assert [c.position for c in log] == list(range(1, total + 1))
    assert [c.version for c in store.read_commits("Cart", "long", descending=True)][:3] == [
        2000,
        1999,
        1998,
    ]


def check_partitions_keep_dense_positions(factory: CommitStoreFactory) -> None:
    """Each aggregate lands in the partition log_partition_for names; each numbers densely."""
    store = factory(log_partitions=4)
    assert store.log_partitions == 4
    expected: dict[int, list[str]] = {p: [] for p in range(4)}
    for index in range(60):
        key = f"p{index}"
        stored = _append(store, _commit(key, 1))
        partition = log_partition_for("Cart", key, 4)
        assert stored.log_partition == partition
        expected[partition].append(stored.commit_id)
        assert stored.position == len(expected[partition])
    for partition in range(4):
        log = list(store.read_log(log_partition=partition))
        assert [c.commit_id for c in log] == expected[partition]
        assert [c.position for c in log] == list(range(1, len(log) + 1))
        assert all(c.log_partition == partition for c in log)
        assert store.head_position(partition) == len(log)
    assert sum(store.head_position(p) for p in range(4)) == 60
    assert len({p for p in range(4) if expected[p]}) > 1


def check_oversized_commit_is_refused_and_writes_nothing(factory: CommitStoreFactory) -> None:
    """A commit too large to store raises CommitTooLarge and writes nothing."""
    store = factory()
    noise = os.urandom(600 * 1024).hex()
    error = _raises(
        CommitTooLarge, lambda: store.append(_commit("big", 1, ({"type": "Big", "b": noise},)))
    )
    assert "Cart:big" in str(error)
    assert list(store.read_commits("Cart", "big")) == []
    assert store.head_position() == 0
    compressible = "abc" * 200_000
    stored = _append(store, _commit("big", 1, ({"type": "Big", "b": compressible},)))
    (read,) = store.read_commits("Cart", "big")
    assert read.events[0]["b"] == compressible and read == stored


def check_malformed_commits_are_refused(factory: CommitStoreFactory) -> None:
    """Malformed commits (version below 1, empty type or key, naive time) are refused."""
    store = factory()
    _raises(ValueError, lambda: store.append(_commit("k", 0)))
    _raises(ValueError, lambda: store.append(_commit("k", -1)))
    _raises(ValueError, lambda: store.append(_commit("", 1)))
    _raises(ValueError, lambda: store.append(_commit("k", 1, aggregate_type="")))
    naive = Commit(
        commit_id="x",
        aggregate_type="Cart",
        aggregate_key="k",
        version=1,
        committed_at=datetime(2024, 1, 1),
        events=({"type": "T"},),
    )
    _raises(ValueError, lambda: store.append(naive))
    assert store.head_position() == 0


def check_append_listeners_hear_each_stored_commit(factory: CommitStoreFactory) -> None:
    """Append listeners hear each commit put into the log, with its position, until removed."""
    store = factory()
    heard: list[Commit] = []
    remove = store.add_append_listener(heard.append)
    first = _append(store, _commit("listened", 1, commit_id="listened-1"))
    _append(store, _commit("listened", 1, commit_id="listened-1"))  # a retry stores nothing new
    _raises(VersionConflict, lambda: store.append(_commit("listened", 1)))
    second = _append(store, _commit("listened", 2))
    remove()
    _append(store, _commit("listened", 3))
    assert [c.commit_id for c in heard] in (
        [first.commit_id, second.commit_id],
        [first.commit_id, first.commit_id, second.commit_id],  # a retry may be heard again
    ), heard
    assert [c.position for c in heard][-1] == second.position


def check_log_keeps_each_aggregates_versions_in_order_whatever_their_times(
    factory: CommitStoreFactory,
) -> None:
    """The log keeps each aggregate's versions in order, even when a later version has an earlier
    time."""
    store = factory()
    # A caller of append may give a later version an earlier time (the aggregate layer never
    # does): the log still holds each aggregate's versions in order.
    for version in range(1, 6):
        store.append(_commit("late", version, at=_T0 + timedelta(minutes=10 - version)))
        store.append(_commit("early", version, at=_T0 + timedelta(minutes=version)))
    store.flush_log(timeout=_FLUSH)
    log = list(store.read_log())
    for key in ("late", "early"):
        assert [c.version for c in log if c.aggregate_key == key] == [1, 2, 3, 4, 5], log
    assert [c.position for c in log] == list(range(1, 11))


def check_metadata_round_trips_and_bad_metadata_writes_nothing(
    factory: CommitStoreFactory,
) -> None:
    """A commit's metadata reads back equal, by key and from the log (``{}`` when it has none);
    metadata that is not a JSON object with string keys, or is too large, is refused with
    ``ValueError`` and writes nothing."""
    store = factory()
    metadata = {
        "correlation_id": "c-1",
        "causation_id": "c-0",
        "user": {"id": 7, "roles": ["admin"], "name": "Zoë"},
    }
    with_metadata = _commit("meta", 1)
    with_metadata = Commit(**{**_fields(with_metadata), "metadata": metadata})
    stored = _append(store, with_metadata)
    plain = _append(store, _commit("meta", 2))
    assert stored.metadata == metadata, stored
    assert plain.metadata == {}, plain
    assert [c.metadata for c in store.read_commits("Cart", "meta")] == [metadata, {}]
    assert [c.metadata for c in store.read_log()] == [metadata, {}]
    bad_metadata: list[Any] = [
        {1: "not a string key"},
        {"ids": {1, 2}},
        {"n": float("nan")},
        {"big": "x" * (17 * 1024)},
        ["not", "a", "dict"],
    ]
    for bad in bad_metadata:
        refused = Commit(**{**_fields(_commit("meta", 3)), "metadata": bad})
        _refused(store, refused)
    assert [c.version for c in store.read_commits("Cart", "meta")] == [1, 2]
    store.flush_log(timeout=_FLUSH)
    assert store.head_position() == 2


def _refused(store: CommitStore, commit: Commit) -> None:
    _raises(ValueError, lambda: store.append(commit))


def _fields(commit: Commit) -> dict[str, Any]:
    return {name: getattr(commit, name) for name in Commit.__dataclass_fields__}


COMMIT_STORE_CHECKS: dict[str, Callable[[CommitStoreFactory], None]] = (
    {
        name.removeprefix("check_"): check
        for name, check in list(globals().items())
        if name.startswith("check_")
    }
    | LIMIT_CHECKS
    | UNIT_CHECKS
)
"""Every check of the commit store port: the ones above, :mod:`ddbes.testing._limits`'s
checks that a store refuses exactly what DynamoDB refuses, and
:mod:`ddbes.testing._unit_checks`'s of atomic units (``append_all``)."""
