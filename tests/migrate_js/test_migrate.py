"""Migrating JavaScript ddbes tables: every key shape, multi-event commits, the global log's
order, a history over 1 MB, and what the JavaScript library got wrong (leaked keys, skewed
clocks)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import ddbes
from ddbes import Aggregate, KeyPart
from ddbes_dynamodb import DynamoDBCommitStore, MigrationReport, migrate_js
from tests.dynamodb.tables import client_for
from tests.migrate_js.jstables import JsTables, js_item
from tests.services import DynamoDBLocal

T0 = datetime(2017, 1, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


class Cart(Aggregate):
    """The JavaScript test suite's Cart: ItemAdded pushes, ItemRemoved removes the first."""

    @staticmethod
    def reducer(state: Any, event: dict[str, Any], commit: Any) -> Any:
        state = state or {"items": []}
        if event["type"] == "ItemAdded":
            return {**state, "items": [*state["items"], event["name"]]}
        if event["type"] == "ItemRemoved":
            items = list(state["items"])
            items.remove(event["name"])
            return {**state, "items": items}
        return state


class KeyedCart(Cart):
    aggregate_type = "Cart"
    key_schema = ("id",)


class Account(Aggregate):
    key_schema = (KeyPart("account_id"), KeyPart("store_id"))

    @staticmethod
    def reducer(state: Any, event: dict[str, Any], commit: Any) -> Any:
        return [*(state or []), event["type"]]


@pytest.fixture
def store_of(dynamodb_local: DynamoDBLocal) -> Iterator[Any]:
    made: list[DynamoDBCommitStore] = []

    def store(name: str) -> DynamoDBCommitStore:
        made.append(DynamoDBCommitStore(name, client=client_for(dynamodb_local.endpoint_url)))
        return made[-1]

    yield store
    for store_ in made:
        store_.close()
    ddbes.config.reset()


def migrate(dynamodb_local: DynamoDBLocal, source: str, target: str, **options: Any) -> Any:
    return migrate_js(source, target, client=client_for(dynamodb_local.endpoint_url), **options)


KEYS = ["@", "u1", "acc.oslo", "Ærøskøbing.東京", "a.b.c", "a", "a:5", "a:b", "😀:x"]


def test_every_key_shape_keeps_its_versions_events_times_and_commit_ids(
    dynamodb_local: DynamoDBLocal, js_tables: JsTables, target: str, store_of: Any
) -> None:
    items = []
    for n, key in enumerate(KEYS):
        items.append(js_item("Cart", key, 1, [{"type": "ItemAdded", "name": f"{key}-1"}], at(n)))
        items.append(
            js_item(
                "Cart",
                key,
                2,
                [
                    {"type": "ItemAdded", "name": f"{key}-2"},
                    {"type": "ItemAdded", "name": "x", "nested": {"deep": [1, 2.5, None]}},
                    {"type": "ItemRemoved", "name": f"{key}-1"},
                ],
                at(100 + n + 0.123),
            )
        )
    source = js_tables.create(items)

    report = migrate(dynamodb_local, source, target)

    assert report.ok and report.verified
    assert (report.commits_read, report.commits_written, report.aggregates) == (18, 18, 9)
    assert report.per_type == {"Cart": {"commits_read": 18, "aggregates": 9, "commits": 18}}
    store = store_of(target)
    for n, key in enumerate(KEYS):
        commits = list(store.read_commits("Cart", key))
        assert [c.version for c in commits] == [1, 2], key
        assert commits[0].events == ({"type": "ItemAdded", "name": f"{key}-1"},)
        assert commits[1].events[1] == {
            "type": "ItemAdded",
            "name": "x",
            "nested": {"deep": [1, 2.5, None]},
        }
        assert commits[1].committed_at == at(100 + n + 0.123)
        digits = (at(100 + n + 0.123)).strftime("%Y%m%d%H%M%S") + "123"
        assert commits[1].commit_id == f"{digits}:Cart:{key}"
    ddbes.config.update(commit_store=store)
    assert Cart.load().state == {"items": ["@-2", "x"]}
    assert KeyedCart.get_state("a") == {"items": ["a-2", "x"]}  # not a:5's commits
    assert KeyedCart.load("a:5").version == 2
    assert sorted(store.aggregate_keys("Cart")) == sorted(KEYS)
    leaked = {(leak.aggregate_key, leak.read_commits_of) for leak in report.leaked_keys}
    assert ("a", ("a:5",)) in leaked
    assert all(key != "a:b" for key, _ in leaked)  # 'a:b:000000001' sorts after 'a:999999999'


def test_multi_part_keys_load_through_their_key_schema(
    dynamodb_local: DynamoDBLocal, js_tables: JsTables, target: str, store_of: Any
) -> None:
    source = js_tables.create(
        [
            js_item("Account", "0123.oslo", 1, [{"type": "Created"}], at(1)),
            js_item("Account", "0123.oslo", 2, [{"type": "Renamed"}, {"type": "Closed"}], at(2)),
        ]
    )
    migrate(dynamodb_local, source, target)
    ddbes.config.update(commit_store=store_of(target))
    loaded = Account.load({"account_id": "0123", "store_id": "oslo"})
    assert loaded is not None
    assert (loaded.version, loaded.state) == (2, ["Created", "Renamed", "Closed"])


def test_the_global_log_is_in_commit_time_order_ties_by_type_key_version(
    dynamodb_local: DynamoDBLocal, js_tables: JsTables, target: str, store_of: Any
) -> None:
    same_ms = at(5)
    items = [
        js_item("Zeta", "@", 1, [{"type": "E"}], at(1)),
        js_item("Cart", "b", 1, [{"type": "E"}], same_ms),
        js_item("Cart", "a", 1, [{"type": "E"}], same_ms),
        js_item("Cart", "a", 2, [{"type": "E"}], same_ms),
        js_item("Alpha", "z", 1, [{"type": "E"}], same_ms),
        js_item("Cart", "b", 2, [{"type": "E"}], at(10)),
        # a writer whose clock lagged: version 3 stored 8 s before version 2
        js_item("Cart", "b", 3, [{"type": "E"}], at(2)),
        js_item("Cart", "a", 3, [{"type": "E"}], at(11)),
    ]
    source = js_tables.create(items)

    report = migrate(dynamodb_local, source, target)

    log = list(store_of(target).read_log())
    assert [c.position for c in log] == list(range(1, 9))
    assert [(c.aggregate_type, c.aggregate_key, c.version) for c in log] == [
        ("Zeta", "@", 1),
        ("Alpha", "z", 1),
        ("Cart", "a", 1),
        ("Cart", "a", 2),
        ("Cart", "b", 1),
        ("Cart", "b", 2),
        ("Cart", "b", 3),  # raised to version 2's time, after it
        ("Cart", "a", 3),
    ]
    assert log[6].committed_at == at(10)
    [raised] = report.raised_times
    assert (raised.aggregate_key, raised.version, raised.stored) == ("b", 3, at(2))


def test_several_log_partitions_each_get_a_dense_log(
    dynamodb_local: DynamoDBLocal, js_tables: JsTables, target: str, store_of: Any
) -> None:
    items = [
        js_item("Cart", f"k{n % 7}", n // 7 + 1, [{"type": "E", "n": n}], at(n)) for n in range(70)
    ]
    source = js_tables.create(items)
    report = migrate(dynamodb_local, source, target, log_partitions=3)
    store = store_of(target)
    assert store.log_partitions == 3
    seen = []
    for partition in range(3):
        log = list(store.read_log(log_partition=partition))
        assert [c.position for c in log] == list(range(1, len(log) + 1))
        assert [c.committed_at for c in log] == sorted(c.committed_at for c in log)
        seen += [c.events[0]["n"] for c in log]
    assert sorted(seen) == list(range(70))
    assert sum(last - first + 1 for first, last in report.log.values()) == 70


def test_a_history_over_one_megabyte_is_read_page_by_page(
    dynamodb_local: DynamoDBLocal, js_tables: JsTables, target: str, store_of: Any
) -> None:
    # 160 commits of ~9 KB of incompressible text: ~1.4 MB, several Scan and Query pages
    items = [
        js_item("Cart", "big", v, [{"type": "ItemAdded", "name": os.urandom(4500).hex()}], at(v))
        for v in range(1, 161)
    ]
    source = js_tables.create(items)
    report = migrate(dynamodb_local, source, target)
    assert report.commits_written == 160
    store = store_of(target)
    ddbes.config.update(commit_store=store)
    cart = KeyedCart.load("big")
    assert cart is not None and cart.version == 160
    assert len(cart.state["items"]) == 160
    assert [c.version for c in store.read_log()] == list(range(1, 161))


def test_inactive_commits_are_migrated_and_counted(
    dynamodb_local: DynamoDBLocal, js_tables: JsTables, target: str
) -> None:
    source = js_tables.create(
        [
            js_item("Cart", "@", 1, [{"type": "E"}], at(1)),
            js_item("Cart", "@", 2, [{"type": "E"}], at(2), active=False),
        ]
    )
    report: MigrationReport = migrate(dynamodb_local, source, target)
    assert (report.commits_written, report.inactive_commits) == (2, 1)
