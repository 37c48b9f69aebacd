"""A reducer that raises: nothing is written, the instance is unchanged, the error names the event.

A reducer (or an upcaster) runs before a commit is written, so an event it rejects is never
stored; a stored event it rejects (appended blindly, or accepted by an older reducer) makes
``load``/``hydrate`` raise :class:`ReducerFailed` naming the commit, and an upcaster that rewrites
the event when it is read is the way forward.

The behaviours both APIs share (the instance put back where it was, conflicts, retried commands)
are tested once, for each API, in ``tests/behaviour/test_reducer_failures.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from ddbes import Aggregate, Commit, aggregate_command
from ddbes.errors import InvalidEvent, ReducerFailed, StoreUnavailable, VersionConflict
from ddbes.memory import InMemoryCommitStore, InMemorySnapshotStore


class Boom(Aggregate):
    """Sums ``n``; a ``Bad`` event divides by zero."""

    @staticmethod
    def reducer(state: Any, event: dict[str, Any], commit: Commit) -> Any:
        if event["type"] == "Bad":
            return 1 / 0
        return (state or 0) + event.get("n", 1)


class Ledger(Aggregate):
    """Keyed, with a reducer that mutates its state in place before it can raise."""

    key_schema = ("id",)

    @staticmethod
    def reducer(state: Any, event: dict[str, Any], commit: Commit) -> Any:
        state = state if state is not None else {"entries": [], "total": 0}
        state["entries"].append(event["type"])  # in place, before the check below
        if event["type"] == "Bad":
            raise ValueError("a Bad entry is refused")
        if event["type"] == "Withdrawn":
            if event["amount"] > state["total"]:
                raise ValueError(f"cannot withdraw {event['amount']} of {state['total']}")
            state["total"] -= event["amount"]
            return state
        state["total"] += event.get("amount", 0)
        return state

    def create(self, id: str, amount: int = 0) -> Ledger:
        return self.commit({"type": "Opened", "amount": amount})

    @aggregate_command(retry=True)
    def post(self, event_type: str, amount: int = 0) -> Ledger:
        return self.commit({"type": event_type, "amount": amount})


def stored(store: InMemoryCommitStore, aggregate_type: str, key: str = "@") -> list[Commit]:
    return list(store.read_commits(aggregate_type, key))


def test_a_reducer_that_raises_writes_nothing_and_names_the_event(
    store: InMemoryCommitStore,
) -> None:
    boom = Boom.load()
    assert boom is not None
    boom.commit({"type": "Good", "n": 2})
    with pytest.raises(ReducerFailed) as caught:
        boom.commit([{"type": "Good"}, {"type": "Bad"}])
    error = caught.value
    assert isinstance(error.__cause__, ZeroDivisionError)
    assert (error.aggregate_id, error.version, error.event_type, error.event_index) == (
        "Boom:@",
        2,
        "Bad",
        1,
    )
    assert error.stored is False and error.commit_id is None
    assert "nothing was written" in str(error) and "ZeroDivisionError" in str(error)
    assert [c.version for c in stored(store, "Boom")] == [1]
    assert (boom.version, boom.state) == (1, 2)
    assert boom.commit({"type": "Good"}).state == 3  # the instance goes on committing
    loaded = Boom.load()
    assert loaded is not None and (loaded.version, loaded.state) == (2, 3)


def test_create_and_load_or_create_write_nothing_when_the_reducer_raises(
    store: InMemoryCommitStore,
) -> None:
    class Picky(Aggregate):
        key_schema = ("id",)

        @staticmethod
        def reducer(state: Any, event: dict[str, Any], commit: Commit) -> Any:
            if not event.get("name"):
                raise KeyError("name")
            return {"name": event["name"]}

        def create(self, id: str, name: str = "") -> Any:
            return self.commit({"type": "Created", "name": name})

    with pytest.raises(ReducerFailed) as caught:
        Picky.create(id="p")
    assert isinstance(caught.value.__cause__, KeyError)
    with pytest.raises(ReducerFailed):
        Picky.load_or_create(id="p")
    assert Picky.load("p") is None
    assert Picky.load_or_create(id="p", name="Ada").state == {"name": "Ada"}


def test_load_of_a_stored_event_the_reducer_rejects_names_the_commit(
    store: InMemoryCommitStore,
) -> None:
    Boom.append({"type": "Good"})
    bad = Boom.append({"type": "Bad"})  # a blind append runs no reducer
    with pytest.raises(ReducerFailed) as caught:
        Boom.load()
    error = caught.value
    assert error.stored is True
    assert (error.aggregate_id, error.version, error.commit_id) == ("Boom:@", 2, bad.commit_id)
    assert (error.event_type, error.event_index) == ("Bad", 0)
    assert isinstance(error.__cause__, ZeroDivisionError)
    message = str(error)
    assert bad.commit_id in message and "upcaster" in message and "version 2" in message
    before = Boom.load(version=1)  # the history before it still loads
    assert before is not None and before.state == 1
    with pytest.raises(ReducerFailed):
        Boom.load_or_create()  # a failed load is never mistaken for a missing aggregate


def test_an_upcaster_rewrites_a_rejected_event_when_it_is_read(
    store: InMemoryCommitStore, snapshot_store: InMemorySnapshotStore
) -> None:
    class Account(Aggregate):
        key_schema = ("id",)

        @staticmethod
        def reducer(state: Any, event: dict[str, Any], commit: Commit) -> Any:
            return (state or 0) + event["amount"]

    Account.append({"type": "Deposited", "amount": 5}, key="acc")
    Account.append({"type": "Deposited", "amount": "12"}, key="acc")  # an old client's bug
    with pytest.raises(ReducerFailed) as caught:
        Account.load("acc")
    assert isinstance(caught.value.__cause__, TypeError)

    class FixedAccount(Account):
        aggregate_type = "Account"
        upcasters = {"Deposited": {0: lambda e: {**e, "amount": int(e["amount"])}}}

    fixed = FixedAccount.load("acc")
    assert fixed is not None and fixed.state == 17
    assert fixed.commit({"type": "Deposited", "amount": 3}).state == 20
    snapshotting = FixedAccount.using(snapshots=True, snapshot_store=snapshot_store)
    loaded = snapshotting.load("acc")
    assert loaded is not None and loaded.state == 20
    [raw] = stored(store, "Account", "acc")[1].events
    assert raw == {"type": "Deposited", "amount": "12"}  # history itself is never rewritten


def test_an_upcaster_that_raises_is_reported_like_the_reducer(
    store: InMemoryCommitStore,
) -> None:
    class Strict(Aggregate):
        upcasters = {"Added": {0: lambda e: {**e, "n": int(e["n"])}}}

        @staticmethod
        def reducer(state: Any, event: dict[str, Any], commit: Commit) -> Any:
            return (state or 0) + event["n"]

    with pytest.raises(ReducerFailed) as caught:
        Strict.load().commit({"type": "Added", "n": "x"})  # type: ignore[union-attr]
    assert isinstance(caught.value.__cause__, ValueError)
    assert "upcaster" in str(caught.value)
    assert stored(store, "Strict") == []


def test_an_upcaster_chain_with_a_hole_names_the_commit_on_load(
    store: InMemoryCommitStore,
) -> None:
    class Holey(Aggregate):
        upcasters = {"Added": {1: lambda e: e}}

        @staticmethod
        def reducer(state: Any, event: dict[str, Any], commit: Commit) -> Any:
            return event

    commit = Holey.append({"type": "Added"})
    with pytest.raises(InvalidEvent) as caught:
        Holey.load()
    assert any(commit.commit_id in note for note in caught.value.__notes__)


def test_snapshots_are_not_written_for_a_rejected_commit_and_load_names_the_commit(
    store: InMemoryCommitStore, snapshot_store: InMemorySnapshotStore
) -> None:
    Snapshotted = Ledger.using(snapshots=True, snapshot_store=snapshot_store, snapshots_frequency=2)
    ledger = Snapshotted.create(id="s", amount=1)
    with pytest.raises(ReducerFailed):
        ledger.post("Bad")  # would have been version 2: a snapshot version
    assert snapshot_store.get("Ledger", "s") is None
    ledger.post("Deposited", 2)
    snapshot = snapshot_store.get("Ledger", "s")
    assert snapshot is not None and snapshot.version == 2
    Ledger.append({"type": "Bad"}, key="s")
    with pytest.raises(ReducerFailed) as caught:
        Snapshotted.load("s")
    assert caught.value.version == 3 and caught.value.stored is True
    with pytest.raises(ReducerFailed):
        ledger.hydrate()
    assert (ledger.version, ledger.state) == (2, {"entries": ["Opened", "Deposited"], "total": 3})


class _FailingReads(InMemoryCommitStore):
    """An in-memory store whose reads can be made to fail (a store that went away)."""

    failing = False

    def read_commits(self, *args: Any, **kwargs: Any) -> Iterator[Commit]:
        if self.failing:
            raise StoreUnavailable("reads are down")
        return super().read_commits(*args, **kwargs)


def test_an_instance_that_cannot_be_rebuilt_is_emptied_not_half_applied(
    caplog: pytest.LogCaptureFixture,
) -> None:
    failing = _FailingReads()
    Flaky = Ledger.using(commit_store=failing)
    ledger = Flaky.create(id="f", amount=2)
    failing.failing = True
    with caplog.at_level(logging.WARNING), pytest.raises(ReducerFailed):
        ledger.post("Bad")
    assert (ledger.version, ledger.state, ledger.head_commit_id) == (0, None, None)
    assert "Ledger:f" in caplog.text and "hydrate" in caplog.text
    failing.failing = False
    assert ledger.hydrate().state == {"entries": ["Opened"], "total": 2}


def test_a_failed_commit_puts_a_scalar_state_back_without_reading() -> None:
    failing = _FailingReads()
    Bound = Boom.using(commit_store=failing)
    boom, stale = Bound.load(), Bound.load()
    assert boom is not None and stale is not None
    boom.commit({"type": "Good", "n": 2})
    failing.failing = True  # an int cannot change in place: nothing needs reading back
    with pytest.raises(ReducerFailed):
        boom.commit({"type": "Bad"})
    with pytest.raises(VersionConflict):
        stale.commit({"type": "Good"})
    assert (boom.version, boom.state, stale.version, stale.state) == (1, 2, 0, None)
