"""Aggregate behaviour specific to the sync API and the class definition (keys, configuration,
threads). What both APIs share is tested once, for each, in tests/behaviour."""

from __future__ import annotations

import threading
from typing import Any

import pytest

import ddbes
from ddbes import Aggregate, Commit, KeyPart, aggregate_command
from ddbes.errors import (
    CommitInProgress,
    ConfigurationError,
    InvalidEvent,
)
from ddbes.memory import InMemoryCommitStore

from .aggregates import Cart, Counter


def test_optional_key_part_may_be_missing(store: InMemoryCommitStore) -> None:
    cart = Cart.create(account_id="acc")
    assert cart.key == "acc"
    assert cart.state["account_id"] == "acc"


def test_missing_required_key_part_is_a_value_error(store: InMemoryCommitStore) -> None:
    with pytest.raises(ValueError, match="missing required key property: account_id"):
        Cart.create(store_id="s")
    with pytest.raises(ValueError, match="needs a key"):
        Cart.load()
    assert store.head_position() == 0


def test_key_parts_containing_the_separator_never_collide(store: InMemoryCommitStore) -> None:
    first = Cart.create(account_id="a.b", store_id="c")
    second = Cart.create(account_id="a", store_id="b.c")
    assert first.key != second.key
    assert Cart.load(first.key).state["account_id"] == "a.b"  # type: ignore[union-attr]
    assert Cart.load(second.key).state["account_id"] == "a"  # type: ignore[union-attr]
    assert Cart.load({"account_id": "a.b", "store_id": "c"}).key == first.key  # type: ignore[union-attr]


def test_key_part_value_functions_receive_all_props(store: InMemoryCommitStore) -> None:
    class Tagged(Aggregate):
        key_schema = (KeyPart("slug", value=lambda p: p["title"].lower().replace(" ", "-")),)

        @staticmethod
        def reducer(state: Any, event: dict[str, Any], commit: Commit) -> Any:
            return event["title"]

        def create(self, title: str, slug: str) -> Tagged:
            return self.commit({"type": "Created", "title": title})

    tagged = Tagged.create(title="Hello World")
    assert tagged.key == "hello-world" and tagged.state == "Hello World"


def test_commit_in_progress(store: InMemoryCommitStore) -> None:
    class Reentrant(Aggregate):
        @staticmethod
        def reducer(state: Any, event: dict[str, Any], commit: Commit) -> Any:
            return event

    instance = Reentrant.load()
    assert instance is not None
    entered = threading.Event()
    release = threading.Event()
    original = store.append

    def slow_append(commit: Commit) -> Commit:
        entered.set()
        release.wait(5)
        return original(commit)

    store.append = slow_append  # type: ignore[method-assign]
    worker = threading.Thread(target=instance.commit, args=({"type": "A"},))
    worker.start()
    assert entered.wait(5)
    with pytest.raises(CommitInProgress):
        instance.commit({"type": "B"})
    release.set()
    worker.join()
    assert instance.version == 1


def test_eight_threads_of_retried_commands_lose_nothing(store: InMemoryCommitStore) -> None:
    threads, per_thread = 8, 250
    failures: list[BaseException] = []

    def worker(index: int) -> None:
        counter = Counter.load()
        assert counter is not None
        try:
            for n in range(per_thread):
                counter.increment(f"{index}-{n}")
        except BaseException as exc:
            failures.append(exc)

    workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert not failures
    final = Counter.load()
    assert final is not None and final.version == threads * per_thread
    seen = final.state["seen"]
    assert len(seen) == len(set(seen)) == threads * per_thread
    assert [c.position for c in store.read_log()] == list(range(1, threads * per_thread + 1))


def test_upcasters_chain_by_event_version(store: InMemoryCommitStore) -> None:
    class Item(Aggregate):
        upcasters = {
            "Added": {
                0: lambda e: {**e, "name": e["name"].strip()},
                1: lambda e: {**e, "qty": e.get("qty", 1)},
            }
        }

        @staticmethod
        def reducer(state: Any, event: dict[str, Any], commit: Commit) -> Any:
            return [*(state or []), event]

    Item.append({"type": "Added", "name": "  old  "})
    Item.append({"type": "Added", "name": "v1 ", "version": 1})
    Item.append({"type": "Added", "name": "new", "qty": 5, "version": 2})
    state = Item.get_state()
    assert state == [
        {"type": "Added", "name": "old", "qty": 1, "version": 2},
        {"type": "Added", "name": "v1 ", "qty": 1, "version": 2},
        {"type": "Added", "name": "new", "qty": 5, "version": 2},
    ]
    stored = [c.events[0] for c in store.read_commits("Item", "@")]
    assert stored[0] == {"type": "Added", "name": "  old  "}  # history is never rewritten


def test_commands_attached_from_another_module(store: InMemoryCommitStore) -> None:
    def rename(self: Any, name: str) -> Any:
        return self.commit({"type": "Renamed", "name": name})

    class Profile(Aggregate):
        @staticmethod
        def reducer(state: Any, event: dict[str, Any], commit: Commit) -> Any:
            return event["name"]

    Profile.rename = aggregate_command(rename, retry=True)  # type: ignore[attr-defined]
    profile = Profile.load()
    assert profile is not None
    profile.rename("x")  # type: ignore[attr-defined]
    assert Profile.get_state() == "x"


@pytest.mark.parametrize(
    "bad",
    [
        {"name": "no type"},
        {"type": ""},
        {"type": 5},
        "Created",
        [],
        [{"type": "A"}, "B"],
        {"type": "A", "x": object()},
        {"type": "A", "x": float("nan")},
        {"type": "A", "x": {1, 2}},
        {"type": "A", 1: "int key"},
        None,
    ],
)
def test_invalid_events_are_refused_before_anything_is_written(
    store: InMemoryCommitStore, bad: Any
) -> None:
    counter = Counter.load()
    assert counter is not None
    with pytest.raises(InvalidEvent):
        counter.commit(bad)
    with pytest.raises(InvalidEvent):
        Counter.append(bad)
    assert store.head_position() == 0 and counter.version == 0


def test_no_commit_store_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match=r"ddbes.config.update\(commit_store="):
        Counter.load()
    with pytest.raises(ConfigurationError):
        Cart.create(account_id="a")
    with pytest.raises(ConfigurationError):
        Counter.append({"type": "X"})


def test_unknown_option_names_are_type_errors() -> None:
    with pytest.raises(TypeError, match="commmit_store"):
        ddbes.config.update(commmit_store=None)
    with pytest.raises(TypeError):
        Counter.using(snapshot=True)
    with pytest.raises(TypeError):
        Counter(colour="red")
    with pytest.raises(ValueError, match="snapshots_frequency"):

        class Bad(Aggregate):
            snapshots_frequency = "often"


def test_snapshots_without_a_snapshot_store_is_a_configuration_error(
    store: InMemoryCommitStore,
) -> None:
    with pytest.raises(ConfigurationError, match="snapshot_store"):
        Counter.using(snapshots=True).load()
    ddbes.config.update(snapshots=True)
    with pytest.raises(ConfigurationError, match="snapshot_store"):
        Counter.append({"type": "Incremented", "id": "a"})
    assert store.head_position() == 0
    with pytest.raises(ValueError):
        ddbes.config.update(snapshots_frequency=0)


def test_configuration_levels_most_specific_wins() -> None:
    global_store, class_store, use_store = (
        InMemoryCommitStore(),
        InMemoryCommitStore(),
        InMemoryCommitStore(),
    )
    ddbes.config.update(commit_store=global_store)

    class Pinned(Counter):
        commit_store = class_store

    class Inherits(Pinned):
        pass

    Counter.append({"type": "Incremented", "id": "g"})
    Pinned.append({"type": "Incremented", "id": "c"})
    Inherits.append({"type": "Incremented", "id": "i"})
    Pinned.using(commit_store=use_store).append({"type": "Incremented", "id": "u"})
    Counter(commit_store=use_store).commit({"type": "Incremented", "id": "u2"}, retry=True)
    assert global_store.head_position() == 1
    assert [c.aggregate_type for c in class_store.read_log()] == ["Pinned", "Inherits"]
    assert [c.aggregate_type for c in use_store.read_log()] == ["Pinned", "Counter"]
    assert Pinned.using(commit_store=use_store).aggregate_type == "Pinned"
    ddbes.config.reset()
    with pytest.raises(ConfigurationError):
        Counter.load()
    assert Pinned.load() is not None


def test_custom_aggregate_type_and_separator(store: InMemoryCommitStore) -> None:
    class Thing(Aggregate):
        aggregate_type = "things.Thing"
        key_schema = ("a", "b")
        key_separator = "/"

        @staticmethod
        def reducer(state: Any, event: dict[str, Any], commit: Commit) -> Any:
            return commit.aggregate_id

    commit = Thing.append({"type": "X"}, key={"a": "1", "b": "2/3"})
    assert commit.aggregate_key == "1/2\\/3"
    assert Thing.get_state(commit.aggregate_key) == "things.Thing:1/2\\/3"


def test_create_without_an_instance_create_method_explains(store: InMemoryCommitStore) -> None:
    class NoCreate(Aggregate):
        key_schema = ("id",)

        @staticmethod
        def reducer(state: Any, event: dict[str, Any], commit: Commit) -> Any:
            return state

    with pytest.raises(NotImplementedError, match="NoCreate has no instance method create"):
        NoCreate.create(id="1")
