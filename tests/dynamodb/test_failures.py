"""Failures of DynamoDB and of the network: what the adapter retries, and what it raises."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ConnectionClosedError

from ddbes.errors import ConfigurationError, StoreUnavailable
from ddbes.retry import RetryPolicy
from ddbes_dynamodb import DynamoDBCheckpointStore, DynamoDBCommitStore
from ddbes_dynamodb._client import make_client
from tests.dynamodb.helpers import commit, inject_errors
from tests.dynamodb.tables import DynamoDBTables, table_name
from tests.services import DynamoDBLocal, free_port

pytestmark = pytest.mark.dynamodb

FAST = RetryPolicy(max_attempts=4, initial_delay=0.001, backoff=2.0, max_delay=0.01)


def _private_store(tables: DynamoDBTables, **kwargs: Any) -> DynamoDBCommitStore:
    """A store on a fresh table with a client of its own, so that hooks stay in this test."""
    table = tables.commit_store().table_name
    client = make_client(
        "dynamodb", table=table, endpoint_url=tables.endpoint_url, region_name="us-east-1"
    )
    return DynamoDBCommitStore(table, client=client, **kwargs)


def _lose_responses(client: Any, times: int | None) -> tuple[list[int], Callable[[], None]]:
    """Drop the response of applied TransactWriteItems calls, as a broken connection would."""
    lost: list[int] = []

    def after_call(http_response: Any, **_: Any) -> None:
        if times is None or len(lost) < times:
            lost.append(http_response.status_code)
            raise ConnectionClosedError(endpoint_url="http://127.0.0.1")

    event = "after-call.dynamodb.TransactWriteItems"
    client.meta.events.register(event, after_call)
    return lost, lambda: client.meta.events.unregister(event, after_call)


def test_a_commit_whose_response_was_lost_is_stored_once(tables: DynamoDBTables) -> None:
    store = _private_store(tables, retry_policy=FAST)
    store.append(commit("k", 1))
    lost, _ = _lose_responses(store.client, times=1)

    stored = store.append(commit("k", 2, commit_id="lost-once"))

    assert lost == [200], "the first attempt was applied by DynamoDB, then its answer dropped"
    assert stored.commit_id == "lost-once" and stored.version == 2 and stored.position == 2
    assert [c.commit_id for c in store.read_log()][1:] == ["lost-once"]
    assert list(store.read_commits("Cart", "k", from_version=2)) == [stored]
    assert store.head_position() == 2


def test_an_unknown_outcome_retried_with_its_commit_id_returns_the_stored_commit(
    tables: DynamoDBTables,
) -> None:
    store = _private_store(tables, retry_policy=FAST)
    lost, heal = _lose_responses(store.client, times=None)
    doomed = commit("k", 1, commit_id="unknown-outcome")

    with pytest.raises(StoreUnavailable, match="outcome is unknown"):
        store.append(doomed)
    assert lost[0] == 200 and len(lost) == FAST.max_attempts

    other_writer = DynamoDBCommitStore(store.table_name, client=tables.client)
    other = other_writer.append(commit("other", 1))  # the log moves on meanwhile
    heal()
    again = store.append(doomed)

    assert again.commit_id == "unknown-outcome" and again.position == 1
    assert [c.commit_id for c in store.read_log()] == ["unknown-outcome", other.commit_id]
    assert list(store.read_commits("Cart", "k")) == [again]


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


def test_throttled_reads_are_retried_then_fail_clearly(tables: DynamoDBTables) -> None:
    store = _private_store(tables, retry_policy=FAST)
    store.append(commit("k", 1))
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


def test_a_table_without_ddbes_metadata_says_how_to_fix_it(tables: DynamoDBTables) -> None:
    store = tables.commit_store()
    store.client.delete_item(
        TableName=store.table_name, Key={"p": {"S": "m#"}, "s": {"S": "table"}}
    )
    fresh = DynamoDBCommitStore(store.table_name, client=tables.client)
    with pytest.raises(ConfigurationError, match=r"create_table\(log_partitions=N\)"):
        fresh.append(commit("k", 1))
    fresh.create_table(log_partitions=1)  # records the metadata, keeps the table
    assert fresh.append(commit("k", 1)).position == 1


def test_a_writer_that_saw_the_store_fail_rereads_the_head_so_the_log_stays_dense(
    tables: DynamoDBTables,
) -> None:
    """A store that forgets an acknowledged write (DynamoDB Local killed just after answering)
    must not make the writer leave a hole at the forgotten position."""
    store = _private_store(tables, retry_policy=FAST)
    store.append(commit("k", 1))
    store.append(commit("k", 2))
    from ddbes_dynamodb._items import commit_pk, log_pk, pad

    for key in (
        {"p": {"S": commit_pk("Cart", "k")}, "s": {"S": pad(2)}},
        {"p": {"S": log_pk(0)}, "s": {"S": pad(2)}},
    ):  # the store forgets the second commit
        tables.client.delete_item(TableName=store.table_name, Key=key)
    calls = inject_errors(store.client, "TransactWriteItems", "InternalServerError", times=4)
    with pytest.raises(StoreUnavailable):
        store.append(commit("other", 1))
    assert calls() == FAST.max_attempts

    again = store.append(commit("k", 2, commit_id="second-again"))

    assert again.position == 2, "the writer re-read the head after the failure"
    assert [c.position for c in store.read_log()] == [1, 2]
