"""The DynamoDB adapter's metrics: the capacity its requests consumed (asked of DynamoDB only
while metrics are collected), its retries and throttles."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from ddbes.retry import RetryPolicy
from ddbes_dynamodb import AsyncDynamoDBCommitStore, DynamoDBCommitStore
from ddbes_dynamodb._client import make_client
from tests.dynamodb.helpers import commit, inject_errors
from tests.dynamodb.tables import DynamoDBTables
from tests.services import DynamoDBLocal
from tests.telemetry.conftest import Otel

pytestmark = pytest.mark.dynamodb


@pytest.fixture
def tables(dynamodb_local: DynamoDBLocal) -> Iterator[DynamoDBTables]:
    made = DynamoDBTables(dynamodb_local.endpoint_url, sequencing="inline")
    yield made
    made.delete_all()


def _private_store(tables: DynamoDBTables, **kwargs: Any) -> DynamoDBCommitStore:
    """A store with a client of its own, so that request hooks stay in this test."""
    table = tables.commit_store().table_name
    client = make_client(
        "dynamodb", table=table, endpoint_url=tables.endpoint_url, region_name="us-east-1"
    )
    store = DynamoDBCommitStore(table, client=client, **kwargs)
    tables.created.append(store)
    return store


def _asked(client: Any) -> list[str | None]:
    """What each request of ``client`` asked of ``ReturnConsumedCapacity``, from now on."""
    asked: list[str | None] = []

    def before(params: dict[str, Any], **_: Any) -> None:
        asked.append(params.get("ReturnConsumedCapacity"))

    client.meta.events.register("provide-client-params.dynamodb.*", before)
    return asked


def _capacity(otel: Otel) -> dict[tuple[str, str], float]:
    """(DynamoDB operation, read or write) -> capacity units counted."""
    found: dict[tuple[str, str], float] = {}
    for point in otel.metrics().get("ddbes.consumed_capacity", []):
        attributes = dict(point.attributes)
        assert attributes["db.system"] == "dynamodb"
        assert attributes["aws.dynamodb.table_names"]
        key = (attributes["db.operation.name"], attributes["ddbes.capacity"])
        found[key] = found.get(key, 0.0) + point.value
    return found


def test_consumed_capacity_is_counted_per_operation(tables: DynamoDBTables, otel: Otel) -> None:
    store = _private_store(tables)
    asked = _asked(store.client)
    store.append(commit("k", 1))
    assert list(store.read_commits("Cart", "k")) != []

    assert asked and set(asked) == {"TOTAL"}
    capacity = _capacity(otel)
    assert capacity[("TransactWriteItems", "write")] > 0
    assert capacity[("Query", "read")] > 0
    (point, *_) = otel.metrics()["ddbes.consumed_capacity"]
    assert dict(point.attributes)["ddbes.operation"]  # what the call was for


def test_without_metrics_requests_do_not_ask_for_capacity(tables: DynamoDBTables) -> None:
    store = _private_store(tables)
    asked = _asked(store.client)
    store.append(commit("k", 1))
    list(store.read_commits("Cart", "k"))
    assert asked and set(asked) == {None}


def test_the_async_adapter_counts_consumed_capacity(tables: DynamoDBTables, otel: Otel) -> None:
    table = tables.commit_store().table_name

    async def work() -> None:
        store = AsyncDynamoDBCommitStore(table, endpoint_url=tables.endpoint_url)
        try:
            await store.append(commit("k", 1))
            assert [c async for c in store.read_commits("Cart", "k")] != []
        finally:
            await store.close()

    asyncio.run(work())
    capacity = _capacity(otel)
    assert capacity[("TransactWriteItems", "write")] > 0
    assert capacity[("Query", "read")] > 0


def test_throttled_calls_count_as_retries_and_throttles(tables: DynamoDBTables, otel: Otel) -> None:
    fast = RetryPolicy(max_attempts=4, initial_delay=0.001, backoff=2.0, max_delay=0.01)
    store = _private_store(tables, retry_policy=fast)
    inject_errors(store.client, "TransactWriteItems", "ThrottlingException", times=2)
    store.append(commit("k", 1))

    # only this store's calls: a background thread another test left running counts in the
    # same metrics (a CI run once saw 4 retries here, 2 of them not this store's)
    found = {
        name: [
            point
            for point in points
            if dict(point.attributes).get("aws.dynamodb.table_names") == store.table_name
        ]
        for name, points in otel.metrics().items()
    }
    retried = [dict(point.attributes) for point in found["ddbes.retries"]]
    assert sum(point.value for point in found["ddbes.retries"]) == 2, retried
    assert {attributes["db.operation.name"] for attributes in retried} == {"append"}
    (throttles,) = found["ddbes.throttles"]
    assert throttles.value == 2
    assert dict(throttles.attributes)["error.type"] == "ThrottlingException"
