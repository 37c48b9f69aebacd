"""A reducer that raises, once for both APIs: nothing is written, the instance is put back where
it was (even when the reducer changed its state in place), and the error names the event."""

from __future__ import annotations

from typing import Any

import pytest

from ddbes import Commit
from ddbes.errors import ReducerFailed, VersionConflict
from tests.behaviour.conftest import Backend
from tests.behaviour.kit import Api, Command


def _ledger_reducer(state: Any, event: dict[str, Any], commit: Commit) -> Any:
    state = state if state is not None else {"entries": [], "total": 0}
    state["entries"].append(event["type"])  # in place, before the checks below
    if event["type"] == "Bad":
        raise ValueError("a Bad entry is refused")
    if event["type"] == "Withdrawn":
        if event["amount"] > state["total"]:
            raise ValueError(f"cannot withdraw {event['amount']} of {state['total']}")
        state["total"] -= event["amount"]
        return state
    state["total"] += event.get("amount", 0)
    return state


def _ledger(api: Api) -> type[Any]:
    return api.aggregate(
        "Ledger",
        key_schema=("id",),
        reducer=_ledger_reducer,
        create=lambda id, amount=0: {"type": "Opened", "amount": amount},
        commands={
            "post": Command(
                lambda state, event_type, amount=0: {"type": event_type, "amount": amount},
                retry=True,
            )
        },
    )


def _versions(backend: Backend, key: str) -> list[int]:
    return [c.version for c in backend.commit_stores["sync"].read_commits("Ledger", key)]


async def test_a_reducer_that_mutates_in_place_then_raises_leaves_the_instance_unchanged(
    api: Api, backend: Backend
) -> None:
    ledger_class = _ledger(api)
    ledger = await api(ledger_class.create(id="a", amount=5))
    await api(ledger.post("Deposited", 10))
    before = (ledger.version, ledger.head_commit_id, ledger.head_committed_at)
    with pytest.raises(ReducerFailed) as caught:
        await api(ledger.post("Bad"))
    assert (caught.value.aggregate_id, caught.value.version) == ("Ledger:a", 3)
    assert caught.value.stored is False and "nothing was written" in str(caught.value)
    assert (ledger.version, ledger.head_commit_id, ledger.head_committed_at) == before
    assert ledger.state == {"entries": ["Opened", "Deposited"], "total": 15}
    assert _versions(backend, "a") == [1, 2]
    await api(ledger.post("Deposited", 1))
    assert ledger.state == {"entries": ["Opened", "Deposited", "Deposited"], "total": 16}
    assert await api(ledger_class.get_state("a")) == ledger.state


async def test_a_reducer_that_raises_on_a_fresh_instance_leaves_it_empty(api: Api) -> None:
    ledger_class = _ledger(api)
    fresh = ledger_class("c")
    with pytest.raises(ReducerFailed):
        await api(fresh.commit({"type": "Bad"}))
    assert (fresh.version, fresh.state, fresh.head_commit_id) == (0, None, None)
    assert await api(ledger_class.load("c")) is None


async def test_a_version_conflict_after_an_in_place_reducer_leaves_the_instance_unchanged(
    api: Api,
) -> None:
    ledger_class = _ledger(api)
    await api(ledger_class.create(id="a", amount=5))
    stale = await api(ledger_class.load("a"))
    await api((await api(ledger_class.load("a"))).post("Deposited", 10))
    with pytest.raises(VersionConflict):
        await api(stale.commit({"type": "Deposited", "amount": 1}))
    assert (stale.version, stale.state) == (1, {"entries": ["Opened"], "total": 5})
    await api(stale.commit({"type": "Deposited", "amount": 1}, retry=True))
    expected = {"entries": ["Opened", "Deposited", "Deposited"], "total": 16}
    assert stale.version == 3 and stale.state == expected
    assert await api(ledger_class.get_state("a")) == expected


async def test_a_retried_command_is_not_retried_when_the_reducer_raises(
    api: Api, backend: Backend
) -> None:
    ledger_class = _ledger(api)
    await api(ledger_class.create(id="a", amount=5))
    stale = await api(ledger_class.load("a"))
    await api((await api(ledger_class.load("a"))).post("Withdrawn", 5))
    with pytest.raises(ReducerFailed) as caught:
        await api(stale.post("Withdrawn", 5))  # conflicts, re-hydrates, then it is refused
    assert caught.value.version == 3 and "cannot withdraw 5 of 0" in str(caught.value)
    assert _versions(backend, "a") == [1, 2]
    assert (stale.version, stale.state) == (2, {"entries": ["Opened", "Withdrawn"], "total": 0})


async def test_hydrate_that_meets_a_rejected_stored_event_keeps_the_instance_where_it_was(
    api: Api,
) -> None:
    ledger_class = _ledger(api)
    ledger = await api(ledger_class.create(id="a", amount=4))
    bad = await api(ledger_class.append({"type": "Bad"}, key="a"))  # no reducer runs
    with pytest.raises(ReducerFailed) as caught:
        await api(ledger.hydrate())
    error = caught.value
    assert (error.version, error.stored, error.commit_id) == (2, True, bad.commit_id)
    assert (ledger.version, ledger.state) == (1, {"entries": ["Opened"], "total": 4})
    with pytest.raises(ReducerFailed):
        await api(ledger_class.load("a"))
    assert (await api(ledger_class.load("a", version=1))).state["total"] == 4
    with pytest.raises(ReducerFailed):
        await api(ledger_class.load_or_create(id="a"))  # never mistaken for a missing one
