"""ddbes's clients write item requests with ``json.loads``'s counterpart instead of botocore's
shape walk: the request must be exactly what botocore's serializer gives, for every kind of
attribute value and every item operation."""

from __future__ import annotations

import json
from typing import Any

import botocore.session
import pytest
from botocore.serialize import JSONSerializer

from ddbes_dynamodb._client import make_async_client, make_client
from ddbes_dynamodb._requests import ITEM_OPERATIONS, _ItemRequestSerializer

_MODEL = botocore.session.get_session().get_service_model("dynamodb")

ITEM: dict[str, Any] = {
    "p": {"S": "c#4#Cart#k"},
    "s": {"S": "000000000001"},
    "n": {"N": "42"},
    "x": {"B": b"\x00\x01compressed"},
    "ok": {"BOOL": True},
    "none": {"NULL": True},
    "tags": {"SS": ["a", "b"]},
    "nums": {"NS": ["1", "2.5"]},
    "blobs": {"BS": [b"one", bytearray(b"two")]},
    "B": {"S": "an attribute named B"},
    "text": {"S": 'ünïcode \u2028 and "quotes"'},
    "c": {"L": [{"M": {"e": {"S": "[]"}, "x": {"B": b"in a page"}}}, {"N": "7"}]},
}
KEY = {"p": {"S": "c#4#Cart#k"}, "s": {"S": "000000000001"}}

REQUESTS: dict[str, dict[str, Any]] = {
    "PutItem": {
        "TableName": "t",
        "Item": ITEM,
        "ConditionExpression": "attribute_not_exists(p)",
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        "ReturnConsumedCapacity": "TOTAL",
    },
    "UpdateItem": {
        "TableName": "t",
        "Key": KEY,
        "UpdateExpression": "SET n = :n REMOVE u",
        "ConditionExpression": "n = :h",
        "ExpressionAttributeValues": {":n": {"N": "3"}, ":h": {"B": b"\xff"}},
        "ExpressionAttributeNames": {"#c": "c"},
    },
    "DeleteItem": {"TableName": "t", "Key": KEY},
    "GetItem": {"TableName": "t", "Key": KEY, "ConsistentRead": True},
    "Query": {
        "TableName": "t",
        "IndexName": "ddbes-unsequenced",
        "KeyConditionExpression": "p = :p AND s > :a",
        "ExpressionAttributeValues": {":p": {"S": "l#0"}, ":a": {"S": "000000000007"}},
        "ProjectionExpression": "s, a, k",
        "Limit": 200,
        "ScanIndexForward": False,
        "ExclusiveStartKey": KEY,
    },
    "Scan": {"TableName": "t", "Segment": 1, "TotalSegments": 4, "Limit": 10},
    "BatchGetItem": {
        "RequestItems": {"t": {"Keys": [KEY], "ConsistentRead": True, "ProjectionExpression": "p"}}
    },
    "BatchWriteItem": {
        "RequestItems": {"t": [{"PutRequest": {"Item": ITEM}}, {"DeleteRequest": {"Key": KEY}}]}
    },
    "TransactWriteItems": {
        "TransactItems": [
            {"Put": {"TableName": "t", "Item": ITEM,
                     "ConditionExpression": "attribute_not_exists(p)"}},
            {"Update": {"TableName": "t", "Key": KEY, "UpdateExpression": "SET n = :n",
                        "ExpressionAttributeValues": {":n": {"N": "1"}}}},
            {"ConditionCheck": {"TableName": "t", "Key": KEY,
                                "ConditionExpression": "attribute_exists(p)"}},
            {"Delete": {"TableName": "t", "Key": KEY}},
        ],
        "ClientRequestToken": "token",
    },
    "TransactGetItems": {"TransactItems": [{"Get": {"TableName": "t", "Key": KEY}}]},
}  # fmt: skip


def test_every_item_operation_has_a_request_here() -> None:
    assert set(REQUESTS) == ITEM_OPERATIONS


@pytest.mark.parametrize("operation", sorted(REQUESTS))
def test_a_request_is_what_botocore_writes(operation: str) -> None:
    model = _MODEL.operation_model(operation)
    expected = JSONSerializer().serialize_to_request(REQUESTS[operation], model)
    written = _ItemRequestSerializer().serialize_to_request(REQUESTS[operation], model)
    assert json.loads(written["body"]) == json.loads(expected["body"])
    assert written["headers"] == expected["headers"]
    assert {k: v for k, v in written.items() if k != "body"} == {
        k: v for k, v in expected.items() if k != "body"
    }


def test_other_operations_go_through_botocore() -> None:
    model = _MODEL.operation_model("DescribeTable")
    parameters = {"TableName": "t"}
    assert _ItemRequestSerializer().serialize_to_request(
        parameters, model
    ) == JSONSerializer().serialize_to_request(parameters, model)


def test_a_value_json_cannot_hold_is_refused_clearly() -> None:
    request = {"TableName": "t", "Item": {"p": {"S": object()}}}
    with pytest.raises(TypeError, match="cannot hold a object"):
        _ItemRequestSerializer().serialize_to_request(request, _MODEL.operation_model("PutItem"))


def test_the_clients_ddbes_builds_write_requests_this_way() -> None:
    client = make_client("dynamodb", table="t", endpoint_url="http://127.0.0.1:9", region_name="r")
    assert type(client._serializer) is _ItemRequestSerializer


async def test_the_async_clients_ddbes_builds_write_requests_this_way() -> None:
    context = make_async_client(
        "dynamodb", table="t", endpoint_url="http://127.0.0.1:9", region_name="r"
    )
    client = await context.__aenter__()
    try:
        assert type(client._serializer) is _ItemRequestSerializer
    finally:
        await context.__aexit__(None, None, None)
