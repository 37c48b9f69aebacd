"""Foreign or damaged tables and items: a clear ddbes error naming the table and the item."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from ddbes.errors import ConfigurationError, CorruptItem
from ddbes_dynamodb import DynamoDBCheckpointStore, DynamoDBCommitStore
from ddbes_dynamodb._client import make_client
from tests.dynamodb.helpers import commit
from tests.dynamodb.tables import DynamoDBTables, table_name

pytestmark = pytest.mark.dynamodb


def _fresh(tables: DynamoDBTables, name: str) -> DynamoDBCommitStore:
    store = DynamoDBCommitStore(name, client=tables.client)
    tables.created.append(store)
    return store


def test_a_table_with_another_key_schema_is_a_configuration_error_on_first_use(
    tables: DynamoDBTables,
) -> None:
    name = table_name("ddbes-foreign")
    tables.client.create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    store = _fresh(tables, name)
    for action in (lambda: store.append(commit("k", 1)), lambda: list(store.read_log())):
        with pytest.raises(ConfigurationError, match="not a ddbes table") as raised:
            action()
        assert name in str(raised.value)


@pytest.mark.parametrize(
    ("attributes", "problem"),
    [
        ({}, "'lp'"),
        ({"lp": {"S": "two"}}, "'N'"),
        ({"lp": {"N": "0"}}, "log_partitions must be"),
        ({"lp": {"N": "1"}, "fv": {"S": "2"}}, "'N'"),
        ({"lp": {"N": "1"}, "fv": {"N": "0"}}, "format version 0"),
    ],
)
def test_a_junk_metadata_item_is_a_corrupt_item_naming_table_and_key(
    tables: DynamoDBTables, attributes: dict[str, Any], problem: str
) -> None:
    store = tables.commit_store()
    tables.client.put_item(
        TableName=store.table_name, Item={"p": {"S": "m#"}, "s": {"S": "table"}, **attributes}
    )
    fresh = _fresh(tables, store.table_name)
    with pytest.raises(CorruptItem) as raised:
        fresh.append(commit("k", 1))
    message = str(raised.value)
    assert store.table_name in message
    assert "p='m#', s='table'" in message
    assert problem in message


@pytest.mark.parametrize(
    "item",
    [
        {"s": {"S": "000000000001"}, "a": {"S": "Cart"}},  # no commit id
        {"s": {"S": "000000000001"}, "i": {"N": "7"}, "a": {"S": "Cart"}},  # another type
        {"s": {"S": "zzz"}},  # a sort key that is no position
    ],
    ids=["missing", "wrong-type", "sort-key"],
)
def test_a_foreign_item_in_the_log_is_a_corrupt_item(
    tables: DynamoDBTables, item: dict[str, Any]
) -> None:
    store = tables.commit_store()
    tables.client.put_item(TableName=store.table_name, Item={"p": {"S": "l#0"}, **item})
    with pytest.raises(CorruptItem) as raised:
        list(store.read_log())
        store.head_position()
    assert store.table_name in str(raised.value)
    assert f"p='l#0', s={item['s']['S']!r}" in str(raised.value)


def test_a_foreign_item_in_a_commit_partition_is_a_corrupt_item(tables: DynamoDBTables) -> None:
    store = tables.commit_store()
    store.append(commit("k", 1))
    pk = "c#4#Cart#k"
    tables.client.put_item(
        TableName=store.table_name, Item={"p": {"S": pk}, "s": {"S": "000000000002"}}
    )
    with pytest.raises(CorruptItem, match=f"p='{pk}', s='000000000002'.*'i'"):
        list(store.read_commits("Cart", "k"))
    with pytest.raises(CorruptItem, match=f"p='{pk}', s='000000000002'"):
        store.append(commit("k", 2))  # the version is taken by the foreign item


def _describe_as_creating(client: Any, times: int) -> Callable[[], int]:
    """Answer the first ``times`` DescribeTable calls with status CREATING, and GetItem with
    ResourceNotFound meanwhile, as DynamoDB does while it creates a table."""
    seen = {"describe": 0}

    def before_send(request: Any, **_: Any) -> AWSResponse | None:
        target = request.headers.get("X-Amz-Target", b"")
        target = target.decode() if isinstance(target, bytes) else target
        if seen["describe"] >= times:
            return None
        if target.endswith("DescribeTable"):
            seen["describe"] += 1
            body = {"Table": {"TableName": "x", "TableStatus": "CREATING"}}
            status = 200
        elif target.endswith("GetItem"):
            body = {
                "__type": "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException",
                "message": "Requested resource not found",
            }
            status = 400
        else:
            return None
        headers = {
            "x-amzn-requestid": uuid.uuid4().hex,
            "content-type": "application/x-amz-json-1.0",
        }
        return AWSResponse(request.url, status, headers, _Body(json.dumps(body).encode()))

    client.meta.events.register("before-send.dynamodb", before_send)
    return lambda: seen["describe"]


class _Body:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


def test_a_table_still_being_created_is_waited_for_on_first_use(tables: DynamoDBTables) -> None:
    name = tables.commit_store().table_name
    client = make_client(
        "dynamodb", table=name, endpoint_url=tables.endpoint_url, region_name="us-east-1"
    )
    described = _describe_as_creating(client, times=3)
    store = DynamoDBCommitStore(name, client=client)
    tables.created.append(store)
    stored = store.append(commit("k", 1))
    assert described() == 3
    assert [c.commit_id for c in store.read_commits("Cart", "k")] == [stored.commit_id]


def test_a_checkpoint_store_on_a_foreign_table_still_says_which_table(
    tables: DynamoDBTables,
) -> None:
    store = tables.commit_store()
    tables.client.put_item(
        TableName=store.table_name,
        Item={"p": {"S": "p#projector"}, "s": {"S": "0"}, "n": {"S": "ten"}},
    )
    checkpoints = DynamoDBCheckpointStore(store.table_name, client=tables.client)
    with pytest.raises(CorruptItem, match="p='p#projector', s='0'"):
        checkpoints.get("projector")
