"""Hostile and unwelcome clients: error frames or closes, never a crash, nobody else slowed."""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import ssl
import subprocess
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from ddbes_ws import CloseCode, EventStream, EventStreamServer, StreamRefused, StreamRequest
from ddbes_ws.errors import StreamError, StreamUnavailable
from tests.ws.conftest import Log, ServerFactory

SUBSCRIBE = {"type": "subscribe", "protocol": 1}


def hostile_frames(count: int, rng: random.Random) -> list[str | bytes]:
    """Malformed, oversized, abusive and pathological frames, ``count`` of them."""
    makers: list[Any] = [
        lambda: "{not json",
        lambda: "",
        lambda: b"\xff\xfe\x00garbage",
        lambda: "null",
        lambda: "42",
        lambda: '"a string"',
        lambda: "[" * 5000 + "]" * 5000,
        lambda: '{"type": "subscribe", "filters": [{"n": NaN}]}',
        lambda: json.dumps({**SUBSCRIBE, "filters": [{"type": None}]}),
        lambda: json.dumps({**SUBSCRIBE, "filters": [None]}),
        lambda: json.dumps({**SUBSCRIBE, "filters": {"type": "A"}}),
        lambda: json.dumps({**SUBSCRIBE, "filters": [{"version": 1}]}),
        lambda: json.dumps({**SUBSCRIBE, "filters": [{"type": {"regexp": "(a)\\1"}}]}),
        lambda: json.dumps({**SUBSCRIBE, "filters": [{"type": {"regexp": "(?=x)"}}]}),
        lambda: json.dumps({**SUBSCRIBE, "filters": [{"type": {"regexp": "x" * 10_000}}]}),
        lambda: json.dumps({**SUBSCRIBE, "filters": [{}] * 5_000}),
        lambda: json.dumps({**SUBSCRIBE, "filters": [{}], "after": -1}),
        lambda: json.dumps({**SUBSCRIBE, "filters": [{}], "after": [1, 2, 3]}),
        lambda: json.dumps({**SUBSCRIBE, "filters": [{}], "after": 10**12}),
        lambda: json.dumps({**SUBSCRIBE, "filters": [{}], "after": "0"}),
        lambda: json.dumps({"type": "subscribe", "protocol": 99, "filters": [{}]}),
        lambda: json.dumps({"type": "unsubscribe"}),
        lambda: json.dumps({**SUBSCRIBE}),
        lambda: json.dumps({**SUBSCRIBE, "filters": [{}], "extra": True}),
        lambda: "x" * 100_000,  # over the frame size limit
        lambda: json.dumps({**SUBSCRIBE, "filters": [{"name": {"regexp": "(a+)+$"}}]}),
        lambda: json.dumps({**SUBSCRIBE, "filters": [{"name": {"regexp": "(a|aa)*(b|a?)+$"}}]}),
        lambda: json.dumps({**SUBSCRIBE, "filters": [{"name": {"regexp": "(a|b)*a(a|b){40}c"}}]}),
    ]
    return [rng.choice(makers)() for _ in range(count)]


async def attack(url: str, frames: list[str | bytes]) -> dict[str, int]:
    """Send each frame and classify the server's answer: error frame, subscribed, or close."""
    outcomes: dict[str, int] = {}
    ws: ClientConnection | None = None
    for frame in frames:
        if ws is None or ws.close_code is not None:
            ws = await connect(url, max_size=None)
        try:
            await ws.send(frame)
            while True:
                answer = json.loads(await asyncio.wait_for(ws.recv(), 5))
                if answer["type"] in ("error", "subscribed"):
                    break
            outcome = f"{answer['type']} {answer.get('code', '')}".strip()
        except ConnectionClosed:
            outcome = f"closed {ws.close_code}"
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    if ws is not None:
        await ws.close()
    return outcomes


async def test_1000_hostile_frames_get_errors_or_closes_while_others_keep_streaming(
    serve: ServerFactory, log: Log
) -> None:
    server = await serve(max_bad_frames=16)
    rng = random.Random(1000)
    frames = hostile_frames(1000, rng)
    async with EventStream(server.url) as good:

        def write() -> None:
            for n in range(300):
                name = "a" * 5000 + "!" if n % 3 else "".join(rng.choice("ab") for _ in range(4096))
                log.commit("Cart", {"type": "Written", "n": n, "name": name}, key=f"k{n % 9}")

        writer = asyncio.create_task(asyncio.to_thread(write))
        attackers = [asyncio.create_task(attack(server.url, frames[i::4])) for i in range(4)]
        received = []
        async with asyncio.timeout(90):
            for _ in range(300):
                received.append((await anext(good)).event["n"])
            results = await asyncio.gather(*attackers)
        await writer
    assert received == list(range(300))
    outcomes: dict[str, int] = {}
    for result in results:
        for key, value in result.items():
            outcomes[key] = outcomes.get(key, 0) + value
    assert sum(outcomes.values()) == 1000
    assert set(outcomes) <= {
        "error bad_json",
        "error bad_frame",
        "error invalid_filter",
        "error invalid_position",
        "error unsupported_protocol",
        "subscribed",
        "closed 1009",
        "closed 4400",
        "closed 4422",
    }, outcomes
    assert outcomes["error bad_json"] > 50 and outcomes["error invalid_filter"] > 50
    assert outcomes["closed 1009"] > 10 and outcomes["subscribed"] > 10
    async with EventStream(server.url, after=0) as late:  # the server still serves
        assert (await anext(late)).event["n"] == 0


async def test_a_pattern_that_explodes_on_an_event_closes_only_its_client(
    server: EventStreamServer, log: Log
) -> None:
    explosive = [{"name": {"regexp": "(a|b)*a(a|b){40}c"}}]
    rng = random.Random(4)
    noise = "".join(rng.choice("ab") for _ in range(4096))
    async with (
        EventStream(server.url, events=explosive, reconnect=False) as bad,
        EventStream(server.url) as good,
    ):
        log.commit("Cart", {"type": "Noise", "name": noise})
        assert (await anext(good)).type == "Noise"
        with pytest.raises(StreamError) as ended:
            await asyncio.wait_for(anext(bad), 5)
    assert ended.value.code == CloseCode.FILTER_TOO_EXPENSIVE


async def test_a_legacy_client_that_sends_garbage_is_closed_with_4400(
    server: EventStreamServer,
) -> None:
    async with connect(server.url) as ws:
        await ws.send("[{}]")
        await ws.send("{oops")
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
    assert ws.close_code == CloseCode.BAD_REQUEST


async def test_a_silent_connection_is_closed_when_it_does_not_subscribe(
    serve: ServerFactory,
) -> None:
    server = await serve(subscribe_timeout=0.2)
    async with connect(server.url) as ws:
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
    assert ws.close_code == CloseCode.SUBSCRIBE_TIMEOUT


async def test_connections_over_the_limit_are_refused_with_503(serve: ServerFactory) -> None:
    server = await serve(max_connections=2)
    async with EventStream(server.url), EventStream(server.url):
        with pytest.raises(StreamUnavailable, match="HTTP 503"):
            await EventStream(server.url).start()


def token_authenticator(request: StreamRequest) -> str | None:
    header = request.headers.get("Authorization", "")
    return {"Bearer alice": "alice", "Bearer bob": "bob"}.get(header)


async def only_own_carts(principal: str, filters: list[dict[str, Any]]) -> bool:
    return all(f.get("aggregateKey") == principal for f in filters)


async def test_authentication_refuses_unknown_clients_with_401(
    serve: ServerFactory, log: Log
) -> None:
    server = await serve(authenticate=token_authenticator)
    with pytest.raises(StreamRefused, match="HTTP 401") as refused:
        await EventStream(server.url).start()
    assert refused.value.code == 401
    with pytest.raises(StreamRefused):
        await EventStream(server.url, headers={"Authorization": "Bearer mallory"}).start()
    async with EventStream(server.url, headers={"Authorization": "Bearer alice"}) as stream:
        log.commit("Cart", {"type": "Welcome"})
        assert (await anext(stream)).type == "Welcome"


async def test_authorization_refuses_filters_the_principal_may_not_see(
    serve: ServerFactory, log: Log
) -> None:
    server = await serve(authenticate=token_authenticator, authorize=only_own_carts)
    alice = {"Authorization": "Bearer alice"}
    with pytest.raises(StreamRefused, match="refused") as refused:
        await EventStream(server.url, events=[{"aggregateKey": "bob"}], headers=alice).start()
    assert refused.value.code == "forbidden"
    async with connect(server.url, additional_headers=alice) as ws:  # legacy dialect: a close
        await ws.send(json.dumps([{}]))
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
    assert ws.close_code == CloseCode.FORBIDDEN
    async with connect(server.url, additional_headers=alice) as ws:  # protocol 1: error, close
        await ws.send(json.dumps({**SUBSCRIBE, "filters": [{"aggregateType": "Cart"}]}))
        error = json.loads(await ws.recv())
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
    assert error["type"] == "error" and error["code"] == "forbidden"
    assert ws.close_code == CloseCode.FORBIDDEN
    events = [{"aggregateKey": "alice"}]
    async with EventStream(server.url, events=events, headers=alice) as stream:
        log.commit("Cart", {"type": "Mine"}, key="alice")
        log.commit("Cart", {"type": "NotMine"}, key="bob")
        log.commit("Cart", {"type": "MineAgain"}, key="alice")
        assert [(await anext(stream)).type for _ in range(2)] == ["Mine", "MineAgain"]


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
async def test_tls_serves_wss(serve: ServerFactory, log: Log, tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    client_context = ssl.create_default_context(cafile=str(cert))
    server = await serve(ssl=server_context)
    assert server.url.startswith("wss://")
    async with EventStream(server.url, ssl=client_context) as stream:
        log.commit("Cart", {"type": "Encrypted"})
        assert (await anext(stream)).type == "Encrypted"
    with pytest.raises(StreamUnavailable):  # a client that does not trust the certificate
        await EventStream(server.url, ssl=ssl.create_default_context()).start()
