"""The sync lean HTTP transport (:mod:`ddbes_dynamodb._http.sync`) of the botocore clients ddbes
builds: against small servers on real sockets (``http_servers``). DynamoDB Local is reached
through it by every other DynamoDB test."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import ssl
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.exceptions import (
    ConnectionClosedError,
    EndpointConnectionError,
    ReadTimeoutError,
    SSLError,
)

from ddbes_dynamodb._client import make_client
from ddbes_dynamodb._http.sync import LeanSession, install
from tests.certificates import self_signed
from tests.dynamodb.http_servers import (
    ITEM,
    OK,
    TIMEOUTS,
    Server,
    reply,
    server_in_thread,
)
from tests.services import free_port


def lean_client(url: str) -> Any:
    """A client of ``url`` as ddbes builds it, whose urllib3 session refuses to send."""
    client = make_client(
        "dynamodb", table="t", endpoint_url=url, region_name="us-east-1", timeouts=TIMEOUTS
    )
    session = client._endpoint.http_session
    assert isinstance(session, LeanSession)
    session._original.send = _refuse
    return client


def _refuse(request: Any) -> Any:
    raise AssertionError(f"urllib3's session sent {request.method} {request.url}")


@pytest.fixture
def server() -> Iterator[Server]:
    with server_in_thread() as started:
        yield started


def test_requests_share_one_keep_alive_connection(server: Server) -> None:
    client = lean_client(server.url)
    for _ in range(3):
        assert (
            client.put_item(TableName="t", Item=ITEM)["ResponseMetadata"]["HTTPStatusCode"] == 200
        )
    assert (server.connections, len(server.requests)) == (1, 3)
    request = server.requests[0]
    assert request.startswith(b"POST / HTTP/1.1\r\nHost: 127.0.0.1:")
    assert b"X-Amz-Target: DynamoDB_20120810.PutItem" in request
    assert json.loads(request.split(b"\r\n\r\n", 1)[1]) == {"TableName": "t", "Item": ITEM}


def test_a_connection_close_response_is_not_reused() -> None:
    async def close_after(writer: asyncio.StreamWriter, n: int) -> bool:
        writer.write(reply(b"{}", b"Connection: close"))
        return False

    with server_in_thread(close_after) as server:
        client = lean_client(server.url)
        for _ in range(2):
            client.put_item(TableName="t", Item=ITEM)
        assert (server.connections, len(server.requests)) == (2, 2)


def test_a_chunked_response_is_read_whole() -> None:
    body = b'{"ConsumedCapacity": {"TableName": "t", "CapacityUnits": 1.0}}'

    async def chunked(writer: asyncio.StreamWriter, n: int) -> bool:
        writer.write(OK + b"Transfer-Encoding: chunked\r\n\r\n")
        for start in range(0, len(body), 7):
            piece = body[start : start + 7]
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        return True

    with server_in_thread(chunked) as server:
        client = lean_client(server.url)
        for _ in range(2):
            result = client.put_item(TableName="t", Item=ITEM)
            assert result["ConsumedCapacity"] == {"TableName": "t", "CapacityUnits": 1.0}
        assert server.connections == 1


def test_a_server_that_closes_mid_response_raises_connection_closed() -> None:
    async def cut(writer: asyncio.StreamWriter, n: int) -> bool:
        writer.write(OK + b'Content-Length: 100\r\n\r\n{"Consumed')
        return False

    with server_in_thread(cut) as server:
        client = lean_client(server.url)
        with pytest.raises(ConnectionClosedError) as caught:
            client.put_item(TableName="t", Item=ITEM)
        assert server.url in str(caught.value)


def test_a_silent_server_raises_read_timeout_after_the_read_timeout() -> None:
    async def silent(writer: asyncio.StreamWriter, n: int) -> bool:
        await asyncio.sleep(TIMEOUTS.read * 3)
        return False

    with server_in_thread(silent) as server:
        client = lean_client(server.url)
        started = time.monotonic()
        with pytest.raises(ReadTimeoutError):
            client.put_item(TableName="t", Item=ITEM)
        elapsed = time.monotonic() - started
    assert TIMEOUTS.read * 0.9 <= elapsed < TIMEOUTS.read + 1.0


def test_a_refused_port_raises_endpoint_connection_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    client = lean_client(url)
    with pytest.raises(EndpointConnectionError) as caught:
        client.put_item(TableName="t", Item=ITEM)
    assert url in str(caught.value)


def test_a_connection_the_server_closed_while_idle_is_replaced_without_an_error() -> None:
    async def once(writer: asyncio.StreamWriter, n: int) -> bool:
        writer.write(reply())
        await writer.drain()
        return False  # the server closes the connection, as idle ones are closed

    with server_in_thread(once) as server:
        client = lean_client(server.url)
        client.put_item(TableName="t", Item=ITEM)
        time.sleep(0.2)  # the server has closed its end by now
        client.put_item(TableName="t", Item=ITEM)
        assert (server.connections, len(server.requests)) == (2, 2)


def test_threads_each_get_their_own_reply() -> None:
    holder: list[Server] = []

    async def echo(writer: asyncio.StreamWriter, n: int) -> bool:
        sent = json.loads(holder[0].requests[n].split(b"\r\n\r\n", 1)[1])
        name = sent["Item"]["pk"]["S"]
        writer.write(reply(json.dumps({"ConsumedCapacity": {"TableName": name}}).encode()))
        return True

    with server_in_thread(echo) as server:
        holder.append(server)
        client = lean_client(server.url)
        wrong: list[str] = []

        def work(thread: int) -> None:
            for n in range(25):
                name = f"{thread}-{n}"
                got = client.put_item(TableName="t", Item={"pk": {"S": name}})
                if got["ConsumedCapacity"]["TableName"] != name:
                    wrong.append(name)

        threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert wrong == []
        assert len(server.requests) == 200
        assert server.connections <= 8


def test_requests_it_does_not_handle_go_to_botocores_session(server: Server) -> None:
    client = make_client(
        "dynamodb", table="t", endpoint_url=server.url, region_name="us-east-1", timeouts=TIMEOUTS
    )
    session = client._endpoint.http_session
    sent: list[str] = []
    original_send = session._original.send

    def spy(request: Any) -> Any:
        sent.append(request.method)
        return original_send(request)

    session._original.send = spy
    response = session.send(AWSRequest(method="GET", url=server.url + "/").prepare())
    assert (response.status_code, sent) == (200, ["GET"])
    client.put_item(TableName="t", Item=ITEM)
    assert sent == ["GET"]  # the POST went the lean way


def test_a_proxy_from_the_environment_is_used_through_botocores_session(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", server.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    target = "http://dynamodb.example.invalid:8000"
    client = make_client(
        "dynamodb", table="t", endpoint_url=target, region_name="us-east-1", timeouts=TIMEOUTS
    )
    client.put_item(TableName="t", Item=ITEM)
    assert server.requests[0].startswith(b"POST http://dynamodb.example.invalid:8000/ HTTP/1.1")


def test_a_configured_proxy_is_used_through_botocores_session(server: Server) -> None:
    session = botocore.session.get_session()
    client = session.create_client(
        "dynamodb",
        endpoint_url="http://dynamodb.example.invalid:8000",
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(proxies={"http": server.url}, retries={"total_max_attempts": 1}),
    )
    install(client)
    assert isinstance(client._endpoint.http_session, LeanSession)
    client.put_item(TableName="t", Item=ITEM)
    assert server.requests[0].startswith(b"POST http://dynamodb.example.invalid:8000/ HTTP/1.1")


def test_closing_the_client_closes_its_connections(server: Server) -> None:
    client = lean_client(server.url)
    client.put_item(TableName="t", Item=ITEM)
    client.close()
    deadline = time.monotonic() + 2
    while not server.client_closed.is_set():
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_a_dropped_client_closes_its_idle_connections_without_a_warning(server: Server) -> None:
    client = lean_client(server.url)
    client.put_item(TableName="t", Item=ITEM)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        del client
        gc.collect()
    deadline = time.monotonic() + 2
    while not server.client_closed.is_set():
        assert time.monotonic() < deadline
        time.sleep(0.01)


# -- TLS --------------------------------------------------------------------------------------


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[Server, Path]]:
    cert_file, key_file = self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    with server_in_thread(tls=context) as server:
        yield server, cert_file


def _put_over_tls(url: str, verify: bool | str) -> list[Any]:
    client = botocore.session.get_session().create_client(
        "dynamodb",
        endpoint_url=url,
        region_name="us-east-1",
        verify=verify,
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(retries={"total_max_attempts": 1}),
    )
    install(client)
    client._endpoint.http_session._original.send = _refuse
    return [client.put_item(TableName="t", Item=ITEM) for _ in range(2)]


@pytest.mark.parametrize("trusted", ["the certificate", "no verification"])
def test_https_with_a_trusted_certificate(tls_server: tuple[Server, Path], trusted: str) -> None:
    server, cert_file = tls_server
    verify = str(cert_file) if trusted == "the certificate" else False
    results = _put_over_tls(server.url, verify)
    assert [r["ResponseMetadata"]["HTTPStatusCode"] for r in results] == [200, 200]
    assert (server.connections, len(server.requests)) == (1, 2)


def test_https_with_an_unknown_certificate_raises_ssl_error(
    tls_server: tuple[Server, Path],
) -> None:
    server, _ = tls_server
    with pytest.raises(SSLError) as caught:
        _put_over_tls(server.url, True)
    assert server.url in str(caught.value)


def test_a_forked_child_opens_its_own_connections(server: Server) -> None:
    """A process forked after a request (a preforking server that built its stores at
    import) must not read replies from the parent's pooled socket."""
    client = lean_client(server.url)
    client.put_item(TableName="t", Item=ITEM)
    pid = os.fork()
    if pid == 0:  # the child: one request on a connection of its own, then out
        code = 1
        try:
            ok = client.put_item(TableName="t", Item=ITEM)["ResponseMetadata"]
            code = 0 if ok["HTTPStatusCode"] == 200 else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    client.put_item(TableName="t", Item=ITEM)  # the parent's connection still works
    assert (server.connections, len(server.requests)) == (2, 3)
