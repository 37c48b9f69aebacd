"""The behaviour of aggregates, once for both APIs (``api``) and every backend (``backend``)."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from ddbes import Commit, KeyPart, RetryPolicy, Snapshot
from ddbes.errors import (
    AggregateNotFound,
    ReducerFailed,
    RetriesExhausted,
    StoreUnavailable,
    VersionConflict,
)
from ddbes.memory import InMemorySnapshotStore
from ddbes.testing import ManualClock
from tests.behaviour.conftest import Backend
from tests.behaviour.kit import Api, Command


def _cart_reducer(state: Any, event: dict[str, Any], commit: Commit) -> Any:
    state = state or {"items": [], "account_id": None}
    if event["type"] == "Created":
        return {**state, "account_id": event["account_id"]}
    if event["type"] == "ItemAdded":
        return {**state, "items": [*state["items"], event["name"]]}
    if event["type"] == "Rejected":
        raise ValueError("the reducer rejects this event")
    return state


def _counter_reducer(state: Any, event: dict[str, Any], commit: Commit) -> Any:
    return (state or 0) + event.get("by", 1)


def _cart(api: Api, **attributes: Any) -> type[Any]:
    return api.aggregate(
        "Cart",
        key_schema=("account_id", KeyPart("store_id", optional=True)),
        reducer=_cart_reducer,
        create=lambda account_id, store_id=None: {"type": "Created", "account_id": account_id},
        commands={
            "add_item": Command(lambda state, name: {"type": "ItemAdded", "name": name}),
            "add_item_retried": Command(
                lambda state, name: {"type": "ItemAdded", "name": name}, retry=True
            ),
        },
        **attributes,
    )


def _counter(api: Api, **attributes: Any) -> type[Any]:
    return api.aggregate(
        "Counter",
        reducer=_counter_reducer,
        commands={"increment": Command(lambda state: {"type": "Incremented"}, retry=True)},
        **attributes,
    )


async def test_a_keyless_aggregate_loads_empty_then_applies_its_commits(
    api: Api, backend: Backend
) -> None:
    counter_class = _counter(api)
    counter = await api(counter_class.load())
    assert (counter.version, counter.state, counter.key) == (0, None, "@")
    assert counter.aggregate_id == "Counter:@"
    assert counter.head_commit_id is None and counter.head_committed_at is None
    await api(counter.commit({"type": "Incremented", "by": 2}))
    await api(counter.commit([{"type": "Incremented"}, {"type": "Incremented"}]))
    assert (counter.version, counter.state) == (2, 4)  # a commit of two events: one version
    loaded = await api(counter_class.load())
    assert (loaded.version, loaded.state, loaded.head_commit_id) == (
        2,
        4,
        counter.head_commit_id,
    )
    assert [c.version for c in backend.commit_stores["sync"].read_commits("Counter", "@")] == [
        1,
        2,
    ]


async def test_state_sees_events_as_storage_returns_them(api: Api) -> None:
    moment = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
    log_class = api.aggregate("Log", reducer=lambda state, event, commit: [*(state or []), event])
    log = await api(log_class.load())
    await api(log.commit({"type": "At", "when": moment, "day": date(2024, 5, 1), "t": (1, 2)}))
    assert log.state == [
        {"type": "At", "when": "2024-05-01T12:30:00.000000Z", "day": "2024-05-01", "t": [1, 2]}
    ]
    assert await api(log_class.get_state()) == log.state


async def test_a_keyed_aggregate_is_created_loaded_and_missing(api: Api, backend: Backend) -> None:
    cart_class = _cart(api)
    cart = await api(cart_class.create(account_id="acc", store_id="s1"))
    assert (cart.key, cart.version, cart.state["account_id"]) == ("acc.s1", 1, "acc")
    await api(cart.add_item("apple"))
    loaded = await api(cart_class.load({"account_id": "acc", "store_id": "s1"}))
    assert loaded.state["items"] == ["apple"] and loaded.aggregate_id == "Cart:acc.s1"
    assert (await api(cart_class.load("acc.s1"))).version == 2
    assert await api(cart_class.load("nobody")) is None
    assert await api(cart_class.get_state("nobody")) is None
    assert await api(cart_class.get_state("acc.s1")) == loaded.state
    with pytest.raises(AggregateNotFound, match="Cart with key 'nobody' does not exist"):
        await api(cart_class.load("nobody", fail=True))
    with pytest.raises(VersionConflict):
        await api(cart_class.create(account_id="acc", store_id="s1"))
    assert [c.version for c in backend.commit_stores["sync"].read_commits("Cart", "acc.s1")] == [
        1,
        2,
    ]


async def test_a_stale_instance_conflicts_and_retry_rehydrates_it(api: Api) -> None:
    cart_class = _cart(api)
    await api(cart_class.create(account_id="a"))
    first = await api(cart_class.load("a"))
    second = await api(cart_class.load("a"))
    await api(first.add_item("apple"))
    with pytest.raises(VersionConflict) as conflict:
        await api(second.add_item("pear"))
    assert (conflict.value.aggregate_id, conflict.value.version) == ("Cart:a", 2)
    assert second.version == 1  # nothing changed
    await api(second.commit({"type": "ItemAdded", "name": "pear"}, retry=True))
    assert second.version == 3 and second.state["items"] == ["apple", "pear"]
    await api(first.add_item_retried("plum"))
    final = await api(cart_class.load("a"))
    assert final.state["items"] == ["apple", "pear", "plum"] and final.version == 4


async def test_concurrent_retried_commands_lose_nothing(api: Api) -> None:
    counter_class = _counter(api)

    async def increment_a_fresh_instance(_: int) -> None:
        counter = await api(counter_class.load())
        await api(counter.increment())

    await api.concurrently(8, increment_a_fresh_instance)
    loaded = await api(counter_class.load())
    assert (loaded.version, loaded.state) == (8, 8)


def _sneaky(api: Api, backend: Backend, policy: RetryPolicy, **attributes: Any) -> type[Any]:
    """A counter whose every attempt loses the race: another writer (through the backend's
    sync store) takes its version first."""
    other_writer = backend.commit_stores["sync"]

    def decide(state: Any) -> dict[str, Any]:
        head = next(other_writer.read_commits("Counter", "@", descending=True, limit=1), None)
        version = head.version + 1 if head else 1
        other_writer.append(
            Commit(
                commit_id=f"other-{version}",
                aggregate_type="Counter",
                aggregate_key="@",
                version=version,
                committed_at=head.committed_at if head else ManualClock().now(),
                events=({"type": "Incremented"},),
            )
        )
        return {"type": "Incremented"}

    return api.aggregate(
        "Counter",
        reducer=_counter_reducer,
        commands={"increment": Command(decide, retry=policy)},
        **attributes,
    )


async def test_retries_exhausted_lists_every_conflict(api: Api, backend: Backend) -> None:
    policy = RetryPolicy(max_attempts=3, initial_delay=0.5, backoff=1.0)
    counter = await api(_sneaky(api, backend, policy).load())
    with pytest.raises(RetriesExhausted) as exhausted:
        await api(counter.increment())
    assert len(exhausted.value.errors) == 3
    assert all(isinstance(e, VersionConflict) for e in exhausted.value.errors)


async def test_the_commit_deadline_cuts_conflict_retries(
    api: Api, backend: Backend, clock: ManualClock
) -> None:
    patient = RetryPolicy(max_attempts=1000, initial_delay=1.0, backoff=1.0)
    counter = await api(_sneaky(api, backend, patient, commit_timeout=3.0).load())
    start = clock.monotonic()
    with pytest.raises(RetriesExhausted) as exhausted:
        await api(counter.increment())
    assert clock.monotonic() - start <= 3.0  # the pauses went through the clock
    assert any("deadline" in note for note in getattr(exhausted.value, "__notes__", []))


async def test_load_at_a_version_or_a_time(api: Api, clock: ManualClock) -> None:
    cart_class = _cart(api)
    cart = await api(cart_class.create(account_id="t"))
    clock.advance(timedelta(minutes=1))
    await api(cart.add_item("a"))
    middle = clock.now()
    clock.advance(timedelta(minutes=1))
    await api(cart.add_item("b"))
    assert (await api(cart_class.load("t", version=2))).state["items"] == ["a"]
    assert (await api(cart_class.load("t", version=99))).version == 3
    assert (await api(cart_class.load("t", time=middle))).version == 2
    assert (await api(cart_class.load("t", time=middle.isoformat()))).version == 2
    assert await api(cart_class.load("t", time="2019-01-01T00:00:00Z")) is None
    instance = await api(cart_class.load("t"))
    await api(instance.hydrate(version=1))
    assert instance.version == 1 and instance.state["items"] == []
    await api(instance.hydrate())
    assert instance.version == 3
    await api(instance.hydrate(time=middle))
    assert instance.version == 2
    with pytest.raises(ValueError):
        await api(cart_class.load("t", version=-1))
    with pytest.raises(ValueError, match="time zone"):
        await api(cart_class.load("t", time=datetime(2024, 1, 1)))


async def test_committed_at_never_goes_backwards(
    api: Api, backend: Backend, clock: ManualClock
) -> None:
    counter = await api(_counter(api).load())
    await api(counter.increment())
    first = counter.head_committed_at
    clock.advance(timedelta(seconds=-30))
    await api(counter.increment())
    assert counter.head_committed_at == first
    times = [c.committed_at for c in backend.commit_stores["sync"].read_commits("Counter", "@")]
    assert times == sorted(times)


async def test_append_is_blind_and_instances_lists_every_aggregate(api: Api) -> None:
    cart_class = _cart(api)
    for account in ("c", "a", "b"):
        await api(cart_class.create(account_id=account))
    stored = await api(cart_class.append([{"type": "ItemAdded", "name": "x"}], "a"))
    assert (stored.version, stored.aggregate_id) == (2, "Cart:a")
    assert (await api(cart_class.load("a"))).state["items"] == ["x"]
    by_props = await api(cart_class.append({"type": "ItemAdded", "name": "y"}, {"account_id": "a"}))
    assert by_props.version == 3
    carts = await api.list(cart_class.instances())
    assert [(c.key, c.version) for c in carts] == [("a", 3), ("b", 1), ("c", 1)]


async def test_load_or_create_creates_once(api: Api, backend: Backend) -> None:
    cart_class = _cart(api)
    created = await api(cart_class.load_or_create(account_id="a"))
    again = await api(cart_class.load_or_create(account_id="a"))
    assert created.version == again.version == 1
    assert len(list(backend.commit_stores["sync"].read_commits("Cart", "a"))) == 1


@pytest.fixture(params=[False, True], ids=["get-then-read", "in-parallel"])
def parallel(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Both ways a load can fetch its snapshot (see ddbes.aggregates.snapshot_loading)."""
    monkeypatch.setattr(InMemorySnapshotStore, "fetch_in_parallel", request.param)
    return bool(request.param)


class Unreachable(InMemorySnapshotStore):
    def get(self, aggregate_type: str, aggregate_key: str) -> Snapshot | None:
        raise StoreUnavailable("snapshot bucket unreachable")

    def put(self, snapshot: Snapshot) -> None:
        raise StoreUnavailable("snapshot bucket unreachable")


async def test_an_unreachable_snapshot_store_never_fails_a_commit_or_a_load(
    api: Api, backend: Backend, parallel: bool, caplog: pytest.LogCaptureFixture
) -> None:
    counter_class = _counter(
        api, snapshots=True, snapshots_frequency=5, snapshot_store=Unreachable()
    )
    with caplog.at_level(logging.WARNING, logger="ddbes"):
        counter = await api(counter_class.load())
        for _ in range(10):
            await api(counter.increment())
        loaded = await api(counter_class.load())
    await backend.flush_log()
    assert counter.version == 10 and backend.commit_stores["sync"].head_position() == 10
    assert loaded.state == counter.state == 10
    assert "could not write the snapshot of Counter:@ at version 10" in caplog.text
    assert "snapshot bucket unreachable" in caplog.text


async def test_snapshots_are_written_every_frequency_and_loads_use_them(
    api: Api, backend: Backend, parallel: bool
) -> None:
    counter_class = _counter(api, snapshots=True, snapshots_frequency=3)
    counter = await api(counter_class.load())
    for _ in range(7):
        await api(counter.increment())
    snapshot = await api(backend.snapshots(api).get("Counter", "@"))
    assert snapshot is not None and (snapshot.version, snapshot.state) == (6, 6)
    loaded = await api(counter_class.load())
    assert (loaded.version, loaded.state, loaded.head_commit_id) == (
        7,
        7,
        counter.head_commit_id,
    )
    await api(loaded.write_snapshot())
    latest = await api(backend.snapshots(api).get("Counter", "@"))
    assert latest is not None and latest.version == 7


async def test_an_event_the_reducer_rejects_is_never_written(api: Api) -> None:
    cart_class = _cart(api)
    cart = await api(cart_class.create(account_id="a"))
    with pytest.raises(ReducerFailed):
        await api(cart.commit({"type": "Rejected"}))
    assert cart.version == 1
    assert (await api(cart_class.load("a"))).version == 1


async def test_upcasters_apply_when_events_are_read(api: Api) -> None:
    def reducer(state: Any, event: dict[str, Any], commit: Commit) -> Any:
        return [*(state or []), event["name"]]

    old = api.aggregate("Named", reducer=reducer)
    await api(old.append({"type": "Named", "name": "  ada "}))
    new = api.aggregate(
        "Named",
        reducer=reducer,
        upcasters={"Named": {0: lambda e: {**e, "name": e["name"].strip()}}},
    )
    assert await api(new.get_state()) == ["ada"]


async def test_both_apis_share_one_store(
    api: Api, backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    mine = _cart(api)
    theirs = _cart(api.other, commit_store=backend.commits(api.other))
    cart = await api(mine.create(account_id="a"))
    await api(cart.add_item("apple"))
    seen = await api.other(theirs.load("a"))
    assert seen.state == cart.state and seen.head_commit_id == cart.head_commit_id
    await api.other(seen.add_item("pear"))
    with caplog.at_level(logging.WARNING, logger="ddbes"):
        await api(cart.hydrate())
    assert cart.state["items"] == ["apple", "pear"]
