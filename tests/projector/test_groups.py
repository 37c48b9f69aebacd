"""Consumer groups: projectors of one name share a log partition by aggregate hash."""

from __future__ import annotations

import threading
import time
from collections import defaultdict

import pytest

from ddbes.errors import CorruptItem
from ddbes.memory import InMemoryCheckpointStore, InMemoryCommitStore
from ddbes.model import Commit
from ddbes.projection._group import slot_of
from ddbes.projection.leases import InMemoryLeaseStore
from ddbes.projection.projector import Projector
from tests.projector.helpers import ReadsSeen, commit, fill


class Log:
    """What every member handled: (member, aggregate, version), in order."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_aggregate: dict[str, list[int]] = defaultdict(list)
        self.by_member: dict[str, int] = defaultdict(int)

    def handler(self, member: str) -> object:
        def handle(commit: Commit) -> None:
            with self.lock:
                self.by_aggregate[commit.aggregate_key].append(commit.version)
                self.by_member[member] += 1

        return handle


def member(
    name: str,
    log: Log,
    store: InMemoryCommitStore,
    checkpoints: InMemoryCheckpointStore,
    leases: InMemoryLeaseStore,
    *,
    lease_ttl: float = 0.6,
) -> Projector:
    return Projector(
        {"Cart": log.handler(name)}, name="p", owner=name, commit_store=store,  # type: ignore[dict-item]
        checkpoint_store=checkpoints, lease_store=leases, lease_ttl=lease_ttl, slots=12,
        poll_interval=0.02, batch_size=50,
    )  # fmt: skip


def wait_until(condition: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def held_by(leases: InMemoryLeaseStore) -> dict[str, int]:
    owners: dict[str, int] = defaultdict(int)
    for unit in range(12):
        lease = leases.holder("p#g12", unit)
        if lease is not None:
            owners[lease.owner] += 1
    return owners


def test_slots_spread_aggregates_evenly_and_independently_of_log_partitions() -> None:
    counts = [0] * 8
    for key in range(4000):
        counts[slot_of(commit("Cart", f"k{key}", 1), 8)] += 1
    assert min(counts) > 400


def test_a_group_shares_the_work_rebalances_when_a_member_leaves_and_keeps_order(
    store: InMemoryCommitStore, checkpoints: InMemoryCheckpointStore
) -> None:
    leases = InMemoryLeaseStore()
    log = Log()
    members = [member(f"m{i}", log, store, checkpoints, leases) for i in range(3)]

    for m in members:
        m.start(watch=True)
    try:
        wait_until(
            lambda: sorted(held_by(leases).values()) == [4, 4, 4]
        )  # rebalanced as they joined
        fill(store, 600, keys=30)
        wait_until(lambda: sum(len(v) for v in log.by_aggregate.values()) >= 600)
        wait_until(lambda: all(m.progress.positions for m in members))
        members[0].stop()  # leaves: the others take its slots over
        # all units with the two others (by load now: 600 commits weighed the slots, so the
        # counts need not be 6 and 6)
        wait_until(lambda: len(held_by(leases)) == 2 and sum(held_by(leases).values()) == 12)
        fill(store, 300, keys=30, start=600)
        wait_until(lambda: all(len(v) >= 30 for v in log.by_aggregate.values()))
    finally:
        for m in members:
            m.stop()
    assert members[1].error is None and members[2].error is None
    for key, versions in log.by_aggregate.items():
        assert sorted(set(versions)) == list(range(1, 31)), key
        first = [versions.index(v) for v in range(1, 31)]
        assert first == sorted(first), key  # in order (a unit handed over repeats, never skips)
    assert min(log.by_member[f"m{i}"] for i in range(3)) > 0  # everyone worked
    status = members[1].status()
    assert status.positions == {0: 900} and status.caught_up


def test_group_options_are_checked(store: InMemoryCommitStore) -> None:
    with pytest.raises(ValueError, match="lease_store"):
        Projector({"*": print}, name="p", commit_store=store, slots=4)
    with pytest.raises(ValueError, match="slots"):
        Projector({"*": print}, name="p", commit_store=store, slots=0,
                  lease_store=InMemoryLeaseStore())  # fmt: skip


class CountingLeases(InMemoryLeaseStore):
    """An in-memory lease store that counts the attempts to take a unit of work."""

    def __init__(self) -> None:
        super().__init__()
        self.unit_attempts = 0

    def acquire(self, name: str, log_partition: int, owner: str, ttl: float) -> bool:
        if not name.endswith("#members"):
            self.unit_attempts += 1
        return super().acquire(name, log_partition, owner, ttl)


class LimitsSeen(InMemoryCommitStore):
    """An in-memory commit store that records the ``limit`` of every read of the log."""

    def __init__(self) -> None:
        super().__init__()
        self.limits: list[int | None] = []

    def read_log(self, *, after: int = 0, log_partition: int = 0, limit: int | None = None):  # type: ignore[no-untyped-def]
        self.limits.append(limit)
        return super().read_log(after=after, log_partition=log_partition, limit=limit)


def test_a_member_at_its_share_leaves_the_others_units_alone_and_reads_further(
    checkpoints: InMemoryCheckpointStore,
) -> None:
    store, leases, log = LimitsSeen(), CountingLeases(), Log()
    members = [member(f"m{i}", log, store, checkpoints, leases) for i in range(2)]
    for m in members:
        m.start(watch=True)
    try:
        wait_until(lambda: sorted(held_by(leases).values()) == [6, 6])
        time.sleep(0.2)  # a few polls at the fair share
        attempts = leases.unit_attempts
        store.limits.clear()
        # fewer commits than weigh the slots (16 per slot): shares by count, not by load
        fill(store, 150, keys=20)
        wait_until(lambda: sum(len(v) for v in log.by_aggregate.values()) >= 150)
        time.sleep(0.2)
    finally:
        for m in members:
            m.stop()
    # Polls and batches at the share try no unit held by the other member (each try was a
    # write between two batches).
    assert leases.unit_attempts == attempts
    # Each member holds half the slots: it reads twice batch_size (50) to handle about 50.
    assert store.limits and set(store.limits) == {100}


def test_a_member_that_died_is_counted_out_when_its_leases_expire(
    store: InMemoryCommitStore, checkpoints: InMemoryCheckpointStore
) -> None:
    leases, log = InMemoryLeaseStore(), Log()
    # A member that holds half the units and then dies: its leases are never renewed.
    assert leases.acquire("p#g12#members", 0, "ghost", 3.0)
    for unit in range(6, 12):
        assert leases.acquire("p#g12", unit, "ghost", 3.0)
    granted = time.monotonic()
    time.sleep(0.5)  # the survivor's counts (every second) fall half a second after expiries
    survivor = member("m1", log, store, checkpoints, leases, lease_ttl=3.0)
    survivor.start(watch=True)
    try:
        wait_until(lambda: held_by(leases) == {"ghost": 6, "m1": 6})  # its share of two
        wait_until(lambda: held_by(leases) == {"m1": 12})
        taken = time.monotonic() - granted
        fill(store, 120, keys=12)
        wait_until(lambda: sum(len(v) for v in log.by_aggregate.values()) >= 120)
    finally:
        survivor.stop()
    # The ttl, then a count just after the ghost's member lease expired, then one poll; not
    # at the next count of the period (a third of the ttl), half a second later.
    assert 3.0 <= taken < 3.0 + 0.3
    assert survivor.error is None


def test_a_member_whose_handlers_wait_reads_the_next_batch_while_it_handles_one(
    checkpoints: InMemoryCheckpointStore,
) -> None:
    store, leases, log = ReadsSeen(), InMemoryLeaseStore(), Log()
    fill(store, 600, keys=40)
    handle = log.handler("m0")

    def remote(commit: Commit) -> None:
        time.sleep(0.0005)  # a remote write
        handle(commit)  # type: ignore[operator]

    alone = Projector(
        {"Cart": remote}, name="p", owner="m0", commit_store=store, checkpoint_store=checkpoints,
        lease_store=leases, lease_ttl=0.6, slots=12, poll_interval=0.02, batch_size=50,
    )  # fmt: skip
    alone.run()
    assert sum(len(v) for v in log.by_aggregate.values()) == 600
    for key, versions in log.by_aggregate.items():
        assert versions == list(range(1, 16)), key  # each once, in order
    # Batches of 50 (one member holds every slot): 12 full reads; nearly all were made ahead,
    # in a reader thread, while the batch before was handled.
    ahead = [name for name in store.threads if name.startswith("ddbes-read-ahead")]
    assert len(ahead) >= 9


def test_a_member_handles_what_came_before_a_damaged_item_then_stops(
    checkpoints: InMemoryCheckpointStore,
) -> None:
    store, leases, log = ReadsSeen(damaged_after=130), InMemoryLeaseStore(), Log()
    fill(store, 200, keys=10)
    alone = member("m0", log, store, checkpoints, leases)
    with pytest.raises(CorruptItem):
        alone.run()
    assert sum(len(v) for v in log.by_aggregate.values()) == 130
