"""Archiving a DynamoDB table into S3: a run killed at every write it makes, stale writers of
archived versions, unsequenced commits, and the async store's reads."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ddbes.archiving import ArchivePolicy, Archiver, InMemoryArchiveStore, archive_key
from ddbes.errors import ConfigurationError, VersionConflict
from ddbes.model import Commit
from ddbes.testing import ManualClock
from ddbes_dynamodb import AsyncDynamoDBCommitStore, DynamoDBCommitStore, _archive
from ddbes_dynamodb._items import commit_items, keys_pk
from ddbes_s3 import AsyncS3ArchiveStore, S3ArchiveStore
from tests.dynamodb.tables import DynamoDBTables

T0 = datetime(2024, 1, 1, tzinfo=UTC)
LATER = ManualClock(T0 + timedelta(days=400))
POLICY = ArchivePolicy(aggregate_types=("Order",), idle_for=timedelta(days=30))


class Killed(BaseException):
    """The process died here: nothing in ddbes catches it, as nothing runs after a kill."""


class Dying:
    """A boto3 client (DynamoDB or S3) that dies at its ``when``-th call of ``operations``,
    before the call (``after=False``) or once it succeeded (``after=True``)."""

    def __init__(self, client: Any, operations: set[str], when: int, *, after: bool) -> None:
        self._client = client
        self._operations = operations
        self._left = when
        self._after = after

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)
        if name not in self._operations:
            return method

        def call(**kwargs: Any) -> Any:
            self._left -= 1
            if self._left == 0 and not self._after:
                raise Killed(name)
            response = method(**kwargs)
            if self._left == 0:
                raise Killed(name)
            return response

        return call


def commit(key: str, version: int, *, commit_id: str | None = None) -> Commit:
    return Commit(
        commit_id=commit_id or uuid.uuid4().hex,
        aggregate_type="Order",
        aggregate_key=key,
        version=version,
        committed_at=T0 + timedelta(minutes=version),
        events=({"type": "Line", "sku": f"s-{version}", "note": "x" * 300},),
    )


def filled(tables: DynamoDBTables, archive: S3ArchiveStore) -> DynamoDBCommitStore:
    store = tables.commit_store(archive=archive)
    for version in (1, 2, 3):
        for key in ("a", "b"):
            store.append(commit(key, version))
    store.flush_log(timeout=30)
    return store


def log_of(store: DynamoDBCommitStore) -> list[Commit]:
    return list(store.read_log())


@pytest.mark.parametrize("per_transaction", [1, 2])
def test_a_run_killed_at_any_write_loses_nothing_and_the_next_run_completes_it(
    tables: DynamoDBTables,
    s3_client: Any,
    bucket: str,
    per_transaction: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    archive = S3ArchiveStore(bucket, "archive", client=s3_client)
    writer = filled(tables, archive)
    before = log_of(writer)
    histories = {key: list(writer.read_commits("Order", key)) for key in ("a", "b")}
    # Writes of a run, per aggregate: one S3 put, one record (PutItem), then the stubs in
    # TransactWriteItems of `per_transaction` commits (3 commits: 3 or 2 transactions; the
    # histories grow by a commit per kill, so later runs have more). The dying runs stub a
    # commit or two per transaction and the runs that complete them the default 50: a
    # completing run meets transactions cancelled by the stubs already written.
    transactions = -(-3 // per_transaction)
    dynamodb_writes = 2 * (1 + transactions)
    kills: list[tuple[str, set[str], int, bool]] = [
        ("s3", {"put_object"}, 1, False),
        ("s3", {"put_object"}, 1, True),
        ("s3", {"put_object"}, 2, True),
        ("s3", {"get_object"}, 1, False),
        # the reads before the first write: the first tip, the first history
        ("dynamodb", {"query"}, 1, False),
        ("dynamodb", {"query"}, 2, False),
    ] + [
        ("dynamodb", {"transact_write_items", "put_item", "update_item"}, when, after)
        for when in range(1, dynamodb_writes + 1)
        for after in (False, True)
    ]
    for service, operations, when, after in kills:
        if service == "s3":
            dying_archive = S3ArchiveStore(
                bucket, "archive", client=Dying(s3_client, operations, when, after=after)
            )
            dying = DynamoDBCommitStore(
                writer.table_name, client=tables.client, archive=dying_archive
            )
        else:
            dying = DynamoDBCommitStore(
                writer.table_name,
                client=Dying(tables.client, operations, when, after=after),
                archive=archive,
            )
        monkeypatch.setattr(_archive, "STUBS_PER_TRANSACTION", per_transaction)
        with pytest.raises(Killed):
            Archiver(dying, clock=LATER).run(POLICY)
        monkeypatch.undo()
        reader = DynamoDBCommitStore(writer.table_name, client=tables.client, archive=archive)
        assert log_of(reader) == before, (service, when, after)
        for key, history in histories.items():
            assert list(reader.read_commits("Order", key)) == history, (service, when, after)
        report = Archiver(reader, clock=LATER).run(POLICY)
        assert len(report.archived) + report.skipped.get("archived", 0) == 2, report
        assert log_of(reader) == before
        tips = [reader.archive_tip("Order", key) for key in ("a", "b")]
        assert all(tip is not None and tip.archived for tip in tips), (service, when, after)
        records = {r.aggregate_key: r.version for r in reader.archive_records("Order")}
        assert records == {key: len(history) for key, history in histories.items()}
        # Every item is a stub now: the table holds no events of the archived commits.
        items = tables.client.scan(TableName=writer.table_name)["Items"]
        commits = [item for item in items if item["p"]["S"][:2] in ("c#", "l#")]
        assert commits and not [item for item in commits if "e" in item or "x" in item]
        # Make the aggregates hot again for the next kill: a commit on each.
        for key in ("a", "b"):
            new = reader.append(commit(key, len(histories[key]) + 1))
            histories[key].append(new)
        reader.flush_log(timeout=30)
        histories = {key: list(reader.read_commits("Order", key)) for key in ("a", "b")}
        before = log_of(reader)


def test_a_stale_writer_cannot_write_an_archived_version_again(
    tables: DynamoDBTables, s3_client: Any, bucket: str
) -> None:
    archive = S3ArchiveStore(bucket, client=s3_client)
    writer = filled(tables, archive)
    stale = DynamoDBCommitStore(writer.table_name, client=tables.client, archive=archive)
    assert [c.version for c in stale.read_commits("Order", "a")] == [1, 2, 3]  # knows v3
    Archiver(writer, clock=LATER).run(POLICY)
    # Its next writes are plain conditional PutItems (it saw v3 stored): the stubs keep them
    # from taking an archived version.
    for version in (1, 2, 3):
        with pytest.raises(VersionConflict):
            stale.append(commit("a", version))
    restored = stale.append(commit("a", 4))
    stale.flush_log(timeout=30)
    history = list(writer.read_commits("Order", "a"))
    assert [c.version for c in history] == [1, 2, 3, 4]
    assert history[-1].commit_id == restored.commit_id
    assert [c.position for c in log_of(writer)] == list(range(1, 8))
    # The history stays in S3; the tip is hot; the next run archives all four again.
    tip = writer.archive_tip("Order", "a")
    assert tip is not None and not tip.archived
    report = Archiver(writer, clock=LATER).run(POLICY)
    assert [(one.aggregate_key, one.version, one.rewritten) for one in report.archived] == [
        ("a", 4, 4)
    ]
    assert archive.get(archive_key("Order", "a", 3)) is not None  # the superseded object stays


def test_unsequenced_commits_are_never_archived(
    tables: DynamoDBTables, s3_client: Any, bucket: str
) -> None:
    archive = S3ArchiveStore(bucket, client=s3_client)
    store = tables.commit_store(archive=archive)
    # A commit a dead process stored: in the to-do index, no position yet. This store object
    # neither appends nor reads the log, so its sequencer never starts.
    old = commit("c", 1)
    item, _ = commit_items(old, 0, b'[{"type":"Line"}]', False)
    item["u"] = {"S": "0"}
    tables.client.put_item(TableName=store.table_name, Item=item)
    tables.client.put_item(
        TableName=store.table_name, Item={"p": {"S": keys_pk("Order")}, "s": {"S": "c"}}
    )
    report = Archiver(store, clock=LATER).run(POLICY)
    assert report.archived == () and report.skipped == {"unsequenced": 1}
    store.head_position()  # starts the sequencer of the partition, which logs it
    for _ in range(100):
        tip = store.archive_tip("Order", "c")
        if tip is not None and tip.sequenced:
            break
        time.sleep(0.1)
    report = Archiver(store, clock=LATER).run(POLICY)
    assert [one.aggregate_key for one in report.archived] == ["c"]
    assert [c.commit_id for c in store.read_log()] == [old.commit_id]


@pytest.mark.parametrize("native", [False, True], ids=["sync-archive", "async-archive"])
async def test_the_async_store_reads_archived_commits(
    tables: DynamoDBTables, s3_client: Any, bucket: str, native: bool
) -> None:
    archive = S3ArchiveStore(bucket, client=s3_client)
    writer = filled(tables, archive)
    before = log_of(writer)
    Archiver(writer, clock=LATER).run(POLICY)
    # The native store awaits aiobotocore in the loop; the sync one is read in a worker thread.
    fetched: list[str] = []
    reader: Any = archive
    if native:
        reader = AsyncS3ArchiveStore(bucket, endpoint_url=s3_client.meta.endpoint_url)
        get = reader.get

        async def counted(key: str) -> bytes | None:
            fetched.append(key)
            return await get(key)

        reader.get = counted
    store = AsyncDynamoDBCommitStore(
        writer.table_name,
        sync_client=tables.client,
        endpoint_url=tables.endpoint_url,
        archive=reader,
    )
    try:
        assert [c async for c in store.read_log()] == before
        history = [c async for c in store.read_commits("Order", "a")]
        assert history == [c for c in before if c.aggregate_key == "a"]
        await store.append(commit("a", 4))
        await store.flush_log(timeout=30)
        assert [c.version async for c in store.read_commits("Order", "a")] == [1, 2, 3, 4]
    finally:
        await store.close()
        if native:
            await reader.close()
    if native:  # one GET per object: the other stubs of an aggregate hit the reader's cache
        assert sorted(fetched) == [archive_key("Order", key, 3) for key in ("a", "b")]


def test_a_sync_store_refuses_an_async_archive_store(tables: DynamoDBTables) -> None:
    with pytest.raises(ConfigurationError, match="async archive store"):
        DynamoDBCommitStore("t", client=tables.client, archive=InMemoryArchiveStore().as_async())
