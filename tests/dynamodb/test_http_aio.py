"""The asyncio lean HTTP transport (:mod:`ddbes_dynamodb._http.aio`): against small asyncio
servers on real sockets, and against DynamoDB Local with and without it."""

from __future__ import annotations

import asyncio
import ssl
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.awsrequest import AWSRequest
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    ReadTimeoutError,
    SSLError,
)

from ddbes_dynamodb._client import make_async_client
from ddbes_dynamodb._errors import translate
from ddbes_dynamodb._http.aio import AsyncLeanSession, install
from tests.certificates import self_signed
from tests.dynamodb.http_servers import (
    ITEM,
    OK,
    TIMEOUTS,
    Respond,
    Server,
    answer,
    reply,
)
from tests.services import DynamoDBLocal, free_port


@pytest.fixture
async def server_for() -> AsyncIterator[Callable[[Respond], Awaitable[Server]]]:
    started: list[Server] = []

    async def start(respond: Respond = answer) -> Server:
        server = await Server(respond).start()
        started.append(server)
        return server

    yield start
    for server in started:
        await server.stop()


def _refuse(request: Any) -> Any:
    raise AssertionError(f"aiobotocore's session sent {request.method} {request.url}")


async def _lean_client(url: str, stack: list[Any]) -> Any:
    """A client of ``url`` with the lean transport, whose aiohttp session refuses to send."""
    context = make_async_client(
        "dynamodb", table="t", endpoint_url=url, region_name="us-east-1", timeouts=TIMEOUTS
    )
    client = await context.__aenter__()
    stack.append(context)
    install(client)
    session = client._endpoint.http_session
    assert isinstance(session, AsyncLeanSession)
    session._original.send = _refuse
    return client


@pytest.fixture
async def lean_client() -> AsyncIterator[Callable[[str], Awaitable[Any]]]:
    contexts: list[Any] = []
    yield lambda url: _lean_client(url, contexts)
    for context in contexts:
        await context.__aexit__(None, None, None)


async def test_two_requests_share_one_keep_alive_connection(
    server_for: Any, lean_client: Any
) -> None:
    server = await server_for()
    client = await lean_client(server.url)

    for _ in range(2):
        result = await client.put_item(TableName="t", Item=ITEM)
        assert result["ResponseMetadata"]["HTTPStatusCode"] == 200

    assert (server.connections, len(server.requests)) == (1, 2)
    head = server.requests[0].decode("latin-1")
    assert head.startswith("POST / HTTP/1.1\r\nHost: 127.0.0.1:")
    assert "X-Amz-Target: DynamoDB_20120810.PutItem" in head


async def test_a_connection_close_response_is_not_reused(server_for: Any, lean_client: Any) -> None:
    async def close_after(writer: asyncio.StreamWriter, n: int) -> bool:
        writer.write(reply(b"{}", b"Connection: close"))
        return False

    server = await server_for(close_after)
    client = await lean_client(server.url)

    for _ in range(2):
        await client.put_item(TableName="t", Item=ITEM)

    assert (server.connections, len(server.requests)) == (2, 2)


async def test_a_chunked_response_is_read_whole(server_for: Any, lean_client: Any) -> None:
    body = b'{"ConsumedCapacity": {"TableName": "t", "CapacityUnits": 1.0}}'

    async def chunked(writer: asyncio.StreamWriter, n: int) -> bool:
        writer.write(OK + b"Transfer-Encoding: chunked\r\n\r\n")
        for start in range(0, len(body), 7):
            piece = body[start : start + 7]
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            await writer.drain()
            await asyncio.sleep(0.001)
        writer.write(b"0\r\n\r\n")
        return True

    server = await server_for(chunked)
    client = await lean_client(server.url)

    for _ in range(2):
        result = await client.put_item(TableName="t", Item=ITEM)
        assert result["ConsumedCapacity"] == {"TableName": "t", "CapacityUnits": 1.0}
    assert server.connections == 1


async def test_a_server_that_closes_mid_response_raises_connection_closed(
    server_for: Any, lean_client: Any
) -> None:
    async def cut(writer: asyncio.StreamWriter, n: int) -> bool:
        writer.write(OK + b'Content-Length: 100\r\n\r\n{"Consumed')
        return False

    server = await server_for(cut)
    client = await lean_client(server.url)

    with pytest.raises(ConnectionClosedError) as caught:
        await client.put_item(TableName="t", Item=ITEM)
    assert server.url in str(caught.value)


async def test_a_silent_server_raises_read_timeout_after_the_read_timeout(
    server_for: Any, lean_client: Any
) -> None:
    async def silent(writer: asyncio.StreamWriter, n: int) -> bool:
        return True

    server = await server_for(silent)
    client = await lean_client(server.url)

    started = time.monotonic()
    with pytest.raises(ReadTimeoutError):
        await client.put_item(TableName="t", Item=ITEM)
    elapsed = time.monotonic() - started

    assert TIMEOUTS.read * 0.9 <= elapsed < TIMEOUTS.read + 1.0
    await asyncio.wait_for(server.client_closed.wait(), 2)


async def test_a_slow_response_within_the_read_timeout_is_read(
    server_for: Any, lean_client: Any
) -> None:
    """The read timeout bounds the wait for each byte, not the whole response."""
    body = b'{"ConsumedCapacity": {"TableName": "t", "CapacityUnits": 2.0}}'

    async def trickle(writer: asyncio.StreamWriter, n: int) -> bool:
        data = reply(body)
        for start in range(0, len(data), len(data) // 3 + 1):
            writer.write(data[start : start + len(data) // 3 + 1])
            await writer.drain()
            await asyncio.sleep(TIMEOUTS.read * 0.6)
        return True

    server = await server_for(trickle)
    client = await lean_client(server.url)

    result = await client.put_item(TableName="t", Item=ITEM)
    assert result["ConsumedCapacity"]["CapacityUnits"] == 2.0


async def test_a_requests_read_timeout_overrides_the_clients(
    server_for: Any, lean_client: Any
) -> None:
    async def silent(writer: asyncio.StreamWriter, n: int) -> bool:
        return True

    server = await server_for(silent)
    session = (await lean_client(server.url))._endpoint.http_session
    request = AWSRequest(method="POST", url=server.url + "/", data=b"{}").prepare()
    request.context = {"read_timeout": 0.05}

    started = time.monotonic()
    with pytest.raises(ReadTimeoutError):
        await session.send(request)
    assert time.monotonic() - started < TIMEOUTS.read


async def test_concurrent_requests_use_a_connection_each_and_then_reuse_them(
    server_for: Any, lean_client: Any
) -> None:
    async def slow(writer: asyncio.StreamWriter, n: int) -> bool:
        await asyncio.sleep(0.05)
        writer.write(reply())
        return True

    server = await server_for(slow)
    client = await lean_client(server.url)

    for _ in range(2):
        await asyncio.gather(*(client.put_item(TableName="t", Item=ITEM) for _ in range(4)))

    assert (server.connections, len(server.requests)) == (4, 8)


async def test_a_connection_idle_too_long_is_not_reused(server_for: Any, lean_client: Any) -> None:
    server = await server_for()
    client = await lean_client(server.url)
    client._endpoint.http_session._keepalive_timeout = 0.0

    for _ in range(2):
        await client.put_item(TableName="t", Item=ITEM)

    assert (server.connections, len(server.requests)) == (2, 2)


async def test_a_refused_port_raises_endpoint_connection_error(lean_client: Any) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    client = await lean_client(url)

    with pytest.raises(EndpointConnectionError) as caught:
        await client.put_item(TableName="t", Item=ITEM)
    assert url in str(caught.value)


async def test_cancelling_a_request_closes_its_connection(
    server_for: Any, lean_client: Any
) -> None:
    async def late_first(writer: asyncio.StreamWriter, n: int) -> bool:
        if n > 0:
            writer.write(reply(b'{"ConsumedCapacity": {"TableName": "second"}}'))
        return True

    server = await server_for(late_first)
    client = await lean_client(server.url)
    first = asyncio.create_task(client.put_item(TableName="t", Item=ITEM))
    while not server.requests:
        await asyncio.sleep(0.01)

    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    await asyncio.wait_for(server.client_closed.wait(), 2)

    result = await client.put_item(TableName="t", Item=ITEM)
    assert result["ConsumedCapacity"] == {"TableName": "second"}
    assert server.connections == 2


async def test_requests_it_does_not_handle_go_to_aiobotocores_session(
    server_for: Any,
) -> None:
    server = await server_for()
    async with make_async_client(
        "dynamodb", table="t", endpoint_url=server.url, region_name="us-east-1"
    ) as client:
        install(client)
        session = client._endpoint.http_session
        sent: list[str] = []
        original_send = session._original.send

        async def spy(request: Any) -> Any:
            sent.append(request.method)
            return await original_send(request)

        session._original.send = spy
        request = AWSRequest(method="GET", url=server.url + "/", data=b"").prepare()

        response = await session.send(request)

        assert (response.status_code, sent) == (200, ["GET"])
        assert server.requests[0].startswith(b"GET / HTTP/1.1")
        await client.put_item(TableName="t", Item=ITEM)
        assert sent == ["GET"]  # the POST went the lean way


async def _proxied_put(url: str, config: AioConfig | None = None) -> Any:
    options = {"retries": {"total_max_attempts": 1}}
    async with get_session().create_client(
        "dynamodb",
        endpoint_url=url,
        region_name="us-east-1",
        config=config or AioConfig(**options),
    ) as client:
        install(client)
        assert isinstance(client._endpoint.http_session, AsyncLeanSession)
        return await client.put_item(TableName="t", Item=ITEM)


async def test_a_configured_proxy_is_used_through_aiobotocores_session(
    server_for: Any,
) -> None:
    server, proxy = await server_for(), await server_for()

    config = AioConfig(proxies={"http": proxy.url}, retries={"total_max_attempts": 1})
    await _proxied_put(server.url, config)

    assert server.requests == []
    assert proxy.requests[0].startswith(f"POST {server.url}/ HTTP/1.1".encode())


async def test_a_proxy_from_the_environment_is_used_through_aiobotocores_session(
    server_for: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, proxy = await server_for(), await server_for()
    for name in ("NO_PROXY", "no_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", proxy.url)

    await _proxied_put(server.url)

    assert server.requests == []
    assert proxy.requests[0].startswith(f"POST {server.url}/ HTTP/1.1".encode())


async def test_a_client_without_an_aiohttp_session_is_left_alone() -> None:
    class Endpoint:
        http_session = object()

    class Client:
        _endpoint = Endpoint()

    install(Client())
    assert not isinstance(Client._endpoint.http_session, AsyncLeanSession)


async def test_close_closes_the_pooled_connections(server_for: Any) -> None:
    server = await server_for()
    async with make_async_client(
        "dynamodb", table="t", endpoint_url=server.url, region_name="us-east-1"
    ) as client:
        install(client)
        await client.put_item(TableName="t", Item=ITEM)
    await asyncio.wait_for(server.client_closed.wait(), 2)


@pytest.fixture
async def tls_server(tmp_path: Path) -> AsyncIterator[tuple[Server, Path]]:
    """A :class:`Server` behind TLS, with the certificate that verifies it."""
    cert_file, key_file = self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    server = await Server().start(tls=context)
    yield server, cert_file
    await server.stop()


async def _put_over_tls(url: str, verify: bool | str) -> Any:
    async with get_session().create_client(
        "dynamodb",
        endpoint_url=url,
        region_name="us-east-1",
        verify=verify,
        config=AioConfig(retries={"total_max_attempts": 1}),
    ) as client:
        install(client)
        session = client._endpoint.http_session
        session._original.send = _refuse
        first = await client.put_item(TableName="t", Item=ITEM)
        second = await client.put_item(TableName="t", Item=ITEM)
        return first, second


@pytest.mark.parametrize("trusted", ["the certificate", "no verification"])
async def test_https_with_a_trusted_certificate(
    tls_server: tuple[Server, Path], trusted: str
) -> None:
    server, cert_file = tls_server
    verify = str(cert_file) if trusted == "the certificate" else False

    results = await _put_over_tls(server.url, verify)

    assert [r["ResponseMetadata"]["HTTPStatusCode"] for r in results] == [200, 200]
    assert (server.connections, len(server.requests)) == (1, 2)


async def test_https_with_an_unknown_certificate_raises_ssl_error(
    tls_server: tuple[Server, Path],
) -> None:
    server, _ = tls_server

    with pytest.raises(SSLError) as caught:
        await _put_over_tls(server.url, True)
    assert server.url in str(caught.value)


# -- DynamoDB Local ---------------------------------------------------------------------------


async def _table(client: Any) -> str:
    name = f"ddbes-http-aio-{uuid.uuid4().hex[:8]}"
    await client.create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


async def _conditional_failure(client: Any, table: str) -> ClientError:
    with pytest.raises(ClientError) as caught:
        await client.put_item(
            TableName=table,
            Item={"pk": {"S": "a"}, "sk": {"N": "1"}},
            ConditionExpression="attribute_not_exists(pk)",
        )
    return caught.value


@pytest.mark.dynamodb
async def test_dynamodb_local_through_the_lean_transport(dynamodb_local: DynamoDBLocal) -> None:
    def context() -> Any:
        return make_async_client(
            "dynamodb", table="t", endpoint_url=dynamodb_local.endpoint_url, region_name=None
        )

    async with context() as client, context() as plain:
        install(client)
        session = client._endpoint.http_session
        assert isinstance(session, AsyncLeanSession)
        session._original.send = _refuse
        table = await _table(client)
        try:
            await client.put_item(
                TableName=table, Item={"pk": {"S": "a"}, "sk": {"N": "1"}, "v": {"B": b"\x00\x01"}}
            )
            got = await client.get_item(TableName=table, Key={"pk": {"S": "a"}, "sk": {"N": "1"}})
            assert got["Item"]["v"] == {"B": b"\x00\x01"}
            await client.transact_write_items(
                TransactItems=[
                    {"Put": {"TableName": table, "Item": {"pk": {"S": "a"}, "sk": {"N": str(n)}}}}
                    for n in (2, 3)
                ]
            )
            page = await client.query(
                TableName=table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": "a"}},
            )
            assert [item["sk"]["N"] for item in page["Items"]] == ["1", "2", "3"]

            lean_error = await _conditional_failure(client, table)
            plain_error = await _conditional_failure(plain, table)
            assert lean_error.response["Error"]["Code"] == "ConditionalCheckFailedException"
            assert lean_error.response["Error"] == plain_error.response["Error"]
            assert type(lean_error).__name__ == type(plain_error).__name__
            mapped = [translate(error, table, "a put") for error in (lean_error, plain_error)]
            assert type(mapped[0]) is type(mapped[1])
            assert str(mapped[0]) == str(mapped[1])
        finally:
            await client.delete_table(TableName=table)
