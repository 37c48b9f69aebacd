"""Bad input gets a clear error and loses nothing: version holes, events ddbes cannot store,
a target that holds other data, a source that is not a JavaScript ddbes table, and every
store pointed at a JavaScript table."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ddbes import Commit
from ddbes.errors import ConfigurationError
from ddbes_dynamodb import (
    DynamoDBCheckpointStore,
    DynamoDBCommitStore,
    DynamoDBLeaseStore,
    DynamoDBSnapshotStore,
    migrate_js,
)
from ddbes_dynamodb.js_migration import JS_TABLE_MESSAGE, MigrationRefused
from tests.dynamodb.tables import DynamoDBTables, client_for
from tests.migrate_js.jstables import JsTables, js_item
from tests.services import DynamoDBLocal

T0 = datetime(2017, 6, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def table_exists(client: Any, name: str) -> bool:
    return name in client.list_tables()["TableNames"]


def test_version_holes_are_refused_then_migrated_with_their_holes_when_allowed(
    dynamodb_local: DynamoDBLocal, js_tables: JsTables, target: str
) -> None:
    client = client_for(dynamodb_local.endpoint_url)
    source = js_tables.create(
        [js_item("Cart", "h", v, [{"type": "E", "v": v}], at(v)) for v in (1, 2, 5, 7)]
        + [js_item("Cart", "late", v, [{"type": "E"}], at(v)) for v in (3, 4)]
        + [js_item("Cart", "ok", 1, [{"type": "E"}], at(0))]
    )
    with pytest.raises(MigrationRefused, match="allow-version-gaps") as refused:
        migrate_js(source, target, client=client)
    gaps = {g.aggregate_key: g.missing for g in refused.value.report.version_gaps}
    assert gaps == {"h": ((3, 4), (6, 6)), "late": ((1, 2),)}
    assert not table_exists(client, target)  # nothing written, not even the table

    report = migrate_js(source, target, client=client, allow_version_gaps=True)
    assert report.verified and report.commits_written == 7
    store = DynamoDBCommitStore(target, client=client)
    assert [c.version for c in store.read_commits("Cart", "h")] == [1, 2, 5, 7]
    assert sorted(store.aggregate_keys("Cart")) == ["h", "late", "ok"]
    store.close()


def test_events_ddbes_cannot_store_stop_the_migration_unless_skipped(
    dynamodb_local: DynamoDBLocal, js_tables: JsTables, target: str
) -> None:
    client = client_for(dynamodb_local.endpoint_url)
    good = {"type": "ItemAdded", "name": "kept"}
    source = js_tables.create(
        [
            js_item("Cart", "a", 1, [good], at(1)),
            js_item("Cart", "a", 2, [good, "not an object", {"name": "no type"}], at(2)),
            js_item("Cart", "b", 1, [good], at(3)),
            js_item("Cart", "b", 2, {"type": "ItemAdded"}, at(4)),  # Aggregate.commit(obj)
            js_item("Cart", "c", 1, [good], at(5), raw_events=b"not gzip"),
            js_item("Cart", "", 1, [good], at(6)),  # an empty key: ':000000001'
            js_item("Cart", "d", 1, [{"type": ""}], at(7)),
        ]
    )
    with pytest.raises(MigrationRefused, match="skip-bad-events") as refused:
        migrate_js(source, target, client=client)
    problems = {
        (b.aggregate_key, b.version, b.event_index) for b in refused.value.report.bad_commits
    }
    assert problems == {
        ("a", 2, 1),
        ("a", 2, 2),
        ("b", 2, None),
        ("c", 1, None),
        ("", 1, None),
        ("d", 1, 0),
    }
    assert not table_exists(client, target)

    report = migrate_js(source, target, client=client, skip_bad_events=True)
    assert (report.events_skipped, report.commits_skipped) == (3, 4)
    store = DynamoDBCommitStore(target, client=client)
    [_, a2] = store.read_commits("Cart", "a")
    assert a2.events == (good,)  # the good event of the commit stayed
    assert [c.version for c in store.read_commits("Cart", "b")] == [1]
    assert sorted(store.aggregate_keys("Cart")) == ["a", "b"]
    store.close()


def test_a_target_holding_other_data_is_refused_unless_allowed(
    dynamodb_local: DynamoDBLocal, js_tables: JsTables, tables: DynamoDBTables
) -> None:
    client = client_for(dynamodb_local.endpoint_url)
    store = tables.commit_store()
    store.append(
        Commit(
            commit_id=uuid.uuid4().hex,
            aggregate_type="Other",
            aggregate_key="x",
            version=1,
            committed_at=datetime.now(UTC),
            events=({"type": "E"},),
        )
    )
    store.flush_log()
    source = js_tables.create([js_item("Cart", "@", 1, [{"type": "E"}], at(1))])
    with pytest.raises(ConfigurationError, match="already holds data"):
        migrate_js(source, store, client=client)
    assert [c.aggregate_type for c in store.read_log()] == ["Other"]

    report = migrate_js(source, store, client=client, allow_other_data=True)
    assert report.log == {0: (2, 2)}
    assert [c.aggregate_type for c in store.read_log()] == ["Other", "Cart"]


def test_a_source_that_is_not_a_javascript_table_is_refused(
    dynamodb_local: DynamoDBLocal, tables: DynamoDBTables, target: str
) -> None:
    client = client_for(dynamodb_local.endpoint_url)
    ddbes_table = tables.commit_store().table_name
    with pytest.raises(ConfigurationError, match="already a ddbes table"):
        migrate_js(ddbes_table, target, client=client)
    with pytest.raises(ConfigurationError, match="does not exist"):
        migrate_js("no-such-table", target, client=client)
    assert not table_exists(client, target)


def test_every_store_pointed_at_a_javascript_table_says_to_migrate_it(
    dynamodb_local: DynamoDBLocal, js_tables: JsTables
) -> None:
    client = client_for(dynamodb_local.endpoint_url)
    name = js_tables.create([js_item("Cart", "@", 1, [{"type": "E"}], at(1))])
    message = f"table {name!r}: {JS_TABLE_MESSAGE}"
    store = DynamoDBCommitStore(name, client=client)
    attempts = [
        lambda: list(store.read_commits("Cart", "@")),
        lambda: store.append(
            Commit(
                commit_id="x",
                aggregate_type="Cart",
                aggregate_key="@",
                version=2,
                committed_at=datetime.now(UTC),
                events=({"type": "E"},),
            )
        ),
        lambda: list(store.read_log()),
        store.describe,
        store.create_table,
        lambda: DynamoDBCheckpointStore(name, client=client).get("projector"),
        lambda: DynamoDBSnapshotStore(store).get("Cart", "@"),
        lambda: DynamoDBLeaseStore(name, client=client).acquire("p", 0, "me", ttl=5.0),
    ]
    for attempt in attempts:
        with pytest.raises(ConfigurationError) as error:
            attempt()
        assert str(error.value) == message
    assert len(list(client.scan(TableName=name)["Items"])) == 1  # untouched
