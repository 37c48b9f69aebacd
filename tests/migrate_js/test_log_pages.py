"""Migrating into a table of log pages (format 3): each chunk moves the partition's head item,
so the pages the sequencer writes afterwards continue the log, a sequencer that read the head
before the migration cannot write a page over migrated positions, and a page written during
the migration stops it instead of being overwritten."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ddbes.model import Commit
from ddbes_dynamodb import DynamoDBCommitStore, migrate_js
from ddbes_dynamodb._items import head_key
from ddbes_dynamodb.js_migration import MigrationConflict, MigrationProgress
from tests.dynamodb.helpers import page_sequencer, quiet_store
from tests.dynamodb.tables import DynamoDBTables, client_for
from tests.migrate_js.jstables import JsTables, js_item
from tests.services import DynamoDBLocal

T0 = datetime(2019, 5, 1, tzinfo=UTC)


def history(count: int, keys: int = 4) -> list[dict[str, Any]]:
    return [
        js_item("Cart", f"k{n % keys}", n // keys + 1, [{"type": "Counted", "n": n}], at(n))
        for n in range(count)
    ]


def at(n: int) -> datetime:
    return T0 + timedelta(milliseconds=10 * n)


def commit(key: str, version: int) -> Commit:
    return Commit(
        commit_id=uuid.uuid4().hex,
        aggregate_type="Cart",
        aggregate_key=key,
        version=version,
        committed_at=datetime.now(UTC),
        events=({"type": "Counted", "n": -version},),
    )


def head_item(store: DynamoDBCommitStore, partition: int = 0) -> int:
    response = store.client.get_item(
        TableName=store.table_name, Key=head_key(partition), ConsistentRead=True
    )
    return int(response["Item"]["n"]["N"])


def log_items(store: DynamoDBCommitStore, partition: int = 0) -> list[dict[str, Any]]:
    response = store.client.query(
        TableName=store.table_name,
        KeyConditionExpression="p = :p",
        ExpressionAttributeValues={":p": {"S": f"l#{partition}"}},
        ConsistentRead=True,
    )
    return list(response["Items"])


def test_appends_after_a_migration_into_a_page_table_continue_its_log_densely(
    dynamodb_local: DynamoDBLocal, js_tables: JsTables, target: str
) -> None:
    client = client_for(dynamodb_local.endpoint_url)
    source = js_tables.create(history(30))
    report = migrate_js(source, target, client=client, chunk_commits=7)
    assert report.verified and report.log == {0: (1, 30)}
    store = DynamoDBCommitStore(target, client=client)
    try:
        assert head_item(store) == 30  # moved by every chunk, with its entries
        appended = [store.append(commit("k1", 9)), store.append(commit("new", 1))]
        appended += [store.append(commit("new", version)) for version in (2, 3)]
        store.flush_log(timeout=30)
        log = list(store.read_log())
        assert [c.position for c in log] == list(range(1, 35))
        assert [c.commit_id for c in log[30:]] == [c.commit_id for c in appended]
        assert head_item(store) == 34
        # the migrated entries are items of their own; what came after is in pages
        items = log_items(store)
        assert [item["s"]["S"] for item in items[:30]] == [f"{p:012d}" for p in range(1, 31)]
        assert all("c" not in item for item in items[:30])
        assert all("c" in item for item in items[30:])
        assert [c.version for c in store.read_commits("Cart", "k1")] == list(range(1, 10))
    finally:
        store.close()


def test_a_sequencer_that_read_the_head_before_the_migration_writes_after_it(
    dynamodb_local: DynamoDBLocal, js_tables: JsTables, tables: DynamoDBTables
) -> None:
    client = client_for(dynamodb_local.endpoint_url)
    store = quiet_store(tables)
    waiting = [store.append(commit("live", version)) for version in (1, 2, 3)]
    stale = page_sequencer(store)
    stale._resync()  # it read head 0: its next page would be positions 1..3
    source = js_tables.create(history(2))
    report = migrate_js(source, store, client=client, allow_other_data=True)
    assert report.log == {0: (1, 2)}
    # Its page at 1..3 (keyed 3) does not collide with the migrated entries 1 and 2: only the
    # head item's condition stops it; it catches up and writes 3..5.
    assert stale.run_once() == 3
    log = list(store.read_log())
    assert [c.position for c in log] == [1, 2, 3, 4, 5]
    assert [c.aggregate_key for c in log[:2]] == ["k0", "k1"]
    assert [c.commit_id for c in log[2:]] == [c.commit_id for c in waiting]
    assert head_item(store) == 5


def test_a_page_written_during_the_migration_stops_it_and_a_rerun_refuses_to_overwrite(
    dynamodb_local: DynamoDBLocal, js_tables: JsTables, tables: DynamoDBTables
) -> None:
    client = client_for(dynamodb_local.endpoint_url)
    store = quiet_store(tables)
    source = js_tables.create(history(20))
    live = [store.append(commit("live", 1))]

    def sequence_once(progress: MigrationProgress) -> None:
        if progress.phase == "writing" and progress.done == 5:
            assert page_sequencer(store).run_once() == 1  # a page at position 6

    with pytest.raises(MigrationConflict, match=r"head of log partition 0 .* not at position 5"):
        migrate_js(
            source,
            store,
            client=client,
            allow_other_data=True,
            chunk_commits=5,
            on_progress=sequence_once,
        )
    log = list(store.read_log())
    assert [c.position for c in log] == list(range(1, 7))
    assert log[-1].commit_id == live[0].commit_id
    assert head_item(store) == 6
    with pytest.raises(MigrationConflict):
        migrate_js(source, store, client=client, allow_other_data=True, chunk_commits=5)
    assert [c.position for c in store.read_log()] == list(range(1, 7))
