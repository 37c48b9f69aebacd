"""Consumer groups: projectors of one name share a log partition by aggregate hash."""

from __future__ import annotations

import threading
import time
from collections import defaultdict

import pytest

from ddbes.memory import InMemoryCheckpointStore, InMemoryCommitStore
from ddbes.model import Commit
from ddbes.projection._group import slot_of
from ddbes.projection.leases import InMemoryLeaseStore
from ddbes.projection.projector import Projector
from tests.projector.helpers import commit, fill


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

    def held() -> dict[str, int]:
        owners: dict[str, int] = defaultdict(int)
        for unit in range(12):
            lease = leases.holder("p#g12", unit)
            if lease is not None:
                owners[lease.owner] += 1
        return owners

    for m in members:
        m.start(watch=True)
    try:
        wait_until(lambda: sorted(held().values()) == [4, 4, 4])  # rebalanced as they joined
        fill(store, 600, keys=30)
        wait_until(lambda: sum(len(v) for v in log.by_aggregate.values()) >= 600)
        wait_until(lambda: all(m.progress.positions for m in members))
        members[0].stop()  # leaves: the others take its slots over
        wait_until(lambda: sorted(held().values()) == [6, 6])
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
