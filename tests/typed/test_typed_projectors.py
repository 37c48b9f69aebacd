"""Projector handlers with event classes: they receive each commit's events upcast and decoded,
as an aggregate's reducer does; an event that fits no class fails its commit, naming it, and
is parked like any handler failure under on_failure="park"."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from ddbes import Aggregate, Commit, Projector
from ddbes.errors import InvalidEvent, ProjectionFailed
from ddbes.memory import InMemoryCheckpointStore, InMemoryCommitStore
from ddbes.retry import RetryPolicy
from ddbes.typed_events import EventTypes
from tests.typed.test_typed_aggregates import Account, Deposited, Opened
from tests.ws.conftest import Log

SLOW_RETRIES = RetryPolicy(max_attempts=5, initial_delay=10.0, backoff=1.0, max_delay=10.0)
"""A retried handler would make a test take minutes: a bad event is never retried."""


def _projector(store: InMemoryCommitStore, handlers: dict[str, Any], **options: Any) -> Projector:
    options.setdefault("retry", SLOW_RETRIES)
    options.setdefault("checkpoint_store", InMemoryCheckpointStore())
    return Projector(handlers, name="typed", commit_store=store, **options)


def test_handlers_receive_instances_upcast_first() -> None:
    store = InMemoryCommitStore()
    log = Log(store)
    log.commit("Account", {"type": "Opened", "owner": "ann"}, metadata={"user": "u1"})
    log.commit("Account", {"type": "Deposited", "cents": 250})  # version 0: cents
    seen: list[Commit] = []

    def cents_to_amount(event: dict[str, Any]) -> dict[str, Any]:
        return {"type": "Deposited", "amount": str(Decimal(event.pop("cents")) / 100)}

    _projector(
        store, {"Account": seen.append}, event_types=[Opened, Deposited],
        upcasters={"Deposited": {0: cents_to_amount}},
    ).run()  # fmt: skip

    assert [c.events for c in seen] == [(Opened("ann"),), (Deposited(Decimal("2.50")),)]
    assert seen[0].metadata == {"user": "u1"} and seen[1].version == 2
    assert [c.events[0] for c in store.read_log()][1] == {"type": "Deposited", "cents": 250}


def test_a_mapping_decodes_each_aggregate_type_its_own_way() -> None:
    store = InMemoryCommitStore()
    log = Log(store)
    log.commit("Account", {"type": "Deposited", "amount": "1.5"})
    log.commit("Note", {"type": "Written", "text": "hi"})
    seen: list[Any] = []

    _projector(
        store, {"*": lambda commit: seen.extend(commit.events)},
        event_types={"Account": Account},  # the aggregate class: its classes and upcasters
    ).run()  # fmt: skip

    assert seen == [Deposited(Decimal("1.5")), {"type": "Written", "text": "hi"}]


def test_an_event_of_no_declared_class_stops_the_projector_naming_the_commit() -> None:
    store = InMemoryCommitStore()
    log = Log(store)
    log.commit("Account", {"type": "Opened", "owner": "ann"})
    bad = log.commit("Account", {"type": "Closed"})
    seen: list[Commit] = []
    projector = _projector(store, {"Account": seen.append}, event_types=EventTypes(Opened))

    with pytest.raises(ProjectionFailed) as raised:
        projector.run()

    assert len(seen) == 1
    message = str(raised.value)
    assert bad.commit_id in message and "Account:@ version 2" in message
    assert "'Closed'" in message and "stopped" in message
    assert isinstance(raised.value.__cause__, InvalidEvent)
    assert (raised.value.position, raised.value.version) == (2, 2)
    assert projector.progress.positions == {0: 1}


def test_data_that_does_not_fit_its_class_is_parked_and_retried_once_fixed() -> None:
    store = InMemoryCommitStore()
    log = Log(store)
    bad = log.commit("Account", {"type": "Opened"}, key="a1")  # no owner
    log.commit("Account", {"type": "Opened", "owner": "bob"}, key="a2")
    log.commit("Account", {"type": "Deposited", "amount": "3"}, key="a1")  # held back
    seen: list[Commit] = []
    checkpoints = InMemoryCheckpointStore()
    projector = _projector(
        store, {"Account": seen.append}, event_types=Account.event_types, on_failure="park",
        checkpoint_store=checkpoints,
    )  # fmt: skip

    projector.run()

    assert [c.aggregate_key for c in seen] == ["a2"]
    (parked,) = projector.parked()
    assert (parked.commit_id, parked.held) == (bad.commit_id, 1)
    assert "does not fit Opened" in parked.error

    fixed = _projector(
        store, {"Account": seen.append}, event_types=Account.event_types, on_failure="park",
        upcasters={"Opened": {0: lambda event: {"owner": "unknown", **event}}},
        checkpoint_store=checkpoints,
    )  # fmt: skip
    assert fixed.retry() == []  # the class's data now fits: unparked
    assert [(c.aggregate_key, c.events) for c in seen[1:]] == [
        ("a1", (Opened("unknown"),)),
        ("a1", (Deposited(Decimal(3)),)),
    ]


def test_bad_event_types_are_refused() -> None:
    store = InMemoryCommitStore()
    for bad in ("Opened", [1], {"Account": "Opened"}, {3: [Opened]}):
        with pytest.raises(TypeError):
            _projector(store, {"*": print}, event_types=bad)
    with pytest.raises(TypeError):
        _projector(store, {"*": print}, upcasters=[1])


class Plain(Aggregate):
    key_schema = ("id",)


def test_an_aggregate_without_event_types_gives_upcast_dicts() -> None:
    store = InMemoryCommitStore()
    Log(store).commit("Plain", {"type": "Made"})
    Plain.upcasters = {"Made": {0: lambda event: {**event, "how": "upcast"}}}
    seen: list[Any] = []
    try:
        _projector(store, {"Plain": seen.append}, event_types={"Plain": Plain}).run()
    finally:
        del Plain.upcasters
    assert seen[0].events == ({"type": "Made", "how": "upcast", "version": 1},)
