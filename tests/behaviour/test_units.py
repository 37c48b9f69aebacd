"""Atomic units across aggregates (``UnitOfWork`` / ``AsyncUnitOfWork``, ``unit_command``),
once for both APIs and every backend of the behaviour suite."""

from __future__ import annotations

from typing import Any

import pytest

import ddbes
from ddbes import Commit, KeyPart
from ddbes.errors import CommitTooLarge, ReducerFailed, RetriesExhausted, VersionConflict
from tests.behaviour.conftest import Backend
from tests.behaviour.kit import Api


def _reducer(state: Any, event: dict[str, Any], commit: Commit) -> Any:
    balance = (state or {}).get("balance", 0)
    if event["type"] == "Debited":
        if balance < event["amount"]:
            raise ValueError(f"insufficient funds: {balance} < {event['amount']}")
        balance -= event["amount"]
    elif event["type"] in ("Opened", "Credited"):
        balance += event.get("amount", 0)
    return {"balance": balance}


def _account(api: Api) -> type[Any]:
    return api.aggregate(
        "Account",
        key_schema=(KeyPart("id"),),
        reducer=_reducer,
        create=lambda id, amount=0: {"type": "Opened", "amount": amount},
    )


def _unit(api: Api) -> Any:
    return ddbes.AsyncUnitOfWork() if api.asynchronous else ddbes.UnitOfWork()


async def _balances(api: Api, account: type[Any], *keys: str) -> list[int]:
    return [(await api(account.get_state(key)))["balance"] for key in keys]


async def test_a_unit_saves_every_commit_together_and_advances_each_aggregate(
    api: Api, backend: Backend
) -> None:
    account = _account(api)
    alice = await api(account.create(id="alice", amount=10))
    bob = await api(account.create(id="bob"))
    unit = _unit(api)
    unit.commit(alice, {"type": "Debited", "amount": 4})
    unit.commit(bob, [{"type": "Credited", "amount": 4}], metadata={"request": "r1"})
    assert len(unit) == 2 and [c.version for c in unit.commits] == [2, 2]
    assert alice.version == 1  # nothing written yet
    stored = await api(unit.save())
    assert [(c.aggregate_key, c.version) for c in stored] == [("alice", 2), ("bob", 2)]
    assert (alice.version, alice.state, bob.version, bob.state) == (
        2,
        {"balance": 6},
        2,
        {"balance": 4},
    )
    assert await _balances(api, account, "alice", "bob") == [6, 4]
    store = backend.commit_stores["sync"]
    await backend.flush_log()
    log = [(c.aggregate_key, c.version) for c in store.read_log()]
    assert log[-2:] == [("alice", 2), ("bob", 2)], log
    (bob_commit,) = store.read_commits("Account", "bob", from_version=2)
    assert bob_commit.metadata["request"] == "r1"
    with pytest.raises(RuntimeError, match="saved or discarded"):
        await api(unit.save())


async def test_a_conflict_on_one_aggregate_writes_nothing_and_names_it(api: Api) -> None:
    account = _account(api)
    await api(account.create(id="alice", amount=10))
    await api(account.create(id="bob"))
    alice = await api(account.load("alice"))
    bob = await api(account.load("bob"))
    other_bob = await api(account.load("bob"))
    await api(other_bob.commit({"type": "Credited", "amount": 1}))  # bob moves on
    unit = _unit(api)
    unit.commit(alice, {"type": "Debited", "amount": 5})
    unit.commit(bob, {"type": "Credited", "amount": 5})
    with pytest.raises(VersionConflict) as conflict:
        await api(unit.save())
    assert conflict.value.aggregate_id == "Account:bob"
    assert (alice.version, alice.state) == (1, {"balance": 10})  # unchanged
    assert await _balances(api, account, "alice", "bob") == [10, 1]


async def test_a_rejected_event_raises_at_once_and_the_unit_is_discarded_on_error(
    api: Api,
) -> None:
    account = _account(api)
    alice = await api(account.create(id="alice", amount=1))
    bob = await api(account.create(id="bob"))
    unit = _unit(api)
    with pytest.raises(ReducerFailed, match="insufficient funds"):
        unit.commit(alice, {"type": "Debited", "amount": 5})
    with pytest.raises(ValueError, match="one commit per aggregate"):
        unit.commit(bob, {"type": "Credited", "amount": 1})
        unit.commit(bob, {"type": "Credited", "amount": 1})
    if api.asynchronous:
        with pytest.raises(KeyError):
            async with ddbes.AsyncUnitOfWork() as block:
                block.commit(bob, {"type": "Credited", "amount": 1})
                raise KeyError("the block failed")
        async with ddbes.AsyncUnitOfWork() as block:
            block.commit(bob, {"type": "Credited", "amount": 2})
    else:
        with pytest.raises(KeyError), ddbes.UnitOfWork() as block:
            block.commit(bob, {"type": "Credited", "amount": 1})
            raise KeyError("the block failed")
        with ddbes.UnitOfWork() as block:
            block.commit(bob, {"type": "Credited", "amount": 2})
    assert await _balances(api, account, "alice", "bob") == [1, 2]


async def test_the_other_apis_aggregates_are_refused_with_what_to_use(api: Api) -> None:
    created = await api(_account(api).create(id="x"))
    wrong = ddbes.UnitOfWork() if api.asynchronous else ddbes.AsyncUnitOfWork()
    expected = "use ddbes.AsyncUnitOfWork" if api.asynchronous else "use ddbes.UnitOfWork"
    with pytest.raises(TypeError, match=expected):
        wrong.commit(created, {"type": "Credited", "amount": 1})


async def test_unit_command_retries_the_whole_unit_on_fresh_state(api: Api) -> None:
    account = _account(api)
    await api(account.create(id="alice", amount=10))
    await api(account.create(id="bob"))
    runs: list[int] = []

    if api.asynchronous:

        @ddbes.unit_command(retry=True)
        async def transfer(unit: Any, source: str, target: str, amount: int) -> str:
            unit.commit(await account.load(source), {"type": "Debited", "amount": amount})
            if not runs:  # another writer moves the source after the load, once
                intruder = await account.load(source)
                await intruder.commit({"type": "Credited", "amount": 100})
            runs.append(1)
            unit.commit(await account.load(target), {"type": "Credited", "amount": amount})
            return "done"

        assert await transfer("alice", "bob", 3) == "done"
    else:

        @ddbes.unit_command(retry=True)
        def transfer(unit: Any, source: str, target: str, amount: int) -> str:
            unit.commit(account.load(source), {"type": "Debited", "amount": amount})
            if not runs:
                account.load(source).commit({"type": "Credited", "amount": 100})
            runs.append(1)
            unit.commit(account.load(target), {"type": "Credited", "amount": amount})
            return "done"

        assert transfer("alice", "bob", 3) == "done"
    assert len(runs) == 2  # the first unit conflicted, the second stored
    assert await _balances(api, account, "alice", "bob") == [107, 3]

    @ddbes.unit_command
    def unretried(unit: Any) -> None:
        raise VersionConflict("Account:alice", 9)

    with pytest.raises(VersionConflict):
        unretried()

    @ddbes.unit_command(retry=ddbes.RetryPolicy(max_attempts=2, initial_delay=0.001))
    def always_conflicts(unit: Any) -> None:
        raise VersionConflict("Account:alice", 9)

    with pytest.raises(RetriesExhausted):
        always_conflicts()


async def test_a_unit_over_the_limits_is_refused_before_writing(api: Api) -> None:
    account = _account(api)
    unit = _unit(api)
    for i in range(34):
        unit.commit(account(f"a{i}"), {"type": "Opened"})
    with pytest.raises(CommitTooLarge, match="33 commits per unit"):
        await api(unit.save())
    assert await api(account.load("a0")) is None
