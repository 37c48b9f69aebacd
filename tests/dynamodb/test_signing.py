"""ddbes's clients sign requests with :class:`FastSigV4Auth`: every signature must be exactly
botocore's own, for the requests ddbes sends and for any other (which it hands to botocore)."""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any

import botocore.auth
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from ddbes_dynamodb._client import make_async_client, make_client
from ddbes_dynamodb._signing import FastSigV4Auth

NOW = datetime(2026, 11, 30, 10, 0, 0)
BODY = b'{"TableName":"t","Item":{"p":{"S":"c#4#Cart#k"},"e":{"S":"[\\"\xc3\xbc\\"]"}}}'
KEYS = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
SESSION = Credentials("ASIAEXAMPLE", "secret", token="a-session-token")


@pytest.fixture(autouse=True)
def frozen_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: NOW)


def request(url: str = "http://127.0.0.1:8000/", data: Any = BODY, **more: Any) -> AWSRequest:
    headers = {
        "X-Amz-Target": "DynamoDB_20120810.PutItem",
        "Content-Type": "application/x-amz-json-1.0",
        "User-Agent": "Botocore/1 ddbes",
        **more.pop("headers", {}),
    }
    return AWSRequest(method="POST", url=url, data=data, headers=headers, **more)


def signed(signer: type[SigV4Auth], made: AWSRequest, credentials: Credentials) -> dict[str, str]:
    signer(credentials, "dynamodb", "eu-west-1").add_auth(made)
    return dict(made.headers.items())


CASES: dict[str, Any] = {
    "a PutItem": request,
    "an empty body": lambda: request(data=b""),
    "https, a port and a path": lambda: request("https://dynamodb.example.com:4443/a/../b/"),
    "a header spaced out": lambda: request(headers={"X-Extra": "  two   words "}),
    "a host given": lambda: request(headers={"Host": "elsewhere:8000"}),
    # not what ddbes sends: botocore signs them
    "a query string": lambda: request("http://127.0.0.1:8000/?b=2&a=1"),
    "parameters": lambda: request(params={"b": "2", "a": "1"}),
    "a stream body": lambda: request(data=io.BytesIO(BODY)),
    "a form body": lambda: request(data={"a": "1"}),
}


@pytest.mark.parametrize("credentials", [KEYS, SESSION], ids=["keys", "session"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_a_signature_is_botocores(case: str, credentials: Credentials) -> None:
    expected = signed(SigV4Auth, CASES[case](), credentials)
    assert signed(FastSigV4Auth, CASES[case](), credentials) == expected
    assert expected["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=")


def test_a_second_day_gets_its_own_signing_key(monkeypatch: pytest.MonkeyPatch) -> None:
    first = signed(FastSigV4Auth, request(), KEYS)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: datetime(2026, 12, 1))
    assert signed(FastSigV4Auth, request(), KEYS) == signed(SigV4Auth, request(), KEYS)
    assert signed(FastSigV4Auth, request(), KEYS) != first


def test_a_header_given_twice_is_signed_by_botocore() -> None:
    def twice() -> AWSRequest:
        made = request()
        made.headers.add_header("X-Extra", "one")
        made.headers.add_header("x-extra", "two")
        return made

    assert signed(FastSigV4Auth, twice(), KEYS) == signed(SigV4Auth, twice(), KEYS)


class _Sent(Exception):
    def __init__(self, request: Any) -> None:
        self.request = request


def _stop(request: Any, **_: Any) -> None:
    raise _Sent(request)


def _before_signing(unsigned: list[AWSRequest]) -> Any:
    """A ``before-sign`` handler that keeps a copy of each request as it is before signing."""

    def keep(request: AWSRequest, **_: Any) -> None:
        copy = AWSRequest(
            method=request.method,
            url=request.url,
            data=request.data,
            headers=dict(request.headers.items()),
        )
        copy.context.update(request.context)
        unsigned.append(copy)

    return keep


def _botocores_signature(unsigned: AWSRequest) -> str:
    SigV4Auth(Credentials("testing", "testing"), "dynamodb", "eu-west-1").add_auth(unsigned)
    return str(unsigned.headers["Authorization"])


@pytest.fixture
def aws_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)


def _spy(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    used: list[object] = []
    add_auth = FastSigV4Auth.add_auth

    def spied(self: FastSigV4Auth, request: Any) -> None:
        used.append(request)
        add_auth(self, request)

    monkeypatch.setattr(FastSigV4Auth, "add_auth", spied)
    return used


@pytest.mark.usefixtures("aws_keys")
def test_the_clients_ddbes_builds_sign_this_way(monkeypatch: pytest.MonkeyPatch) -> None:
    used = _spy(monkeypatch)
    client = make_client(
        "dynamodb", table="t", endpoint_url="http://127.0.0.1:9", region_name="eu-west-1"
    )
    unsigned: list[AWSRequest] = []
    client.meta.events.register("before-sign.dynamodb", _before_signing(unsigned))
    client.meta.events.register("before-send.dynamodb", _stop)
    with pytest.raises(_Sent) as sent:
        client.put_item(TableName="t", Item={"p": {"S": "k"}, "e": {"S": "ü"}})
    assert len(used) == len(unsigned) == 1
    assert sent.value.request.headers["Authorization"].decode() == _botocores_signature(unsigned[0])


@pytest.mark.usefixtures("aws_keys")
async def test_the_async_clients_ddbes_builds_sign_this_way(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    used = _spy(monkeypatch)
    context = make_async_client(
        "dynamodb", table="t", endpoint_url="http://127.0.0.1:9", region_name="eu-west-1"
    )
    client = await context.__aenter__()
    try:
        unsigned: list[AWSRequest] = []
        client.meta.events.register("before-sign.dynamodb", _before_signing(unsigned))
        client.meta.events.register("before-send.dynamodb", _stop)
        with pytest.raises(_Sent) as sent:
            await client.put_item(TableName="t", Item={"p": {"S": "k"}})
    finally:
        await context.__aexit__(None, None, None)
    assert len(used) == len(unsigned) == 1
    assert sent.value.request.headers["Authorization"].decode() == _botocores_signature(unsigned[0])
