"""The background sequencer's batches: one transaction holds many commits, in an order that
keeps every aggregate's versions in order."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import timedelta

import pytest

from ddbes_dynamodb import DynamoDBLeaseStore
from ddbes_dynamodb._sequencer import Sequencer
from ddbes_dynamodb._sequencing import LEASE_NAME
from tests.dynamodb.helpers import commit
from tests.dynamodb.tables import DynamoDBTables


def test_one_batch_keeps_versions_in_order_when_a_later_version_has_an_earlier_time(
    tables: DynamoDBTables,
) -> None:
    store = tables.commit_store()
    leases = DynamoDBLeaseStore(store.table_name, client=tables.client)
    assert leases.acquire(LEASE_NAME, 0, "a-process-elsewhere", 600.0)  # no background batches
    for version in range(1, 6):
        late = commit("late", version)
        store.append(replace(late, committed_at=late.committed_at - timedelta(minutes=version)))
        store.append(commit("early", version))
    store.flush_log(timeout=30)  # the whole backlog goes in one batch
    log = list(store.read_log())
    assert [c.position for c in log] == list(range(1, 11))
    for key in ("late", "early"):
        assert [c.version for c in log if c.aggregate_key == key] == [1, 2, 3, 4, 5], log
    assert store.describe().backlog == (0,)


def test_a_foreign_item_in_the_sequencers_index_is_left_alone(tables: DynamoDBTables) -> None:
    store = tables.commit_store()
    foreign = {"p": {"S": "someone-else"}, "s": {"S": "x"}, "u": {"S": "0"}, "t": {"S": "0"}}
    tables.client.put_item(TableName=store.table_name, Item=foreign)
    stored = [store.append(commit("k", version)) for version in (1, 2)]
    store.flush_log(timeout=30)
    assert [c.commit_id for c in store.read_log()] == [c.commit_id for c in stored]
    assert store.describe().backlog == (1,)  # the index still shows the foreign item
    item = tables.client.get_item(
        TableName=store.table_name, Key={"p": foreign["p"], "s": foreign["s"]}
    )
    assert item["Item"] == foreign  # untouched


def test_a_process_without_the_lease_leaves_its_commits_to_the_holder(
    tables: DynamoDBTables, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tables.commit_store()
    leases = DynamoDBLeaseStore(store.table_name, client=tables.client)
    assert leases.acquire(LEASE_NAME, 0, "a-process-elsewhere", 600.0)
    looked: list[tuple[str, int]] = []
    in_log = Sequencer.in_log

    def spied(self: Sequencer, pk: str, version: int) -> bool:
        looked.append((pk, version))
        return in_log(self, pk, version)

    monkeypatch.setattr(Sequencer, "in_log", spied)
    for version in range(1, 21):
        store.append(commit("k", version))
    time.sleep(0.3)  # the background thread's turns, none of which may look at them
    # Only the holder's sequencer learns what enters the log: going through its pending
    # commits at every turn would cost a non-holder CPU and tell it nothing.
    assert looked == []
    store.flush_log(timeout=30)  # the holder is silent: after the handoff, it logs them itself
    assert [c.version for c in store.read_log()] == list(range(1, 21))
    assert store.describe().backlog == (0,)
