"""Archiving on a table of log pages (format 3): a page holds the log entries of several
commits, of which an archive run stubs only those of the aggregates it archives, one update
per page and transaction; interrupted runs, reruns and foreign entries. On DynamoDB Local and
on serialized moto."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ddbes.archiving import ArchivePolicy, Archiver, InMemoryArchiveStore
from ddbes.errors import StoreError
from ddbes.model import Commit
from ddbes.testing import ManualClock
from ddbes_dynamodb import DynamoDBCommitStore, _archive
from ddbes_dynamodb.emulator import patch_moto_transactions
from tests.dynamodb.helpers import page_sequencer, quiet_store
from tests.dynamodb.tables import DynamoDBTables

T0 = datetime(2024, 1, 1, tzinfo=UTC)
LATER = ManualClock(T0 + timedelta(days=400))
POLICY = ArchivePolicy(aggregate_types=("Order",), idle_for=timedelta(days=30))


@pytest.fixture(params=["dynamodb-local", "moto"])
def tables(request: pytest.FixtureRequest) -> Iterator[DynamoDBTables]:
    """Fresh tables of format 3 on DynamoDB Local or serialized moto, deleted after."""
    service = "moto_server" if request.param == "moto" else "dynamodb_local"
    if service == "moto_server":
        patch_moto_transactions()  # moto copies whole tables per transaction otherwise
    made = DynamoDBTables(request.getfixturevalue(service).endpoint_url)
    yield made
    made.delete_all()


class Killed(BaseException):
    """The process died here."""


class Counting:
    """A boto3 client that counts its ``transact_write_items`` calls and dies at the
    ``die_at``-th one, once it succeeded (``None``: never)."""

    def __init__(self, client: Any, die_at: int | None = None) -> None:
        self._client = client
        self._die_at = die_at
        self.transactions = 0

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)
        if name != "transact_write_items":
            return method

        def call(**kwargs: Any) -> Any:
            self.transactions += 1
            response = method(**kwargs)
            if self.transactions == self._die_at:
                raise Killed(name)
            return response

        return call


def commit(aggregate_type: str, key: str, version: int, *, at: datetime | None = None) -> Commit:
    return Commit(
        commit_id=uuid.uuid4().hex,
        aggregate_type=aggregate_type,
        aggregate_key=key,
        version=version,
        committed_at=at or T0 + timedelta(minutes=version),
        events=({"type": "Line", "sku": f"s-{version}", "note": "x" * 300},),
        metadata={"by": "test"} if version % 2 else {},
    )


def sequence(store: DynamoDBCommitStore) -> int:
    """Log every unsequenced commit as one page."""
    return int(page_sequencer(store).run_once())


def pages(tables: DynamoDBTables, store: DynamoDBCommitStore) -> list[dict[str, Any]]:
    response = tables.client.query(
        TableName=store.table_name,
        KeyConditionExpression="p = :p",
        ExpressionAttributeValues={":p": {"S": "l#0"}},
        ConsistentRead=True,
    )
    return list(response["Items"])


def stubbed(tables: DynamoDBTables, store: DynamoDBCommitStore) -> dict[str, list[bool]]:
    """Per aggregate key, in log order: whether each log entry is a stub (and then holds no
    events nor metadata, but its envelope)."""
    found: dict[str, list[bool]] = {}
    for page in pages(tables, store):
        for element in page["c"]["L"]:
            fields = element["M"]
            stub = "ar" in fields
            assert not stub or not {"e", "x", "m"} & set(fields), fields
            assert {"a", "k", "v", "i", "t"} <= set(fields)
            found.setdefault(fields["k"]["S"], []).append(stub)
    return found


def mixed_pages(
    tables: DynamoDBTables, archive: InMemoryArchiveStore
) -> tuple[DynamoDBCommitStore, list[Commit]]:
    """Two pages, each holding commits of the idle orders ``a`` and ``b`` (archived), of a
    customer ``c`` (a type the policy leaves alone) and of the recent order ``hot``."""
    store = quiet_store(tables, archive=archive)
    recent = LATER.now() - timedelta(days=1)
    batches = [
        [("Order", "a", 1), ("Customer", "c", 1), ("Order", "b", 1), ("Order", "a", 2)],
        [("Order", "b", 2), ("Order", "hot", 1), ("Order", "a", 3), ("Customer", "c", 2)],
    ]
    for batch in batches:
        for aggregate_type, key, version in batch:
            at = recent if key == "hot" else None
            store.append(commit(aggregate_type, key, version, at=at))
        assert sequence(store) == len(batch)
    assert [len(page["c"]["L"]) for page in pages(tables, store)] == [4, 4]
    return store, list(store.read_log())


EXPECTED = {"a": [True] * 3, "b": [True] * 2, "c": [False] * 2, "hot": [False]}


def test_only_the_archived_commits_of_a_page_become_stubs(tables: DynamoDBTables) -> None:
    archive = InMemoryArchiveStore()
    store, before = mixed_pages(tables, archive)
    report = Archiver(store, clock=LATER).run(POLICY)
    assert sorted((one.aggregate_key, one.rewritten) for one in report.archived) == [
        ("a", 3),
        ("b", 2),
    ]
    assert stubbed(tables, store) == EXPECTED
    # Reads go through the stubs to the archive: the log and histories are what they were.
    reader = DynamoDBCommitStore(store.table_name, client=tables.client, archive=archive)
    assert list(reader.read_log()) == before
    assert list(reader.read_log(after=2, limit=3)) == before[2:5]
    for key in ("a", "b", "hot"):
        assert list(reader.read_commits("Order", key)) == [
            c for c in before if (c.aggregate_type, c.aggregate_key) == ("Order", key)
        ]
    assert [c.version for c in reader.read_commits("Customer", "c")] == [1, 2]


def test_a_rerun_over_stubbed_pages_changes_nothing(tables: DynamoDBTables) -> None:
    archive = InMemoryArchiveStore()
    store, before = mixed_pages(tables, archive)
    history = [c for c in before if c.aggregate_key == "a"]
    location = "Order/a/3"
    assert store.stub_commits(history, location) == 3
    written = pages(tables, store)
    assert store.stub_commits(history, location) == 0  # every commit item is that stub already
    assert pages(tables, store) == written
    assert stubbed(tables, store)["a"] == [True] * 3


@pytest.mark.parametrize("die_at", [1, 2])
def test_an_archive_run_killed_between_page_updates_is_completed_by_the_next(
    tables: DynamoDBTables, die_at: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = InMemoryArchiveStore()
    store, before = mixed_pages(tables, archive)
    monkeypatch.setattr(_archive, "STUBS_PER_TRANSACTION", 1)
    dying = DynamoDBCommitStore(
        store.table_name, client=Counting(tables.client, die_at), archive=archive
    )
    with pytest.raises(Killed):
        Archiver(dying, clock=LATER).run(POLICY)
    partly = stubbed(tables, store)
    assert partly["a"] == [True] * die_at + [False] * (3 - die_at)
    reader = DynamoDBCommitStore(store.table_name, client=tables.client, archive=archive)
    assert list(reader.read_log()) == before
    monkeypatch.undo()
    report = Archiver(reader, clock=LATER).run(POLICY)
    assert sorted((one.aggregate_key, one.rewritten) for one in report.archived) == [
        ("a", 3 - die_at),
        ("b", 2),
    ]
    assert stubbed(tables, store) == EXPECTED
    assert list(reader.read_log()) == before


def test_a_page_is_updated_once_per_transaction_in_parts_of_a_bounded_size(
    tables: DynamoDBTables, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = InMemoryArchiveStore()
    store = quiet_store(tables, archive=archive)
    for version in range(1, 8):
        store.append(commit("Order", "big", version))
    store.append(commit("Order", "other", 1))
    assert sequence(store) == 8
    history = list(store.read_commits("Order", "big"))
    monkeypatch.setattr(_archive, "STUBS_PER_PAGE_UPDATE", 3)
    counting = Counting(tables.client)
    writer = DynamoDBCommitStore(store.table_name, client=counting, archive=archive)
    assert writer.stub_commits(history, "Order/big/7") == 7
    assert counting.transactions == 3  # 3 + 3 + 1 entries of the one page
    assert stubbed(tables, store) == {"big": [True] * 7, "other": [False]}


def test_a_page_entry_of_another_commit_is_not_stubbed(tables: DynamoDBTables) -> None:
    archive = InMemoryArchiveStore()
    store, before = mixed_pages(tables, archive)
    history = [c for c in before if c.aggregate_key == "a"]
    # The commit items are a's, but the log says position 2 holds c's first commit.
    moved = [dataclasses.replace(history[0], position=2), *history[1:]]
    with pytest.raises(StoreError, match=r"log entry at position 2 .* is not commit"):
        store.stub_commits(moved, "Order/a/3")
    assert not any(any(flags) for flags in stubbed(tables, store).values())
    beyond = [dataclasses.replace(history[0], position=99)]
    with pytest.raises(StoreError, match=r"no log entry of partition 0 .* holds position 99"):
        store.stub_commits(beyond, "Order/a/3")
