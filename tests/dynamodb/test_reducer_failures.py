"""A reducer that raises on DynamoDB Local: no item, no log entry; a stored rejected event is
named on load (also from a snapshot tip), and an upcaster lets the aggregate load again."""

from __future__ import annotations

from typing import Any

import pytest

from ddbes import Aggregate, Commit
from ddbes.errors import ReducerFailed
from ddbes_dynamodb import DynamoDBSnapshotStore
from tests.dynamodb.tables import DynamoDBTables


class Boom(Aggregate):
    @staticmethod
    def reducer(state: Any, event: dict[str, Any], commit: Commit) -> Any:
        return (state or 0) + event["amount"]


def test_a_rejected_commit_leaves_no_item_and_no_log_entry(tables: DynamoDBTables) -> None:
    store = tables.commit_store()
    Bound = Boom.using(commit_store=store)
    boom = Bound.load()
    assert boom is not None
    boom.commit({"type": "Deposited", "amount": 1})
    with pytest.raises(ReducerFailed) as caught:
        boom.commit({"type": "Deposited", "amount": "2"})
    assert isinstance(caught.value.__cause__, TypeError) and caught.value.version == 2
    store.flush_log()
    assert [c.version for c in store.read_log()] == [1]
    assert [c.version for c in store.read_commits("Boom", "@")] == [1]
    assert boom.commit({"type": "Deposited", "amount": 2}).state == 3
    reloaded = Bound.load()
    assert reloaded is not None and (reloaded.version, reloaded.state) == (2, 3)


def test_a_stored_rejected_event_is_named_on_a_tip_load_and_upcast_away(
    tables: DynamoDBTables,
) -> None:
    store = tables.commit_store()
    tips = DynamoDBSnapshotStore(store)
    Bound = Boom.using(
        commit_store=store, snapshots=True, snapshot_store=tips, snapshots_frequency=2
    )
    boom = Bound.load()
    assert boom is not None
    boom.commit({"type": "Deposited", "amount": 1}).commit({"type": "Deposited", "amount": 2})
    assert tips.get("Boom", "@") is not None
    bad = Bound.append({"type": "Deposited", "amount": "4"})
    with pytest.raises(ReducerFailed) as caught:
        Bound.load()
    assert (caught.value.commit_id, caught.value.version) == (bad.commit_id, 3)
    with pytest.raises(ReducerFailed):
        boom.hydrate()
    assert (boom.version, boom.state) == (2, 3)

    class Fixed(Boom):
        aggregate_type = "Boom"
        upcasters = {"Deposited": {0: lambda e: {**e, "amount": int(e["amount"])}}}

    fixed = Fixed.using(commit_store=store, snapshots=True, snapshot_store=tips).load()
    assert fixed is not None and (fixed.version, fixed.state) == (3, 7)
