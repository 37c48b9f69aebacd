"""What an aggregate may commit: the limits every store holds, met before anything is written;
and money in ``Decimal``, kept exact (as a string) through storage and back."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from ddbes import Aggregate, KeyPart
from ddbes._validation import MAX_EVENT_DEPTH
from ddbes.errors import InvalidEvent
from ddbes.memory import InMemoryCommitStore, InMemorySnapshotStore


class Account(Aggregate):
    key_schema = (KeyPart("id"),)

    @staticmethod
    def reducer(state: Any, event: dict[str, Any], commit: Any) -> Any:
        balance = Decimal((state or {}).get("balance", "0"))
        if event["type"] == "Deposited":
            balance += Decimal(event["amount"])
        return {"balance": str(balance)}  # a JSON string: snapshots keep it exact too

    def create(self, id: str) -> Account:
        return self.commit({"type": "Opened", "id": id})

    def deposit(self, amount: Decimal) -> Account:
        return self.commit({"type": "Deposited", "amount": amount})


def _deep(depth: int) -> dict[str, Any]:
    inner: Any = {"leaf": 1}
    for _ in range(depth - 2):
        inner = {"d": inner}
    return {"type": "Deep", "d": inner}


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (_deep(5000), f"deeper than {MAX_EVENT_DEPTH} levels"),
        (_deep(MAX_EVENT_DEPTH + 1), f"deeper than {MAX_EVENT_DEPTH} levels"),
        ({"type": "T", "x": float("nan")}, "Out of range float"),
        ({"type": "T", "x": float("inf")}, "Out of range float"),
        ({"type": "T", "x": Decimal("NaN")}, "not a number JSON can hold"),
        ({"type": "T", "x": "\ud800"}, "surrogate"),
    ],
    ids=["5000-levels", "33-levels", "nan", "infinity", "decimal-nan", "lone-surrogate"],
)
def test_an_event_over_a_limit_is_refused_before_anything_is_written(
    store: InMemoryCommitStore, event: dict[str, Any], message: str
) -> None:
    account = Account.create(id="a1")
    with pytest.raises(InvalidEvent, match=message):
        account.commit(event)
    assert account.version == 1
    assert store.head_position() == 1


def test_an_event_at_the_depth_limit_is_stored_and_read_back(store: InMemoryCommitStore) -> None:
    account = Account.create(id="a1")
    account.commit(_deep(MAX_EVENT_DEPTH))
    (commit,) = store.read_commits("Account", "a1", from_version=2)
    assert commit.events == (_deep(MAX_EVENT_DEPTH),)


def test_decimal_amounts_are_stored_exactly_as_strings(store: InMemoryCommitStore) -> None:
    account = Account.create(id="a1")
    for amount in ("0.10", "0.20", "1234567890.000000000000000001"):
        account.deposit(Decimal(amount))
    assert account.state == {"balance": "1234567890.300000000000000001"}
    (commit,) = store.read_commits("Account", "a1", from_version=2, to_version=2)
    assert commit.events == ({"type": "Deposited", "amount": "0.10"},)
    loaded = Account.load("a1")
    assert loaded is not None and loaded.state == account.state


def test_a_state_of_decimal_strings_survives_a_snapshot(store: InMemoryCommitStore) -> None:
    snapshots = InMemorySnapshotStore()
    Snapshotted = Account.using(snapshot_store=snapshots, snapshots=True, snapshots_frequency=2)
    account = Snapshotted.create(id="s1")
    account.deposit(Decimal("0.1"))
    assert snapshots.get("Account", "s1") is not None
    account.deposit(Decimal("0.2"))
    loaded = Snapshotted.load("s1")
    assert loaded is not None and Decimal(loaded.state["balance"]) == Decimal("0.3")
