"""Direct calls (:mod:`ddbes_dynamodb._direct`): the item operations of the clients ddbes
builds skip botocore's per-call pipeline. Each test compares a direct call with the same call
through the pipeline (the same client options, forced through it by a ``before-send``
handler) on the same server: the same request bytes, the same replies, the same exceptions.
DynamoDB Local is reached through direct calls by every other DynamoDB test."""

from __future__ import annotations

import asyncio
import base64
import datetime
import functools
import json
import uuid
from collections.abc import Iterator
from typing import Any

import botocore.auth
import pytest
from botocore.client import BaseClient
from botocore.endpoint import Endpoint
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
)
from botocore.parsers import ResponseParserError

from ddbes_dynamodb import DynamoDBCommitStore
from ddbes_dynamodb._client import make_async_client, make_client
from tests.dynamodb.helpers import commit
from tests.dynamodb.http_servers import TIMEOUTS, Server, server_in_thread
from tests.dynamodb.tables import table_name
from tests.services import DynamoDBLocal, free_port

NOW = datetime.datetime(2026, 11, 30, 12, 0, 0)
BINARY = base64.b64encode(b"\x00\x01binary").decode()

ERROR = "com.amazonaws.dynamodb.v20120810#"
JSON = "application/x-amz-json-1.0"
ITEM = {"pk": {"S": "a"}, "b": {"B": BINARY}, "n": {"N": "1"}}

SUCCESSES: dict[str, bytes] = {
    "GetItem": json.dumps({"Item": ITEM, "NotInTheModel": 1}).encode(),
    "PutItem": json.dumps(
        {"Attributes": ITEM, "ConsumedCapacity": {"TableName": "t", "CapacityUnits": 1.0}}
    ).encode(),
    "TransactWriteItems": json.dumps(
        {"ConsumedCapacity": [{"TableName": "t", "CapacityUnits": 2.0}]}
    ).encode(),
    "BatchWriteItem": json.dumps(
        {"UnprocessedItems": {"t": [{"PutRequest": {"Item": ITEM}}]}}
    ).encode(),
}
"""A successful reply of each operation, with binary values (and a member the service model
does not name, which botocore's parser drops)."""

FAILURES: dict[str, tuple[int, str, bytes]] = {
    "a failed condition with the item": (
        400,
        JSON,
        json.dumps(
            {
                "__type": f"{ERROR}ConditionalCheckFailedException",
                "message": "The conditional request failed",
                "Item": ITEM,
            }
        ).encode(),
    ),
    "a cancelled transaction": (
        400,
        JSON,
        json.dumps(
            {
                "__type": f"{ERROR}TransactionCanceledException",
                "Message": "Transaction cancelled [ConditionalCheckFailed, None]",
                "CancellationReasons": [
                    {
                        "Code": "ConditionalCheckFailed",
                        "Message": "The conditional request failed",
                        "Item": ITEM,
                    },
                    {"Code": "None"},
                ],
            }
        ).encode(),
    ),
    "throttling": (
        400,
        JSON,
        json.dumps(
            {
                "__type": f"{ERROR}ProvisionedThroughputExceededException",
                "message": "Rate exceeded",
            }
        ).encode(),
    ),
    "an internal error": (500, JSON, b'{"__type": "com.amazon.coral.service#InternalFailure"}'),
    "a proxy's HTML page": (502, "text/html", b"<html><body>Bad Gateway</body></html>"),
    "a success that is not JSON": (200, JSON, b"not json"),
}
REPLIES = ["success", *FAILURES]


def responder(status: int, content_type: str, body: bytes) -> Any:
    head = (
        f"HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\n"
        f"x-amzn-RequestId: R1\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()

    async def respond(writer: asyncio.StreamWriter, n: int) -> bool:
        writer.write(head + body)
        return True

    return respond


def client_of(url: str, *, pipeline: bool = False) -> Any:
    client = make_client(
        "dynamodb", table="t", endpoint_url=url, region_name="us-east-1", timeouts=TIMEOUTS
    )
    if pipeline:
        client.meta.events.register("before-send.dynamodb", lambda **_: None)
    return client


async def async_client_of(url: str, *, pipeline: bool = False) -> tuple[Any, Any]:
    """:func:`client_of`'s async twin: the entered context and its client."""
    context = make_async_client(
        "dynamodb", table="t", endpoint_url=url, region_name="us-east-1", timeouts=TIMEOUTS
    )
    client = await context.__aenter__()
    if pipeline:
        client.meta.events.register("before-send.dynamodb", lambda **_: None)
    return context, client


@pytest.fixture
def fixed_clock_and_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same signing time and uuids (idempotency tokens, invocation ids) on both paths."""
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: NOW)
    monkeypatch.setattr(uuid, "uuid4", lambda: uuid.UUID(int=7))


@pytest.fixture
def pipeline_sends(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The operations sent through botocore's pipeline (its endpoint's ``make_request``)."""
    sent: list[str] = []
    original = Endpoint.make_request

    def counted(self: Any, operation_model: Any, request_dict: Any) -> Any:
        sent.append(operation_model.name)
        return original(self, operation_model, request_dict)

    monkeypatch.setattr(Endpoint, "make_request", counted)
    return sent


def outcome(call: Any) -> tuple[str, Any]:
    try:
        result = call()
    except ClientError as exc:
        return type(exc).__name__, (exc.response, str(exc))
    except ResponseParserError as exc:
        return type(exc).__name__, None
    return "reply", result


CALLS: dict[str, tuple[str, dict[str, Any]]] = {
    "GetItem": ("get_item", {"TableName": "t", "Key": {"pk": {"S": "a"}}}),
    "PutItem": (
        "put_item",
        {
            "TableName": "t",
            "Item": {"pk": {"S": "a"}, "b": {"B": b"\x00\x01"}},
            "ConditionExpression": "attribute_not_exists(pk)",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        },
    ),
    "TransactWriteItems": (
        "transact_write_items",
        {"TransactItems": [{"Put": {"TableName": "t", "Item": {"pk": {"S": "a"}}}}]},
    ),
    "BatchWriteItem": (
        "batch_write_item",
        {"RequestItems": {"t": [{"PutRequest": {"Item": {"pk": {"S": "a"}}}}]}},
    ),
}


@pytest.mark.usefixtures("fixed_clock_and_ids")
@pytest.mark.parametrize("operation", CALLS)
@pytest.mark.parametrize("answer", REPLIES)
def test_a_direct_call_sends_and_reads_what_the_pipeline_does(
    operation: str, answer: str, pipeline_sends: list[str]
) -> None:
    method, params = CALLS[operation]
    reply = (200, JSON, SUCCESSES[operation]) if answer == "success" else FAILURES[answer]
    with server_in_thread(responder(*reply)) as server:
        direct = outcome(lambda: getattr(client_of(server.url), method)(**params))
        assert pipeline_sends == []
        piped = outcome(lambda: getattr(client_of(server.url, pipeline=True), method)(**params))
        assert pipeline_sends == [operation]
        sent_direct, sent_piped = server.requests
    assert direct == piped
    assert sent_direct == sent_piped
    assert b"amz-sdk-invocation-id: " in sent_direct
    if operation == "TransactWriteItems":
        assert b'"ClientRequestToken": ' in sent_direct


def test_binary_values_arrive_decoded_and_errors_carry_their_modeled_fields() -> None:
    with (
        server_in_thread(responder(*FAILURES["a cancelled transaction"])) as server,
        pytest.raises(ClientError) as caught,
    ):
        client_of(server.url).transact_write_items(**CALLS["TransactWriteItems"][1])
    error = caught.value
    assert type(error).__name__ == "TransactionCanceledException"
    reasons = error.response["CancellationReasons"]
    assert reasons[0]["Item"]["b"] == {"B": b"\x00\x01binary"}
    assert error.response["Error"]["Code"] == "TransactionCanceledException"


@pytest.mark.usefixtures("fixed_clock_and_ids")
def test_a_session_token_is_sent_and_signed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SESSION_TOKEN", "token-1")
    with server_in_thread(responder(200, JSON, SUCCESSES["PutItem"])) as server:
        client_of(server.url).put_item(**CALLS["PutItem"][1])
        client_of(server.url, pipeline=True).put_item(**CALLS["PutItem"][1])
        direct, piped = server.requests
    assert b"X-Amz-Security-Token: token-1" in direct
    assert b"x-amz-security-token" in direct.split(b"SignedHeaders=")[1].split(b",")[0]
    assert direct == piped


def test_no_credentials_raise_botocore_s_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with server_in_thread() as server:
        client = client_of(server.url)
        with pytest.raises(NoCredentialsError):
            client.put_item(**CALLS["PutItem"][1])
        assert server.requests == []


def test_handlers_of_parameters_and_outcomes_run_on_direct_calls(
    pipeline_sends: list[str],
) -> None:
    seen: list[tuple[str, Any]] = []

    def provide(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        params["ReturnConsumedCapacity"] = "TOTAL"
        context["mine"] = 1

    def after(
        http_response: Any, parsed: dict[str, Any], model: Any, context: Any, **_: Any
    ) -> None:
        seen.append((model.name, (http_response.status_code, parsed.get("Error"), context)))

    def failed(exception: Exception, context: Any, **_: Any) -> None:
        seen.append(("error", (type(exception).__name__, context)))

    with server_in_thread(responder(*FAILURES["a failed condition with the item"])) as server:
        client = client_of(server.url)
        events = client.meta.events
        events.register("provide-client-params.dynamodb.PutItem", provide)
        events.register("after-call.dynamodb.PutItem", after)
        events.register("after-call-error.dynamodb.PutItem", failed)
        with pytest.raises(ClientError):
            client.put_item(**CALLS["PutItem"][1])
        assert b'"ReturnConsumedCapacity": "TOTAL"' in server.requests[0]
    assert pipeline_sends == []
    ((name, (status, error, context)),) = seen
    assert (name, status, error["Code"], context["mine"]) == (
        "PutItem",
        400,
        "ConditionalCheckFailedException",
        1,
    )
    client = client_of(f"http://127.0.0.1:{free_port()}")
    client.meta.events.register("after-call-error.dynamodb.PutItem", failed)
    with pytest.raises(EndpointConnectionError):
        client.put_item(**CALLS["PutItem"][1])
    assert seen[-1][0] == "error"
    assert seen[-1][1][0] == "EndpointConnectionError"
    assert pipeline_sends == []


def test_a_request_handler_sends_every_call_through_the_pipeline(
    pipeline_sends: list[str],
) -> None:
    sent: list[int] = []

    def before_send(request: Any, **_: Any) -> None:
        sent.append(1)

    with server_in_thread(responder(200, JSON, SUCCESSES["PutItem"])) as server:
        client = client_of(server.url)
        client.put_item(**CALLS["PutItem"][1])
        client.meta.events.register("before-send", before_send)  # every service's
        client.put_item(**CALLS["PutItem"][1])
        client.get_item(**CALLS["GetItem"][1])
        assert (pipeline_sends, sent) == (["PutItem", "GetItem"], [1, 1])
        client.meta.events.unregister("before-send", before_send)
        client.put_item(**CALLS["PutItem"][1])  # direct again
    assert (pipeline_sends, sent) == (["PutItem", "GetItem"], [1, 1])


def test_a_table_named_by_its_arn_goes_through_the_pipeline(pipeline_sends: list[str]) -> None:
    arn = "arn:aws:dynamodb:us-east-1:123456789012:table/t"
    with server_in_thread(responder(200, JSON, b"{}")) as server:
        client = client_of(server.url)
        client.put_item(TableName=arn, Item={"pk": {"S": "a"}})
        client.batch_write_item(RequestItems={arn: [{"PutRequest": {"Item": {"pk": {"S": "a"}}}}]})
        client.transact_write_items(
            TransactItems=[{"Put": {"TableName": arn, "Item": {"pk": {"S": "a"}}}}]
        )
    assert pipeline_sends == ["PutItem", "BatchWriteItem", "TransactWriteItems"]


def test_an_instrumented_client_class_gets_the_calls(
    monkeypatch: pytest.MonkeyPatch, pipeline_sends: list[str]
) -> None:
    instrumented: list[str] = []
    with server_in_thread(responder(200, JSON, SUCCESSES["PutItem"])) as server:
        client = client_of(server.url)
        original = BaseClient._make_api_call

        @functools.wraps(original)  # its name and module are botocore's: not its code
        def wrapper(self: Any, operation: str, params: Any) -> Any:  # as a tracer wraps it
            instrumented.append(operation)
            return original(self, operation, params)

        monkeypatch.setattr(BaseClient, "_make_api_call", wrapper)
        # a client built before the instrumentation: its own attribute wins, so it must
        # notice the class's new function and hand the call to it
        client.put_item(**CALLS["PutItem"][1])
        client_of(server.url).put_item(**CALLS["PutItem"][1])
    assert pipeline_sends == ["PutItem", "PutItem"]
    assert instrumented == ["PutItem", "PutItem"]


def test_other_operations_go_through_the_pipeline(pipeline_sends: list[str]) -> None:
    with server_in_thread(responder(200, "application/x-amz-json-1.0", b"{}")) as server:
        client_of(server.url).describe_time_to_live(TableName="t")
    assert pipeline_sends == ["DescribeTimeToLive"]


@pytest.fixture
def local_store(dynamodb_local: DynamoDBLocal) -> Iterator[DynamoDBCommitStore]:
    """A store with a client of its own (the tests' shared one may carry a test's handlers)."""
    store = DynamoDBCommitStore(
        table_name(), endpoint_url=dynamodb_local.endpoint_url, region_name="us-east-1"
    )
    store.create_table()
    yield store
    store.close()
    store.delete_table(wait=False)


def test_a_store_s_item_operations_all_go_direct(
    local_store: DynamoDBCommitStore, pipeline_sends: list[str]
) -> None:
    for version in (1, 2, 3):
        local_store.append(commit("c1", version))
    local_store.flush_log(timeout=30)
    loaded = list(local_store.read_commits("Cart", "c1"))
    assert [c.version for c in loaded] == [1, 2, 3]
    assert loaded[2].events == ({"type": "ItemAdded", "n": 3},)
    assert [c.version for c in local_store.read_log()] == [1, 2, 3]
    assert pipeline_sends == []


@pytest.mark.usefixtures("fixed_clock_and_ids")
async def test_an_async_direct_call_reads_what_the_pipeline_does(
    pipeline_sends: list[str],
) -> None:
    for answer in ("success", "a cancelled transaction", "throttling"):
        reply = (200, JSON, SUCCESSES["GetItem"]) if answer == "success" else FAILURES[answer]
        server = await Server(responder(*reply)).start()
        results = []
        try:
            for pipeline in (False, True):
                context, client = await async_client_of(server.url, pipeline=pipeline)
                try:
                    results.append(await _async_outcome(client))
                finally:
                    await context.__aexit__(None, None, None)
        finally:
            await server.stop()
        assert results[0] == results[1], answer
        direct, piped = server.requests
        assert direct == piped
    assert pipeline_sends == ["GetItem"] * 3  # the piped ones


async def _async_outcome(client: Any) -> tuple[str, Any]:
    try:
        return "reply", await client.get_item(**CALLS["GetItem"][1])
    except ClientError as exc:
        return type(exc).__name__, (exc.response, str(exc))


async def test_a_call_after_the_async_client_closed_fails_as_through_the_pipeline() -> None:
    server = await Server(responder(200, JSON, SUCCESSES["GetItem"])).start()
    failures = []
    try:
        for pipeline in (False, True):
            context, client = await async_client_of(server.url, pipeline=pipeline)
            await client.get_item(**CALLS["GetItem"][1])  # the endpoint is known now
            await context.__aexit__(None, None, None)
            with pytest.raises(Exception) as caught:
                await client.get_item(**CALLS["GetItem"][1])
            failures.append((type(caught.value), str(caught.value)))
    finally:
        await server.stop()
    assert failures[0] == failures[1]
    assert len(server.requests) == 2  # nothing was sent after the close
