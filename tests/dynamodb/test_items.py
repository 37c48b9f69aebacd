"""Item encoding on DynamoDB: key isolation, size limits, compression, and long histories."""

from __future__ import annotations

import random
import string
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from ddbes._validation import (
    ITEM_OVERHEAD_BYTES,
    MAX_ITEM_BYTES,
    MAX_KEY_BYTES,
    MAX_TYPE_AND_KEY_BYTES,
    encoded_events,
)
from ddbes.codec import compress, encode_events
from ddbes.errors import CommitTooLarge
from ddbes_dynamodb import DynamoDBCommitStore
from ddbes_dynamodb._items import commit_items, item_overhead, keys_pk
from tests.dynamodb.helpers import commit
from tests.dynamodb.tables import DynamoDBTables
from tests.services import DynamoDBLocal

pytestmark = pytest.mark.dynamodb


@pytest.fixture(params=["background", "inline"])
def any_tables(
    request: pytest.FixtureRequest, dynamodb_local: DynamoDBLocal
) -> Iterator[DynamoDBTables]:
    """Stores on fresh tables of either sequencing (the guarantee holds for both)."""
    made = DynamoDBTables(dynamodb_local.endpoint_url, sequencing=request.param)
    yield made
    made.delete_all()


def _scan(store: DynamoDBCommitStore) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    request: dict[str, Any] = {"TableName": store.table_name, "ConsistentRead": True}
    while True:
        page = store.client.scan(**request)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def test_keys_that_naive_encodings_confuse_stay_apart(tables: DynamoDBTables) -> None:
    store = tables.commit_store()
    pairs = [
        ("Cart", "a"),
        ("Cart", "a:5"),
        ("Cart", "a.b"),
        ("Cart", "a#b"),
        ("Cart#a", "b"),
        ("Cart", "5#Cart#a"),
        ("1#Cart", "a"),
        ("Cart", "a:000000000001"),
        ("Car", "t#a"),
        ("Cart:a", "5"),
    ]
    for index, (aggregate_type, key) in enumerate(pairs):
        events = ({"type": "T", "who": [aggregate_type, key]},)
        store.append(commit(key, 1, events, aggregate_type=aggregate_type, commit_id=str(index)))
        store.append(commit(key, 2, events, aggregate_type=aggregate_type))
    for aggregate_type, key in pairs:
        read = list(store.read_commits(aggregate_type, key))
        assert [c.version for c in read] == [1, 2], (aggregate_type, key)
        assert all(c.events[0]["who"] == [aggregate_type, key] for c in read)
    assert list(store.aggregate_keys("Cart")) == sorted(k for t, k in pairs if t == "Cart")
    assert list(store.aggregate_keys("Car")) == ["t#a"]
    assert list(store.aggregate_keys("Cart#a")) == ["b"]


def test_keys_sort_by_code_point_like_python(tables: DynamoDBTables) -> None:
    store = tables.commit_store()
    keys = ["b", "B", "a", "é", "z", "日本", "😀", "a b", "a\tb", "aa", "0"]
    for key in keys:
        store.append(commit(key, 1))
    assert list(store.aggregate_keys("Cart")) == sorted(keys)


def test_keys_too_long_for_dynamodb_are_refused_before_writing(
    any_tables: DynamoDBTables,
) -> None:
    store = any_tables.commit_store()
    with pytest.raises(ValueError, match="1024"):
        store.append(commit("k" * 1025, 1))
    with pytest.raises(ValueError, match="over the limit of 2040"):
        store.append(commit("k", 1, aggregate_type="T" * 2100))
    with pytest.raises(ValueError, match="Unicode"):
        store.append(commit("bad\ud800", 1))
    assert list(store.read_commits("Cart", "k" * 1025)) == []
    assert store.head_position() == 0
    store.flush_log(timeout=30)
    assert store.describe().backlog == (0,)
    # the metadata item only, and the sequencer's lease once a background thread ran
    assert [i["p"]["S"] for i in _scan(store) if not i["p"]["S"].startswith("lease#")] == ["m#"]


def _commit_of_size(target: int) -> Any:
    """A one-event commit whose stored item is about ``target`` bytes (barely compressible)."""
    rng = random.Random(7)
    alphabet = string.ascii_letters + string.digits + string.punctuation.replace('"', "")
    alphabet = alphabet.replace("\\", "")
    length = target
    for _ in range(6):
        text = "".join(rng.choices(alphabet, k=length))
        candidate = commit("edge", 1, ({"type": "Blob", "b": text},))
        payload, _ = compress(encode_events(candidate.events))
        size = len(payload) + item_overhead(candidate, 0)
        length += int((target - size) * length / max(len(payload), 1))
    return candidate, size


def test_a_commit_just_under_the_item_limit_is_stored(tables: DynamoDBTables) -> None:
    store = tables.commit_store()
    candidate, size = _commit_of_size(MAX_ITEM_BYTES - 512)
    assert MAX_ITEM_BYTES - 4096 < size <= MAX_ITEM_BYTES
    stored = store.append(candidate)
    (read,) = store.read_commits("Cart", "edge")
    assert read == stored and read.events == candidate.events


def test_an_oversized_commit_is_refused_before_any_write(any_tables: DynamoDBTables) -> None:
    store = any_tables.commit_store()
    store.append(commit("big", 1))
    store.flush_log(timeout=30)  # a sequencer has nothing left to write
    sent: list[str] = []
    for operation in ("TransactWriteItems", "PutItem"):  # a commit is one or the other
        store.client.meta.events.register(
            f"before-call.dynamodb.{operation}",
            lambda operation=operation, **_: sent.append(operation),
            unique_id=f"oversized-{store.table_name}-{operation}",
        )
    candidate, _ = _commit_of_size(MAX_ITEM_BYTES + 2048)
    oversized = commit("big", 2, candidate.events)
    with pytest.raises(CommitTooLarge, match="Cart:big") as raised:
        store.append(oversized)
    assert raised.value.limit == MAX_ITEM_BYTES and raised.value.size > MAX_ITEM_BYTES
    store.flush_log(timeout=30)
    assert sent == []
    assert [c.version for c in store.read_commits("Cart", "big")] == [1]
    assert store.head_position() == 1
    assert store.describe().backlog == (0,)


def test_large_compressible_events_are_stored_compressed(tables: DynamoDBTables) -> None:
    store = tables.commit_store()
    events = ({"type": "Text", "body": "lorem ipsum dolor " * 40_000},)  # 720 KB of JSON
    stored = store.append(commit("doc", 1, events))
    (read,) = store.read_commits("Cart", "doc")
    assert read == stored and read.events == events
    item = next(i for i in _scan(store) if i["p"]["S"].startswith("c#"))
    assert "x" in item and "e" not in item
    assert len(item["x"]["B"]) < 20_000


def _bulk_load(store: DynamoDBCommitStore, key: str, count: int) -> None:
    """Write ``count`` commits of one aggregate with BatchWriteItem, item for item as
    ``append`` writes them (a fresh single-partition table: position = version)."""
    requests: list[dict[str, Any]] = [
        {"PutRequest": {"Item": {"p": {"S": keys_pk("Cart")}, "s": {"S": key}}}}
    ]
    for version in range(1, count + 1):
        item = commit(key, version, ({"type": "T", "v": version, "pad": "x" * 200},))
        payload, compressed = encoded_events(item)
        commit_item, log_item = commit_items(item, 0, payload, compressed)
        commit_item["n"] = {"N": str(version)}
        log_item["s"] = {"S": f"{version:012d}"}
        requests += [{"PutRequest": {"Item": commit_item}}, {"PutRequest": {"Item": log_item}}]
    chunks = [requests[i : i + 25] for i in range(0, len(requests), 25)]

    def write(chunk: list[dict[str, Any]]) -> None:
        pending = {store.table_name: chunk}
        while pending:
            response = store.client.batch_write_item(RequestItems=pending)
            pending = response.get("UnprocessedItems") or {}

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(write, chunks))


def test_an_aggregate_of_ten_thousand_commits_loads_whole(any_tables: DynamoDBTables) -> None:
    """The bulk-loaded items are those of sequenced commits, whichever the sequencing."""
    store = any_tables.commit_store()
    _bulk_load(store, "long", 10_000)
    started = time.perf_counter()
    read = list(store.read_commits("Cart", "long"))
    elapsed = time.perf_counter() - started
    assert [c.version for c in read] == list(range(1, 10_001))
    assert all(c.events[0]["v"] == c.version and c.position == c.version for c in read)
    assert elapsed < 30, elapsed
    newest = list(store.read_commits("Cart", "long", descending=True, limit=3))
    assert [c.version for c in newest] == [10_000, 9_999, 9_998]
    assert [c.version for c in store.read_commits("Cart", "long", from_version=9_990)] == list(
        range(9_990, 10_001)
    )
    log = list(store.read_log(after=9_000))
    assert [c.position for c in log] == list(range(9_001, 10_001))
    assert store.head_position() == 10_000
    appended = store.append(commit("long", 10_001))
    assert appended.position == (10_001 if any_tables.sequencing == "inline" else None)
    store.flush_log(timeout=30)
    (last,) = store.read_commits("Cart", "long", from_version=10_001)
    assert last.position == 10_001 and last.commit_id == appended.commit_id
    assert [c.commit_id for c in store.read_log(after=10_000)] == [appended.commit_id]
    assert store.head_position() == 10_001
    assert list(store.aggregate_keys("Cart")) == ["long"]


def test_the_core_size_allowance_covers_every_dynamodb_item() -> None:
    """Both adapters refuse at the core's reckoning, which must never be under DynamoDB's."""
    for aggregate_type, key in [
        ("T", "k"),
        ("é" * ((MAX_TYPE_AND_KEY_BYTES - MAX_KEY_BYTES) // 2), "k" * MAX_KEY_BYTES),
        ("T" * 9, "x"),
        ("T" * 99, "x" * 900),
    ]:
        for commit_id in ("c", "x" * 36, "y" * 300):
            candidate = commit(key, 999_999, aggregate_type=aggregate_type, commit_id=commit_id)
            allowance = ITEM_OVERHEAD_BYTES + sum(
                len(text.encode()) for text in (aggregate_type, key, commit_id)
            )
            for partition in (0, 9, 999):
                assert item_overhead(candidate, partition) <= allowance
