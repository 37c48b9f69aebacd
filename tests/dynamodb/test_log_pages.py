"""Log pages (tables of format 3): one page item per batch, written with the partition's head
item; a batch leaves the to-do list after its page. Sequencers that race, die between the
two writes, or see the to-do index late never put a commit in the log twice or leave a hole."""

from __future__ import annotations

from typing import Any

import pytest

from ddbes.errors import CorruptItem, StoreError
from ddbes_dynamodb import DynamoDBCommitStore
from ddbes_dynamodb._client import make_client
from ddbes_dynamodb._commit_log import items_to_ask
from ddbes_dynamodb._items import META_KEY, UNSEQUENCED_INDEX, decode_log_page, head_key, log_page
from tests.dynamodb.helpers import commit, inject_errors, page_sequencer, quiet_store
from tests.dynamodb.tables import DynamoDBTables


def _log_items(tables: DynamoDBTables, store: DynamoDBCommitStore) -> list[dict[str, Any]]:
    response = tables.client.query(
        TableName=store.table_name,
        KeyConditionExpression="p = :p",
        ExpressionAttributeValues={":p": {"S": "l#0"}},
        ConsistentRead=True,
    )
    return list(response["Items"])


def _backlog(tables: DynamoDBTables, store: DynamoDBCommitStore) -> int:
    return len(_todo(tables, store))


def _assert_log_exact(store: DynamoDBCommitStore, stored: list[Any]) -> None:
    log = list(store.read_log())
    assert [c.position for c in log] == list(range(1, len(stored) + 1))
    assert sorted(c.commit_id for c in log) == sorted(c.commit_id for c in stored)
    for key in {c.aggregate_key for c in stored}:
        versions = [c.version for c in log if c.aggregate_key == key]
        assert versions == sorted(versions) == list(range(1, len(versions) + 1))


def test_a_batch_is_one_page_and_the_head_item_follows_it(tables: DynamoDBTables) -> None:
    store = quiet_store(tables)
    stored = [store.append(commit(f"k{i % 3}", i // 3 + 1)) for i in range(12)]
    assert page_sequencer(store, tables.client).run_once() == 12
    items = _log_items(tables, store)
    assert len(items) == 1 and items[0]["s"]["S"] == "000000000012"
    assert items[0]["f"]["N"] == "1" and len(items[0]["c"]["L"]) == 12
    head = tables.client.get_item(TableName=store.table_name, Key=head_key(0), ConsistentRead=True)
    assert head["Item"]["n"]["N"] == "12"
    assert _backlog(tables, store) == 0
    _assert_log_exact(store, stored)
    # every commit item got its position and lost the to-do mark
    loaded = list(store.read_commits("note", "k1"))
    assert all(c.position is not None for c in loaded)


def test_reads_resume_inside_a_page_and_stop_at_a_limit(tables: DynamoDBTables) -> None:
    store = quiet_store(tables)
    for batch in range(3):
        for version in range(1, 6):
            store.append(commit(f"b{batch}", version))
        page_sequencer(store, tables.client).run_once()
    assert len(_log_items(tables, store)) == 3
    assert [c.position for c in store.read_log(after=3)] == list(range(4, 16))
    assert [c.position for c in store.read_log(after=7, limit=4)] == [8, 9, 10, 11]
    assert [c.position for c in store.read_log(after=15)] == []
    assert store.head_position() == 15


def test_a_limited_read_asks_for_about_the_pages_it_needs(tables: DynamoDBTables) -> None:
    store = quiet_store(tables)
    for batch in range(6):  # six pages of 40 commits
        for version in range(1, 41):
            store.append(commit(f"b{batch}", version))
        page_sequencer(store, tables.client).run_once()
    client = make_client(  # its own client: the hook stays on it
        "dynamodb", table="tests", endpoint_url=tables.endpoint_url, region_name="us-east-1"
    )
    pages_read: list[int] = []
    client.meta.events.register(
        "after-call.dynamodb.Query",
        lambda parsed, **_: pages_read.append(len(parsed.get("Items", []))),
    )
    reader = DynamoDBCommitStore(store.table_name, client=client)
    # A new store expects 25 commits per item: ceil(30 / 25) + 1 items for 30 commits, not
    # every page up to 1 MB.
    assert [c.position for c in reader.read_log(after=0, limit=30)] == list(range(1, 31))
    assert pages_read == [3]
    # Having seen pages of 40: 90 commits after position 30 take ceil(90 / 40) + 1 items.
    pages_read.clear()
    assert [c.position for c in reader.read_log(after=30, limit=90)] == list(range(31, 121))
    assert sum(pages_read) <= 4
    # An unlimited read takes what DynamoDB gives.
    assert len(list(reader.read_log(after=0))) == 240


def test_items_to_ask_for_a_limited_read() -> None:
    assert items_to_ask(200, 1.0) == 200  # log entries: one commit each
    assert items_to_ask(200, 100.0) == 3  # pages, and the first may hold only its tail
    assert items_to_ask(1, 100.0) == 1
    assert items_to_ask(10, 0.5) == 10  # never more items than commits


def test_a_sequencer_that_dies_between_its_page_and_the_to_do_list_loses_nothing(
    tables: DynamoDBTables,
) -> None:
    store = quiet_store(tables)
    stored = [store.append(commit("k", version)) for version in range(1, 6)]
    dying_client = make_client(  # its own client: the injected errors stay on it
        "dynamodb", table="tests", endpoint_url=tables.endpoint_url, region_name="us-east-1"
    )
    inject_errors(dying_client, "BatchWriteItem", "ValidationException", times=None)
    with pytest.raises(StoreError):
        page_sequencer(store, dying_client).run_once()
    assert len(_log_items(tables, store)) == 1  # the page is written
    assert _backlog(tables, store) == 5  # but its commits are still to do
    stored += [store.append(commit("k", version)) for version in range(6, 9)]
    # the next sequencer finishes the dead one's page first, then logs only the new commits
    assert page_sequencer(store, tables.client).run_once() == 3
    assert _backlog(tables, store) == 0
    _assert_log_exact(store, stored)


def test_two_sequencers_racing_for_one_head_write_each_commit_once(
    tables: DynamoDBTables,
) -> None:
    store = quiet_store(tables)
    late = page_sequencer(store, tables.client)
    late._resync()  # it reads head 0 now, and writes only after the other one
    stored = [store.append(commit("k", version)) for version in range(1, 11)]
    assert page_sequencer(store, tables.client).run_once() == 10
    stored += [store.append(commit("k", version)) for version in range(11, 16)]
    assert late.run_once() == 5  # lost the race at head 0, learnt page 1..10, wrote 11..15
    _assert_log_exact(store, stored)
    assert _backlog(tables, store) == 0


class _StaleIndex:
    """A client whose reads of the to-do index return what they returned once, earlier:
    DynamoDB's indexes are eventually consistent."""

    def __init__(self, client: Any, items: list[dict[str, Any]]) -> None:
        self._client = client
        self._items = items

    def query(self, **kwargs: Any) -> Any:
        if kwargs.get("IndexName") == UNSEQUENCED_INDEX:
            return {"Items": list(self._items), "Count": len(self._items)}
        return self._client.query(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def test_a_stale_index_entry_of_a_logged_commit_does_not_enter_the_log_again(
    tables: DynamoDBTables,
) -> None:
    store = quiet_store(tables)
    stored = [store.append(commit(key, 1)) for key in ("a", "b", "c")]
    stale = tables.client.query(
        TableName=store.table_name,
        IndexName=UNSEQUENCED_INDEX,
        KeyConditionExpression="u = :u",
        ExpressionAttributeValues={":u": {"S": "0"}},
    )["Items"]
    writer = page_sequencer(store, tables.client)
    assert writer.run_once() == 3
    stored.append(store.append(commit("d", 1)))
    assert writer.run_once() == 1  # the last page is now d's, not a, b and c's
    # a sequencer that starts now knows only the last page; the index still shows a, b, c
    assert page_sequencer(store, _StaleIndex(tables.client, stale)).run_once() == 0
    stored.append(store.append(commit("a", 2)))
    later = _StaleIndex(tables.client, stale + _todo(tables, store))
    assert page_sequencer(store, later).run_once() == 1  # a v2 only
    _assert_log_exact(store, stored)


def _todo(tables: DynamoDBTables, store: DynamoDBCommitStore) -> list[dict[str, Any]]:
    return list(
        tables.client.query(
            TableName=store.table_name,
            IndexName=UNSEQUENCED_INDEX,
            KeyConditionExpression="u = :u",
            ExpressionAttributeValues={":u": {"S": "0"}},
        )["Items"]
    )


def test_a_format_2_table_keeps_one_log_entry_per_commit(tables: DynamoDBTables) -> None:
    made = tables.commit_store()
    tables.client.update_item(
        TableName=made.table_name,
        Key=META_KEY,
        UpdateExpression="SET fv = :v",
        ExpressionAttributeValues={":v": {"N": "2"}},
    )
    store = DynamoDBCommitStore(made.table_name, client=tables.client)
    try:
        stored = [store.append(commit(f"k{i % 2}", i // 2 + 1)) for i in range(6)]
        store.flush_log(timeout=30)
        assert len(_log_items(tables, store)) == 6
        assert all("c" not in item for item in _log_items(tables, store))
        _assert_log_exact(store, stored)
        assert store.describe().format_version == 2
        assert made.describe().format_version == 2  # read from the table, not remembered
    finally:
        store.close()


def test_pages_go_after_a_log_entry_written_without_the_head_item(tables: DynamoDBTables) -> None:
    """Something wrote position 2 but not the head item (a foreign writer, a damaged table):
    the next page goes after it, never over it, and the head item catches up."""
    store = quiet_store(tables)
    first = store.append(commit("k", 1))
    assert page_sequencer(store, tables.client).run_once() == 1
    foreign = {
        "p": {"S": "l#0"},
        "s": {"S": "000000000002"},
        "a": {"S": "Cart"},
        "k": {"S": "foreign"},
        "v": {"N": "1"},
        "i": {"S": "foreign-commit"},
        "t": {"S": "2024-01-01T00:00:00.000000Z"},
        "e": {"S": '[{"type": "Foreign"}]'},
    }
    tables.client.put_item(TableName=store.table_name, Item=foreign)
    second = store.append(commit("k", 2))
    assert page_sequencer(store, tables.client).run_once() == 1
    log = list(store.read_log())
    assert [(c.position, c.commit_id) for c in log] == [
        (1, first.commit_id),
        (2, "foreign-commit"),
        (3, second.commit_id),
    ]
    head = tables.client.get_item(TableName=store.table_name, Key=head_key(0), ConsistentRead=True)
    assert head["Item"]["n"]["N"] == "3"


def test_a_page_read_from_inside_decodes_only_the_positions_after() -> None:
    def entry(key: str, commit_id: str | None) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "a": {"S": "Cart"},
            "k": {"S": key},
            "v": {"N": "1"},
            "t": {"S": "2024-01-01T00:00:00.000000Z"},
            "e": {"S": '[{"type": "Added"}]'},
        }
        if commit_id is not None:
            fields["i"] = {"S": commit_id}
        return fields

    page = log_page(0, 5, [entry("damaged", None), entry("b", "c6"), entry("c", "c7")])
    assert page["s"]["S"] == "000000000007"
    read = decode_log_page(page, 0, table="t", after=5)
    assert [(c.position, c.commit_id) for c in read] == [(6, "c6"), (7, "c7")]
    assert decode_log_page(page, 0, table="t", after=7) == []
    with pytest.raises(CorruptItem) as raised:
        decode_log_page(page, 0, table="t", after=4)
    assert raised.value.position == 5
