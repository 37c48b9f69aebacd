"""Leases: the LeaseStore contract on every adapter, and projectors sharing work through them."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest

from ddbes.memory import InMemoryCheckpointStore, InMemoryCommitStore
from ddbes.model import Commit
from ddbes.projection.leases import InMemoryLeaseStore, LeaseKeeper, LeaseStore
from ddbes.projection.projector import Projector
from ddbes.testing import ManualClock
from tests.dynamodb.tables import DynamoDBTables
from tests.projector.helpers import T0, fill

LeaseStoreFactory = Callable[[ManualClock], LeaseStore]


@pytest.fixture(params=["memory", "dynamodb-local"])
def lease_store_factory(request: pytest.FixtureRequest) -> Iterator[LeaseStoreFactory]:
    if request.param == "memory":
        yield lambda clock: InMemoryLeaseStore(clock=clock)
        return
    from ddbes_dynamodb import DynamoDBLeaseStore

    tables = DynamoDBTables(request.getfixturevalue("dynamodb_local").endpoint_url)
    table = tables.commit_store().table_name
    try:
        yield lambda clock: DynamoDBLeaseStore(table, client=tables.client, clock=clock)
    finally:
        tables.delete_all()


def test_a_lease_is_held_by_one_owner_at_a_time(lease_store_factory: LeaseStoreFactory) -> None:
    clock = ManualClock(T0)
    store = lease_store_factory(clock)
    assert store.holder("idx", 0) is None
    assert store.acquire("idx", 0, "a", 10)
    assert not store.acquire("idx", 0, "b", 10)
    assert store.acquire("idx", 0, "a", 10)  # its own: kept (and renewed)
    lease = store.holder("idx", 0)
    assert lease is not None
    assert (lease.owner, lease.name, lease.log_partition) == ("a", "idx", 0)
    assert lease.expires_at == T0 + timedelta(seconds=10)


def test_an_expired_lease_can_be_taken_and_its_old_owner_cannot_renew_it(
    lease_store_factory: LeaseStoreFactory,
) -> None:
    clock = ManualClock(T0)
    store = lease_store_factory(clock)
    assert store.acquire("idx", 0, "a", 10)
    clock.advance(timedelta(seconds=6))
    assert store.renew("idx", 0, "a", 10)  # now until T0 + 16 s
    clock.advance(timedelta(seconds=9))
    assert not store.acquire("idx", 0, "b", 10)
    clock.advance(timedelta(seconds=1))
    assert store.holder("idx", 0) is None
    assert not store.renew("idx", 0, "a", 10)  # expired: renewing is not taking
    assert store.acquire("idx", 0, "b", 10)
    assert not store.renew("idx", 0, "a", 10)
    holder = store.holder("idx", 0)
    assert holder is not None and holder.owner == "b"


def test_release_frees_only_the_owners_lease(lease_store_factory: LeaseStoreFactory) -> None:
    store = lease_store_factory(ManualClock(T0))
    assert store.acquire("idx", 0, "a", 10)
    store.release("idx", 0, "b")  # not b's: nothing happens
    assert not store.acquire("idx", 0, "b", 10)
    store.release("idx", 0, "a")
    store.release("idx", 0, "a")  # twice is fine
    assert not store.renew("idx", 0, "a", 10)
    assert store.acquire("idx", 0, "b", 10)


def test_leases_of_other_names_and_partitions_are_independent(
    lease_store_factory: LeaseStoreFactory,
) -> None:
    store = lease_store_factory(ManualClock(T0))
    assert store.acquire("idx", 0, "a", 10)
    assert store.acquire("idx", 1, "b", 10)
    assert store.acquire("other", 0, "b", 10)
    assert store.acquire("idx:0", 0, "c", 10)
    store.release("idx", 1, "b")
    holder = store.holder("idx", 0)
    assert holder is not None and holder.owner == "a"


def test_holders_are_the_unexpired_leases_of_a_name(
    lease_store_factory: LeaseStoreFactory,
) -> None:
    clock = ManualClock(T0)
    store = lease_store_factory(clock)
    assert store.holders("idx", 4) == {}
    assert store.acquire("idx", 0, "a", 10)
    assert store.acquire("idx", 2, "b", 20)
    assert store.acquire("idx", 3, "c", 5)
    assert store.acquire("idx", 4, "d", 10)  # beyond the partitions asked for
    assert store.acquire("idx:0", 1, "e", 10)  # another name
    assert store.acquire("idx", 1, "f", 10)
    store.release("idx", 1, "f")
    clock.advance(timedelta(seconds=6))  # c's lease expired
    found = store.holders("idx", 4)
    assert found == {n: store.holder("idx", n) for n in (0, 2)}
    assert [lease.owner for lease in found.values()] == ["a", "b"]
    assert list(store.holders("idx", 10)) == [0, 2, 4]
    with pytest.raises(ValueError):
        store.holders("", 4)


def test_concurrent_acquires_have_one_winner(lease_store_factory: LeaseStoreFactory) -> None:
    store = lease_store_factory(ManualClock(T0))
    barrier = threading.Barrier(8)
    wins: list[str] = []

    def contend(owner: str) -> None:
        barrier.wait()
        if store.acquire("race", 3, owner, 10):
            wins.append(owner)

    threads = [threading.Thread(target=contend, args=(f"o{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(wins) == 1
    holder = store.holder("race", 3)
    assert holder is not None and holder.owner == wins[0]


@pytest.mark.parametrize(
    "arguments",
    [("", 0, "a", 1.0), ("idx", -1, "a", 1.0), ("idx", 0, "", 1.0), ("idx", 0, "a", 0.0)],
)
def test_bad_lease_arguments_are_refused(
    lease_store_factory: LeaseStoreFactory, arguments: tuple[str, int, str, float]
) -> None:
    store = lease_store_factory(ManualClock(T0))
    with pytest.raises(ValueError):
        store.acquire(*arguments)


def test_a_keeper_stops_trusting_a_lease_before_the_store_lets_it_go() -> None:
    clock = ManualClock(T0)
    store = InMemoryLeaseStore(clock=clock)
    keeper = LeaseKeeper(store, "idx", "a", ttl=8, clock=clock)
    assert keeper.acquire(0)
    assert keeper.valid(0)
    clock.advance(timedelta(seconds=6))  # 3/4 of the ttl: no longer safe to work
    assert not keeper.valid(0)
    assert not store.acquire("idx", 0, "b", 8)  # yet nobody else can have it
    clock.advance(timedelta(seconds=2))
    assert store.acquire("idx", 0, "b", 8)


def test_a_keeper_renews_due_leases_and_notices_a_lost_one() -> None:
    clock = ManualClock(T0)
    store = InMemoryLeaseStore(clock=clock)
    keeper = LeaseKeeper(store, "idx", "a", ttl=9, clock=clock)
    assert keeper.acquire(0) and keeper.acquire(1)
    clock.advance(timedelta(seconds=4))
    keeper.renew_due()
    clock.advance(timedelta(seconds=4))
    assert keeper.valid(0) and keeper.valid(1)  # 8 s after acquiring, renewed at 4 s
    store.release("idx", 1, "a")
    assert store.acquire("idx", 1, "b", 9)  # taken behind the keeper's back
    clock.advance(timedelta(seconds=3))
    keeper.renew_due()
    assert keeper.valid(0)
    assert not keeper.valid(1)
    keeper.release_all()
    assert store.holder("idx", 0) is None


def test_two_projectors_of_one_name_never_handle_a_commit_twice_or_together() -> None:
    store = InMemoryCommitStore(log_partitions=3)
    fill(store, 900, keys=30)
    checkpoints = InMemoryCheckpointStore()
    leases = InMemoryLeaseStore()
    lock = threading.Lock()
    handled: list[tuple[str, int, int]] = []
    busy: dict[int, str] = {}

    def handler(owner: str) -> Callable[[Commit], None]:
        def handle(c: Commit) -> None:
            with lock:
                assert c.log_partition not in busy, "two projectors on one partition"
                busy[c.log_partition] = owner
            time.sleep(0.0002)
            with lock:
                del busy[c.log_partition]
                handled.append((owner, c.log_partition, c.position or 0))

        return handle

    projectors = [
        Projector(
            {"*": handler(owner)},
            name="idx",
            commit_store=store,
            checkpoint_store=checkpoints,
            lease_store=leases,
            owner=owner,
            batch_size=20,
            poll_interval=0.01,
            lease_ttl=5,
        )
        for owner in ("a", "b")
    ]
    threads = [threading.Thread(target=p.run) for p in projectors]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert all(p.error is None for p in projectors)
    keys = sorted((partition, position) for _, partition, position in handled)
    expected = sorted(
        (p, position) for p in range(3) for position in range(1, store.head_position(p) + 1)
    )
    assert keys == expected  # every commit exactly once
    assert {p: checkpoints.get("idx", p) for p in range(3)} == {
        p: store.head_position(p) for p in range(3)
    }
    assert all(leases.holder("idx", p) is None for p in range(3))  # released at the end


def test_a_stopped_projector_hands_its_lease_over_at_once() -> None:
    clock = ManualClock(T0)  # never moves: no lease can expire
    store = InMemoryCommitStore()
    fill(store, 30)
    checkpoints = InMemoryCheckpointStore()
    leases = InMemoryLeaseStore(clock=clock)
    seen: dict[str, list[int]] = {"a": [], "b": []}

    def make(owner: str) -> Projector:
        return Projector(
            {"*": lambda c: seen[owner].append(c.position or 0)}, name="idx",
            commit_store=store, checkpoint_store=checkpoints, lease_store=leases, owner=owner,
            poll_interval=0.01, lease_ttl=10, clock=clock,
        )  # fmt: skip

    a, b = make("a"), make("b")
    a.start()
    deadline = time.monotonic() + 10
    while checkpoints.get("idx") < 30:
        assert time.monotonic() < deadline
        time.sleep(0.005)
    b.start()
    fill(store, 10, start=30)
    while checkpoints.get("idx") < 40:
        assert time.monotonic() < deadline
        time.sleep(0.005)
    time.sleep(0.05)
    assert seen["b"] == []  # a holds the lease and does the work
    a.stop()  # releases it
    fill(store, 10, start=40)
    while checkpoints.get("idx") < 50:
        assert time.monotonic() < deadline
        time.sleep(0.005)
    b.stop()

    assert seen["a"] == list(range(1, 41))
    assert seen["b"] == list(range(41, 51))
    assert a.error is None and b.error is None


def test_a_projector_that_loses_its_lease_stops_after_the_commit_in_hand() -> None:
    clock = ManualClock(T0)
    store = InMemoryCommitStore()
    fill(store, 20)
    checkpoints = InMemoryCheckpointStore()
    leases = InMemoryLeaseStore(clock=clock)
    seen: dict[str, list[int]] = {"a": [], "b": []}
    reached, gate = threading.Event(), threading.Event()

    def on_a(c: Commit) -> None:
        if c.position == 8:
            reached.set()
            gate.wait(10)  # stalls past its lease
        seen["a"].append(c.position or 0)

    def make(owner: str, handler: Callable[[Commit], None]) -> Projector:
        return Projector(
            {"*": handler}, name="idx", commit_store=store, checkpoint_store=checkpoints,
            lease_store=leases, owner=owner, batch_size=5, poll_interval=0.01, lease_ttl=10,
            clock=clock,
        )  # fmt: skip

    a = make("a", on_a)
    b = make("b", lambda c: seen["b"].append(c.position or 0))
    a.start()
    assert reached.wait(10)
    assert checkpoints.get("idx") == 5
    clock.advance(timedelta(seconds=11))
    b.start()
    deadline = time.monotonic() + 10
    while not seen["b"]:
        assert time.monotonic() < deadline
        time.sleep(0.005)
    gate.set()
    while checkpoints.get("idx") < 20:
        assert time.monotonic() < deadline
        time.sleep(0.005)
    a.stop()
    b.stop()

    assert seen["a"] == list(range(1, 9))  # finished the commit in hand, then stopped
    assert seen["b"] == list(range(6, 21))  # from the last checkpoint the lease covered
    assert a.error is None and b.error is None
