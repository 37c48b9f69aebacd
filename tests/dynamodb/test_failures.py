"""Failures of DynamoDB and of the network: what the adapter retries, and what it raises."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest
from botocore.exceptions import ConnectionClosedError

from ddbes.errors import ConfigurationError, StoreUnavailable
from ddbes.model import Commit
from ddbes.retry import RetryPolicy
from ddbes_dynamodb import DynamoDBCheckpointStore, DynamoDBCommitStore, DynamoDBLeaseStore
from ddbes_dynamodb._client import make_client
from ddbes_dynamodb._items import commit_pk, head_key, log_pk, pad
from ddbes_dynamodb._sequencing import LEASE_NAME
from tests.dynamodb.helpers import commit, inject_errors
from tests.dynamodb.tables import DynamoDBTables, table_name
from tests.services import DynamoDBLocal, free_port

pytestmark = pytest.mark.dynamodb

FAST = RetryPolicy(max_attempts=4, initial_delay=0.001, backoff=2.0, max_delay=0.01)
FLUSH = 30.0


@pytest.fixture(params=["background", "inline"])
def any_tables(
    request: pytest.FixtureRequest, dynamodb_local: DynamoDBLocal
) -> Iterator[DynamoDBTables]:
    """Stores on fresh tables of either sequencing (the guarantee holds for both)."""
    made = DynamoDBTables(dynamodb_local.endpoint_url, sequencing=request.param)
    yield made
    made.delete_all()


@pytest.fixture
def inline_tables(dynamodb_local: DynamoDBLocal) -> Iterator[DynamoDBTables]:
    """Stores on fresh tables whose log is written inline, by the commit's own transaction."""
    made = DynamoDBTables(dynamodb_local.endpoint_url, sequencing="inline")
    yield made
    made.delete_all()


def _private_store(tables: DynamoDBTables, **kwargs: Any) -> DynamoDBCommitStore:
    """A store on a fresh table with a client of its own, so that hooks stay in this test;
    closed (its sequencer stopped) after the test."""
    table = tables.commit_store().table_name
    client = make_client(
        "dynamodb", table=table, endpoint_url=tables.endpoint_url, region_name="us-east-1"
    )
    store = DynamoDBCommitStore(table, client=client, **kwargs)
    tables.created.append(store)
    return store


def _hold_sequencer_lease(tables: DynamoDBTables, table: str, partition: int = 0) -> None:
    """Another (silent) process holds the sequencer lease: no background thread of this test
    sequences, so the log is written only by ``flush_log``, in the test's thread."""
    leases = DynamoDBLeaseStore(table, client=tables.client)
    assert leases.acquire(LEASE_NAME, partition, "a-process-elsewhere", 600.0)


def _unpositioned(commit: Commit) -> Commit:
    return replace(commit, position=None)


def _lose_responses(
    client: Any, times: int | None, operation: str = "TransactWriteItems"
) -> tuple[list[int], Callable[[], None]]:
    """Drop the response of applied ``operation`` calls, as a broken connection would."""
    lost: list[int] = []

    def after_call(http_response: Any, **_: Any) -> None:
        if times is None or len(lost) < times:
            lost.append(http_response.status_code)
            raise ConnectionClosedError(endpoint_url="http://127.0.0.1")

    event = f"after-call.dynamodb.{operation}"
    client.meta.events.register(event, after_call)
    return lost, lambda: client.meta.events.unregister(event, after_call)


def test_a_commit_whose_response_was_lost_is_stored_once(inline_tables: DynamoDBTables) -> None:
    store = _private_store(inline_tables, retry_policy=FAST)
    store.append(commit("k", 1))
    lost, _ = _lose_responses(store.client, times=1)

    stored = store.append(commit("k", 2, commit_id="lost-once"))

    assert lost == [200], "the first attempt was applied by DynamoDB, then its answer dropped"
    assert stored.commit_id == "lost-once" and stored.version == 2 and stored.position == 2
    assert [c.commit_id for c in store.read_log()][1:] == ["lost-once"]
    assert list(store.read_commits("Cart", "k", from_version=2)) == [stored]
    assert store.head_position() == 2


def test_an_unknown_outcome_retried_with_its_commit_id_returns_the_stored_commit(
    inline_tables: DynamoDBTables,
) -> None:
    store = _private_store(inline_tables, retry_policy=FAST)
    lost, heal = _lose_responses(store.client, times=None)
    doomed = commit("k", 1, commit_id="unknown-outcome")

    with pytest.raises(StoreUnavailable, match="outcome is unknown"):
        store.append(doomed)
    assert lost[0] == 200 and len(lost) == FAST.max_attempts

    other_writer = DynamoDBCommitStore(store.table_name, client=inline_tables.client)
    other = other_writer.append(commit("other", 1))  # the log moves on meanwhile
    heal()
    again = store.append(doomed)

    assert again.commit_id == "unknown-outcome" and again.position == 1
    assert [c.commit_id for c in store.read_log()] == ["unknown-outcome", other.commit_id]
    assert list(store.read_commits("Cart", "k")) == [again]


def test_a_put_whose_response_was_lost_is_stored_once_and_logged_once(
    tables: DynamoDBTables,
) -> None:
    store = _private_store(tables, retry_policy=FAST)
    assert store.sequencing == "background"
    first = store.append(commit("k", 1))
    lost, _ = _lose_responses(store.client, times=1, operation="PutItem")

    stored = store.append(commit("k", 2, commit_id="lost-once"))  # a plain PutItem: 1 was seen

    assert lost == [200], "the first attempt was applied by DynamoDB, then its answer dropped"
    assert stored.commit_id == "lost-once" and stored.version == 2
    assert stored.position in (None, 2)
    store.flush_log(timeout=FLUSH)
    log = list(store.read_log())
    assert [c.commit_id for c in log] == [first.commit_id, "lost-once"]
    assert [c.position for c in log] == [1, 2]
    (read,) = store.read_commits("Cart", "k", from_version=2)
    assert read.position == 2 and _unpositioned(read) == _unpositioned(stored)
    assert store.head_position() == 2
    assert store.describe().backlog == (0,)


def test_a_first_commit_whose_transaction_response_was_lost_is_stored_once_and_logged_once(
    tables: DynamoDBTables,
) -> None:
    store = _private_store(tables, retry_policy=FAST)
    _hold_sequencer_lease(tables, store.table_name)  # only the append's transaction is sent
    lost, heal = _lose_responses(store.client, times=1)

    stored = store.append(commit("k", 1, commit_id="lost-once"))

    assert lost == [200], "the first attempt was applied by DynamoDB, then its answer dropped"
    assert stored.commit_id == "lost-once" and stored.position is None
    heal()
    store.flush_log(timeout=FLUSH)
    assert [(c.commit_id, c.position) for c in store.read_log()] == [("lost-once", 1)]
    assert list(store.read_commits("Cart", "k")) == [replace(stored, position=1)]
    assert list(store.aggregate_keys("Cart")) == ["k"]


def test_a_sequencing_transaction_whose_response_was_lost_leaves_the_log_dense(
    tables: DynamoDBTables,
) -> None:
    store = _private_store(tables, retry_policy=FAST)
    _hold_sequencer_lease(tables, store.table_name)  # the log is written by flush_log only
    appended = [store.append(commit("k", 1)), store.append(commit("k", 2))]
    appended.append(store.append(commit("other", 1)))
    lost, heal = _lose_responses(store.client, times=1)

    store.flush_log(timeout=FLUSH)  # the batch is applied, its answer lost, then retried

    assert lost == [200]
    heal()
    log = list(store.read_log())
    assert [c.position for c in log] == [1, 2, 3]
    assert sorted(c.commit_id for c in log) == sorted(c.commit_id for c in appended)
    assert store.head_position() == 3
    assert store.describe().backlog == (0,)

    later = store.append(commit("k", 3))
    lost, heal = _lose_responses(store.client, times=None)  # the first attempt is applied
    with pytest.raises(StoreUnavailable, match="outcome is unknown"):
        store.flush_log(timeout=FLUSH)
    assert lost[0] == 200 and len(lost) == FAST.max_attempts
    heal()
    store.flush_log(timeout=FLUSH)  # the first attempt did it: nothing is written twice

    log = list(store.read_log())
    assert [c.position for c in log] == [1, 2, 3, 4]
    assert log[3].commit_id == later.commit_id
    positions = {c.commit_id: c.position for c in log}
    stored = list(store.read_commits("Cart", "k"))
    assert [c.version for c in stored] == [1, 2, 3]
    assert all(c.position == positions[c.commit_id] for c in stored)


def test_an_unknown_outcome_of_a_put_retried_with_its_commit_id_returns_the_stored_commit(
    tables: DynamoDBTables,
) -> None:
    store = _private_store(tables, retry_policy=FAST)
    lost, heal = _lose_responses(store.client, times=None)  # version 1: a transaction
    doomed = commit("k", 1, commit_id="unknown-outcome")

    with pytest.raises(StoreUnavailable, match="outcome is unknown"):
        store.append(doomed)
    assert lost[0] == 200 and len(lost) == FAST.max_attempts

    other_writer = DynamoDBCommitStore(store.table_name, client=tables.client)
    tables.created.append(other_writer)
    other = other_writer.append(commit("other", 1))  # the log moves on meanwhile
    other_writer.flush_log(timeout=FLUSH)
    heal()
    again = store.append(doomed)
    store.flush_log(timeout=FLUSH)

    assert again.commit_id == "unknown-outcome"
    assert _unpositioned(again) == doomed
    log = list(store.read_log())
    assert [c.position for c in log] == [1, 2]
    assert sorted(c.commit_id for c in log) == sorted(["unknown-outcome", other.commit_id])
    (read,) = store.read_commits("Cart", "k")
    assert read.position is not None and _unpositioned(read) == _unpositioned(again)
    assert again.position in (None, read.position)


def test_throttling_is_retried_with_backoff(tables: DynamoDBTables) -> None:
    store = _private_store(tables, retry_policy=FAST)
    calls = inject_errors(store.client, "TransactWriteItems", "ThrottlingException", times=2)
    stored = store.append(commit("k", 1))
    assert calls() == 3
    assert list(store.read_commits("Cart", "k")) == [stored]


@pytest.mark.parametrize(
    "code",
    ["ProvisionedThroughputExceededException", "RequestLimitExceeded", "InternalServerError"],
)
def test_persistent_throttling_ends_in_store_unavailable(tables: DynamoDBTables, code: str) -> None:
    store = _private_store(tables, retry_policy=FAST)
    calls = inject_errors(store.client, "TransactWriteItems", code, times=None)
    with pytest.raises(StoreUnavailable, match=code) as raised:
        store.append(commit("k", 1))
    assert calls() == FAST.max_attempts
    assert store.table_name in str(raised.value)
    assert raised.value.__cause__ is not None
    assert store.head_position() == 0
    assert list(store.read_commits("Cart", "k")) == []


def test_throttled_reads_are_retried_then_fail_clearly(any_tables: DynamoDBTables) -> None:
    store = _private_store(any_tables, retry_policy=FAST)
    store.append(commit("k", 1))
    store.flush_log(timeout=FLUSH)
    store.close()  # a background sequencer would query the same client: count the test's own
    calls = inject_errors(store.client, "Query", "ThrottlingException", times=2)
    assert [c.version for c in store.read_commits("Cart", "k")] == [1]
    assert calls() == 3
    inject_errors(store.client, "Query", "ThrottlingException", times=None)
    with pytest.raises(StoreUnavailable):
        list(store.read_log())


def test_a_missing_table_is_a_configuration_error_naming_create_table(
    dynamodb_local: DynamoDBLocal,
) -> None:
    name = table_name("ddbes-missing")
    store = DynamoDBCommitStore(name, endpoint_url=dynamodb_local.endpoint_url)
    checkpoints = DynamoDBCheckpointStore(name, client=store.client)
    for action in (
        lambda: store.append(commit("k", 1)),
        lambda: list(store.read_commits("Cart", "k")),
        lambda: list(store.read_log()),
        store.head_position,
        lambda: list(store.aggregate_keys("Cart")),
        lambda: store.log_partitions,
        lambda: checkpoints.get("projector"),
        lambda: checkpoints.save("projector", 1),
    ):
        with pytest.raises(ConfigurationError, match="create_table") as raised:
            action()
        assert name in str(raised.value)
    assert not store.describe().exists


def test_an_unreachable_endpoint_is_store_unavailable() -> None:
    store = DynamoDBCommitStore(
        "ddbes-nowhere", endpoint_url=f"http://127.0.0.1:{free_port()}", retry_policy=FAST
    )
    with pytest.raises(StoreUnavailable, match="could not be reached"):
        store.head_position()


def test_a_table_without_ddbes_metadata_says_how_to_fix_it(any_tables: DynamoDBTables) -> None:
    store = any_tables.commit_store()
    store.client.delete_item(
        TableName=store.table_name, Key={"p": {"S": "m#"}, "s": {"S": "table"}}
    )
    fresh = DynamoDBCommitStore(store.table_name, client=any_tables.client)
    any_tables.created.append(fresh)
    with pytest.raises(ConfigurationError, match=r"create_table\(log_partitions=N\)"):
        fresh.append(commit("k", 1))
    fresh.create_table(log_partitions=1)  # records the metadata, keeps the table
    assert fresh.sequencing == any_tables.sequencing  # a table without the index is inline
    stored = fresh.append(commit("k", 1))
    fresh.flush_log(timeout=FLUSH)
    assert [(c.commit_id, c.position) for c in fresh.read_log()] == [(stored.commit_id, 1)]
    assert fresh.head_position() == 1


def _forget_second_commit(tables: DynamoDBTables, store: DynamoDBCommitStore) -> None:
    """The store forgets the commit of Cart:k version 2 at log position 2 (on a table with
    log pages: its page, which holds only it, and the head item's move to it)."""
    for key in (
        {"p": {"S": commit_pk("Cart", "k")}, "s": {"S": pad(2)}},
        {"p": {"S": log_pk(0)}, "s": {"S": pad(2)}},
    ):
        tables.client.delete_item(TableName=store.table_name, Key=key)
    if store.sequencing == "background":
        tables.client.update_item(
            TableName=store.table_name,
            Key=head_key(0),
            UpdateExpression="SET n = :one",
            ExpressionAttributeValues={":one": {"N": "1"}},
        )


def test_a_writer_that_saw_the_store_fail_rereads_the_head_so_the_log_stays_dense(
    inline_tables: DynamoDBTables,
) -> None:
    """A store that forgets an acknowledged write (DynamoDB Local killed just after answering)
    must not make the writer leave a hole at the forgotten position."""
    tables = inline_tables
    store = _private_store(tables, retry_policy=FAST)
    store.append(commit("k", 1))
    store.append(commit("k", 2))
    _forget_second_commit(tables, store)
    calls = inject_errors(store.client, "TransactWriteItems", "InternalServerError", times=4)
    with pytest.raises(StoreUnavailable):
        store.append(commit("other", 1))
    assert calls() == FAST.max_attempts

    again = store.append(commit("k", 2, commit_id="second-again"))

    assert again.position == 2, "the writer re-read the head after the failure"
    assert [c.position for c in store.read_log()] == [1, 2]


def test_a_sequencer_that_saw_the_store_fail_rereads_the_head_so_the_log_stays_dense(
    tables: DynamoDBTables,
) -> None:
    """The same forgotten write on a table sequenced in the background: the sequencer's head
    must be read again after a failure, not taken from its memory."""
    store = _private_store(tables, retry_policy=FAST)
    _hold_sequencer_lease(tables, store.table_name)  # the log is written by flush_log only
    store.append(commit("k", 1))
    store.flush_log(timeout=FLUSH)
    store.append(commit("k", 2))
    store.flush_log(timeout=FLUSH)  # the sequencer's head is 2, in a page of its own
    other = store.append(commit("other", 1))
    _forget_second_commit(tables, store)
    calls = inject_errors(store.client, "TransactWriteItems", "InternalServerError", times=4)
    with pytest.raises(StoreUnavailable):
        store.flush_log(timeout=FLUSH)
    assert calls() == FAST.max_attempts

    store.flush_log(timeout=FLUSH)
    another = store.append(commit("another", 1))
    store.flush_log(timeout=FLUSH)

    log = list(store.read_log())
    assert [c.position for c in log] == [1, 2, 3], "the sequencer re-read the head"
    assert [c.commit_id for c in log][1:] == [other.commit_id, another.commit_id]
    assert store.head_position() == 3
