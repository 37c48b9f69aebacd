"""The HTTP/1.1 core of the lean transport (:mod:`ddbes_dynamodb._http.protocol`): requests
as bytes, and responses read from bytes however the connection splits them."""

from __future__ import annotations

import pytest

from ddbes_dynamodb._http.protocol import (
    MAX_HEADER_BYTES,
    ProtocolError,
    ResponseReader,
    Target,
    encode_request,
    request_target,
)

OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.0\r\n"


def read(data: bytes, *, step: int | None = None) -> ResponseReader:
    reader = ResponseReader()
    pieces = [data] if step is None else [data[i : i + step] for i in range(0, len(data), step)]
    for piece in pieces:
        reader.feed(piece)
    return reader


@pytest.mark.parametrize("step", [None, 1, 7])
def test_a_content_length_response_in_any_pieces(step: int | None) -> None:
    reader = read(OK + b'Content-Length: 13\r\nX-Amz-Crc32: 7\r\n\r\n{"Items": []}', step=step)
    assert reader.complete and reader.reusable
    assert (reader.status, reader.reason, reader.body) == (200, "OK", b'{"Items": []}')
    assert reader.headers["x-amz-crc32"] == "7"


def test_an_incomplete_body_waits_for_more() -> None:
    reader = read(OK + b"Content-Length: 10\r\n\r\n12345")
    assert not reader.complete
    reader.feed(b"67890")
    assert reader.complete and reader.body == b"1234567890"


@pytest.mark.parametrize("step", [None, 1, 5])
def test_a_chunked_response_with_extensions_and_trailers(step: int | None) -> None:
    data = (
        OK
        + b"Transfer-Encoding: chunked\r\n\r\n"
        + b"5;name=value\r\nhello\r\n"
        + b"1\r\n \r\n"
        + b"A\r\n0123456789\r\n"
        + b"0\r\nX-Trailer: 1\r\n\r\n"
    )
    reader = read(data, step=step)
    assert reader.complete and reader.reusable
    assert reader.body == b"hello 0123456789"


def test_an_informational_response_is_skipped() -> None:
    reader = read(b"HTTP/1.1 100 Continue\r\n\r\n" + OK + b"Content-Length: 2\r\n\r\n{}")
    assert (reader.status, reader.body, reader.complete) == (200, b"{}", True)


@pytest.mark.parametrize("status", [204, 304])
def test_responses_without_a_body(status: int) -> None:
    reader = read(b"HTTP/1.1 %d X\r\nContent-Length: 5\r\n\r\n" % status)
    assert reader.complete and reader.body == b"" and reader.reusable


def test_a_body_read_to_the_end_of_the_connection() -> None:
    reader = read(OK + b"\r\nall of it")
    assert not reader.complete
    reader.eof()
    assert reader.complete and reader.body == b"all of it" and not reader.reusable


@pytest.mark.parametrize(
    ("head", "reusable"),
    [
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\n", False),
        (b"HTTP/1.1 200 OK\r\nConnection: Keep-Alive\r\n", True),
        (b"HTTP/1.0 200 OK\r\n", False),
        (b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n", True),
    ],
)
def test_whether_the_connection_may_be_reused(head: bytes, reusable: bool) -> None:
    assert read(head + b"Content-Length: 0\r\n\r\n").reusable is reusable


def test_bytes_after_the_response_make_the_connection_unusable() -> None:
    reader = read(OK + b"Content-Length: 2\r\n\r\n{}HTTP/1.1 200")
    assert reader.complete and reader.body == b"{}" and not reader.reusable


@pytest.mark.parametrize(
    "data",
    [
        OK + b"Content-Length: 10\r\n\r\n12345",
        OK + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhel",
        OK + b"Content-Len",
    ],
)
def test_a_response_cut_short_is_an_error(data: bytes) -> None:
    reader = read(data)
    with pytest.raises(ProtocolError, match="before the response ended"):
        reader.eof()


def test_a_connection_closed_before_any_byte() -> None:
    reader = ResponseReader()
    with pytest.raises(ProtocolError, match="without a response"):
        reader.eof()
    assert not reader.started


@pytest.mark.parametrize(
    "data",
    [
        b"SSH-2.0-OpenSSH_9.6\r\n\r\n",
        b"HTTP/2 200\r\n\r\n",
        b"HTTP/1.1 20 OK\r\n\r\n",
        OK + b"no colon here\r\n\r\n",
        OK + b" Folded: header\r\n\r\n",
        OK + b"Content-Length: 5, 6\r\n\r\n",
        OK + b"Content-Length: -1\r\n\r\n",
        OK + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n",
        OK + b"Transfer-Encoding: chunked\r\n\r\n2\r\nabXY",
    ],
)
def test_bytes_that_are_not_a_response_are_refused(data: bytes) -> None:
    with pytest.raises(ProtocolError):
        read(data)


def test_repeated_equal_content_lengths_are_one() -> None:
    assert read(OK + b"Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}").body == b"{}"


def test_headers_longer_than_the_limit_are_refused() -> None:
    reader = ResponseReader()
    with pytest.raises(ProtocolError, match="too long"):
        reader.feed(OK + b"X-Big: " + b"a" * MAX_HEADER_BYTES)


def test_a_request_as_bytes() -> None:
    data = encode_request(
        "POST",
        "/",
        "dynamodb.eu-west-1.amazonaws.com",
        [
            ("X-Amz-Target", "DynamoDB_20120810.PutItem"),
            ("Content-Length", "999"),
            ("Host", "elsewhere"),
            ("Authorization", b"AWS4-HMAC-SHA256 Credential=x"),
        ],
        b'{"TableName": "t"}',
    )
    assert data == (
        b"POST / HTTP/1.1\r\n"
        b"Host: dynamodb.eu-west-1.amazonaws.com\r\n"
        b"X-Amz-Target: DynamoDB_20120810.PutItem\r\n"
        b"Authorization: AWS4-HMAC-SHA256 Credential=x\r\n"
        b"Accept-Encoding: identity\r\n"
        b"Content-Length: 18\r\n\r\n"
        b'{"TableName": "t"}'
    )


@pytest.mark.parametrize("header", [("X-A", "1\r\nX-B: 2"), ("X-A\nX-B", "1")])
def test_a_header_with_a_line_break_is_refused(header: tuple[str, str]) -> None:
    with pytest.raises(ValueError, match="line break"):
        encode_request("POST", "/", "h", [header], b"")


@pytest.mark.parametrize(
    ("url", "key", "host"),
    [
        (
            "https://dynamodb.us-east-1.amazonaws.com",
            ("https", "dynamodb.us-east-1.amazonaws.com", 443),
            "dynamodb.us-east-1.amazonaws.com",
        ),
        ("https://Example.COM:443/", ("https", "example.com", 443), "example.com"),
        ("http://localhost:8000", ("http", "localhost", 8000), "localhost:8000"),
        ("http://127.0.0.1", ("http", "127.0.0.1", 80), "127.0.0.1"),
        ("http://[::1]:8000/", ("http", "::1", 8000), "[::1]:8000"),
    ],
)
def test_the_target_of_an_endpoint_url(url: str, key: tuple[str, str, int], host: str) -> None:
    target = Target(url)
    assert (target.key, target.host_header) == (key, host)


@pytest.mark.parametrize("url", ["ftp://host/", "http:///path", "unix:/var/run/x"])
def test_a_url_that_is_not_http_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="not an http"):
        Target(url)


def test_the_request_target_of_a_url() -> None:
    assert request_target("https://h") == "/"
    assert request_target("https://h/a/b?x=1") == "/a/b?x=1"
