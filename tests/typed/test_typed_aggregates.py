"""Aggregates with event classes: commands commit instances, reducers receive instances, the
store holds the plain JSON objects (so untyped code reads the same table), and mypy checks that
a reducer's match covers every event class."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from ddbes import Aggregate, AsyncAggregate, Commit, aggregate_command
from ddbes.errors import InvalidEvent
from ddbes.memory import InMemoryCommitStore
from ddbes.typed_events import EventTypes


@dataclass(frozen=True)
class Opened:
    owner: str


@dataclass(frozen=True)
class Deposited:
    amount: Decimal


Event = Opened | Deposited


def reducer(state: dict[str, Any] | None, event: Event, commit: Commit) -> dict[str, Any]:
    match event:
        case Opened(owner=owner):
            return {"owner": owner, "balance": Decimal(0)}
        case Deposited(amount=amount):
            assert state is not None
            return {**state, "balance": state["balance"] + amount}


class Account(Aggregate):
    key_schema = ("id",)
    event_types = EventTypes(Opened, Deposited)
    reducer = staticmethod(reducer)

    @aggregate_command(retry=True)
    def deposit(self, amount: Decimal) -> Account:
        return self.commit(Deposited(amount), metadata={"teller": "t1"})


class AsyncAccount(AsyncAggregate):
    aggregate_type = "Account"
    key_schema = ("id",)
    event_types = Account.event_types
    reducer = staticmethod(reducer)


async def test_commands_commit_instances_and_the_store_holds_plain_json() -> None:
    store = InMemoryCommitStore()
    account = Account.using(commit_store=store, snapshots=False)("a1")
    account.commit(Opened("ada"))
    account.deposit(Decimal("12.50"))
    assert account.state == {"owner": "ada", "balance": Decimal("12.50")}
    stored = list(store.read_commits("Account", "a1"))
    assert [c.events for c in stored] == [
        ({"type": "Opened", "owner": "ada"},),
        ({"type": "Deposited", "amount": "12.50"},),
    ]
    assert stored[1].metadata == {"teller": "t1"}
    loaded = await AsyncAccount.using(commit_store=store, snapshots=False).load("a1")
    assert loaded.state == account.state  # the async twin decodes the same way
    Account.using(commit_store=store, snapshots=False).append(
        {"type": "Deposited", "amount": "1"}, "a1"
    )
    assert Account.using(commit_store=store, snapshots=False).load("a1").state[
        "balance"
    ] == Decimal("13.50")  # dicts still commit, and decode into the class


def test_unknown_or_invalid_stored_events_name_the_commit() -> None:
    store = InMemoryCommitStore()
    Account.using(commit_store=store, snapshots=False)("a2").commit(Opened("bo"))

    class Untyped(Aggregate):
        aggregate_type = "Account"
        key_schema = ("id",)

        @staticmethod
        def reducer(state: Any, event: dict[str, Any], commit: Commit) -> Any:
            return state

    Untyped.using(commit_store=store, snapshots=False).append({"type": "Frozen"}, "a2")
    with pytest.raises(
        InvalidEvent, match=r"event 0 \('Frozen'\) of commit \w+ \(Account:a2, version 2\)"
    ):
        Account.using(commit_store=store, snapshots=False).load("a2")
    with pytest.raises(InvalidEvent, match="not an event class of this aggregate"):
        Account.using(commit_store=store, snapshots=False)("a3").commit(Decimal(1))


def test_mypy_checks_that_a_reducer_covers_every_event_class(tmp_path: Path) -> None:
    module = tmp_path / "accounts.py"
    module.write_text(
        textwrap.dedent(
            """
            from dataclasses import dataclass
            from typing import assert_never

            @dataclass(frozen=True)
            class Opened:
                owner: str

            @dataclass(frozen=True)
            class Closed:
                reason: str

            Event = Opened | Closed

            def reducer(state: str | None, event: Event) -> str:
                match event:
                    case Opened(owner=owner):
                        return owner
                    case _:
                        assert_never(event)  # Closed is not handled
            """
        )
    )
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(module)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1, result.stdout
    assert 'Argument 1 to "assert_never" has incompatible type "Closed"' in result.stdout
