"""ddbes's clients read item replies with ``json.loads`` instead of botocore's shape walk: the
result must be exactly what botocore's parser gives, for every kind of attribute value."""

from __future__ import annotations

import base64
import json
from typing import Any

import botocore.session
import pytest
from botocore.parsers import JSONParser

from ddbes_dynamodb._async_replies import _AsyncItemReplyParser
from ddbes_dynamodb._client import make_async_client, make_client
from ddbes_dynamodb._replies import _ItemReplyParser

_MODEL = botocore.session.get_session().get_service_model("dynamodb")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


ITEM: dict[str, Any] = {
    "p": {"S": "c#4#Cart#k"},
    "s": {"S": "000000000001"},
    "n": {"N": "42"},
    "x": {"B": _b64(b"\x00\x01compressed")},
    "ok": {"BOOL": True},
    "none": {"NULL": True},
    "tags": {"SS": ["a", "b"]},
    "nums": {"NS": ["1", "2.5"]},
    "blobs": {"BS": [_b64(b"one"), _b64(b"two")]},
    "B": {"S": "an attribute named B"},
    "BS": {"M": {"B": {"B": _b64(b"nested")}}},
    "c": {"L": [{"M": {"e": {"S": "[]"}, "x": {"B": _b64(b"in a page")}}}, {"N": "7"}]},
}

REPLIES = {
    "Query": {
        "Items": [ITEM, {"p": {"S": "plain"}}],
        "Count": 2,
        "ScannedCount": 2,
        "LastEvaluatedKey": {"p": {"S": "plain"}, "s": {"S": "2"}},
        "ConsumedCapacity": {"TableName": "t", "CapacityUnits": 1.5},
    },
    "GetItem": {"Item": ITEM},
    "Scan": {"Items": [], "Count": 0, "ScannedCount": 0},
    "BatchGetItem": {
        "Responses": {"t": [ITEM]},
        "UnprocessedKeys": {
            "t": {"Keys": [{"p": {"S": "a"}, "s": {"S": "1"}}], "ConsistentRead": True}
        },
    },
}


def _response(body: dict[str, Any], status: int = 200) -> dict[str, Any]:
    return {
        "body": json.dumps(body).encode(),
        "headers": {"x-amzn-requestid": "r1", "content-type": "application/x-amz-json-1.0"},
        "status_code": status,
    }


@pytest.mark.parametrize("operation", sorted(REPLIES))
def test_item_replies_parse_exactly_as_botocore_parses_them(operation: str) -> None:
    shape = _MODEL.operation_model(operation).output_shape
    expected = JSONParser().parse(_response(REPLIES[operation]), shape)
    assert _ItemReplyParser().parse(_response(REPLIES[operation]), shape) == expected


def test_binary_values_come_back_as_bytes_at_any_depth() -> None:
    shape = _MODEL.operation_model("GetItem").output_shape
    item = _ItemReplyParser().parse(_response(REPLIES["GetItem"]), shape)["Item"]
    assert item["x"] == {"B": b"\x00\x01compressed"}
    assert item["blobs"] == {"BS": [b"one", b"two"]}
    assert item["BS"] == {"M": {"B": {"B": b"nested"}}}
    assert item["B"] == {"S": "an attribute named B"}
    assert item["c"]["L"][0]["M"]["x"] == {"B": b"in a page"}


def test_other_replies_and_errors_go_through_botocore() -> None:
    shape = _MODEL.operation_model("DescribeTable").output_shape
    body = {"Table": {"TableName": "t", "CreationDateTime": 1700000000.5}}
    parsed = _ItemReplyParser().parse(_response(body), shape)
    assert parsed["Table"]["CreationDateTime"].year == 2023  # a datetime, as botocore makes it
    error = {"__type": "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException", "message": "x"}
    shape = _MODEL.operation_model("Query").output_shape
    parsed = _ItemReplyParser().parse(_response(error, 400), shape)
    assert parsed["Error"]["Code"] == "ResourceNotFoundException"


def test_a_body_that_is_not_json_is_botocores_business() -> None:
    shape = _MODEL.operation_model("Query").output_shape
    for body in (b"<html>proxy error</html>", b""):
        response = {"body": body, "headers": {}, "status_code": 200}
        assert _ItemReplyParser().parse(dict(response), shape) == JSONParser().parse(
            dict(response), shape
        )


def test_ddbes_clients_use_it() -> None:
    client = make_client(
        "dynamodb", table="t", endpoint_url="http://127.0.0.1:9", region_name="us-east-1"
    )
    parser = client._endpoint._response_parser_factory.create_parser("json")
    assert isinstance(parser, _ItemReplyParser)


async def test_the_async_parser_reads_them_the_same_way() -> None:
    shape = _MODEL.operation_model("Query").output_shape
    expected = JSONParser().parse(_response(REPLIES["Query"]), shape)
    assert await _AsyncItemReplyParser().parse(_response(REPLIES["Query"]), shape) == expected
    async with make_async_client(
        "dynamodb", table="t", endpoint_url="http://127.0.0.1:9", region_name="us-east-1"
    ) as client:
        parser = client._endpoint._response_parser_factory.create_parser("json")
        assert isinstance(parser, _AsyncItemReplyParser)
