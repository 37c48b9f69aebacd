"""``EventStream(legacy=True)`` and ``ddbes tail --legacy`` speak the JavaScript library's
dialect: a bare array of filter sets, one flattened object per event, no positions, no
resume. Tested against this package's server (which speaks the dialect, as the Node client
test shows) and against a stand-in for the JavaScript server that fails as it did on anything
but a bare array."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve

from ddbes_ws import EventStream, EventStreamServer, StreamUnavailable
from tests.ws.conftest import Log, eventually

DDBES = Path(sys.executable).with_name("ddbes")


async def test_a_legacy_stream_gets_each_event_with_its_commit_fields(
    server: EventStreamServer, log: Log
) -> None:
    stream = EventStream(server.url, events=[{"aggregateType": "Cart"}], legacy=True)
    async with stream:
        await eventually(lambda: server.subscriptions == 1, timeout=10)
        log.commit("Other", {"type": "Hidden"})
        log.commit(
            "Cart",
            {"type": "ItemAdded", "name": "a"},
            {"type": "ItemRemoved", "name": "a", "version": 7},
            key="c1",
        )
        log.commit("Cart", {"type": "Checkout"}, key="c1")
        server.notify()
        items = [await anext(stream) for _ in range(3)]
        assert stream.position is None  # the dialect has no positions
    commits = log.store.read_commits("Cart", "c1")
    first = next(iter(commits))
    assert [(i.type, i.version, i.event_index) for i in items] == [
        ("ItemAdded", 1, 0),
        ("ItemRemoved", 1, 1),
        ("Checkout", 2, 0),
    ]
    assert items[0].event == {"type": "ItemAdded", "name": "a"}
    assert items[1].event == {"type": "ItemRemoved", "name": "a"}  # its own version was lost
    assert (items[0].aggregate_id, items[0].commit_id) == ("Cart:c1", first.commit_id)
    # the dialect has millisecond times
    assert items[0].committed_at == first.committed_at.replace(
        microsecond=first.committed_at.microsecond // 1000 * 1000
    )
    assert {(i.position, i.log_partition) for i in items} == {(0, 0)}


def test_a_legacy_stream_cannot_resume() -> None:
    with pytest.raises(ValueError, match="cannot resume"):
        EventStream("ws://127.0.0.1:1", legacy=True, after=3)


async def test_against_a_javascript_server_it_sends_the_bare_array_and_ends_when_cut() -> None:
    received: list[Any] = []

    async def javascript_server(ws: ServerConnection) -> None:
        filters = json.loads(await ws.recv())
        received.append(filters)
        if not isinstance(filters, list):  # eventMatchesSubscriptions threw: the process died
            ws.transport.abort()
            return
        frame = {
            "type": "ItemAdded",
            "name": "x",
            "aggregateType": "Cart",
            "commitId": "20300101000000000:Cart:",
            "version": 1,
            "active": True,
            "committedAt": "2030-01-01T00:00:00.000Z",
        }  # no aggregateKey: an empty key was undefined there
        await ws.send(json.dumps(frame))
        await ws.send("not an event")
        ws.transport.abort()  # the server crashed: no close frame

    async with serve(javascript_server, "127.0.0.1", 0) as js:
        port = js.sockets[0].getsockname()[1]
        stream = EventStream(f"ws://127.0.0.1:{port}", events=[{"type": "ItemAdded"}], legacy=True)
        ended: list[BaseException | None] = []
        stream.on("close", ended.append)
        items = []
        async with stream:
            with pytest.raises(StreamUnavailable, match="cannot resume"):
                async for item in stream:
                    items.append(item)
    assert received == [[{"type": "ItemAdded"}]]
    assert [(i.type, i.aggregate_key, i.event) for i in items] == [
        ("ItemAdded", "", {"type": "ItemAdded", "name": "x"})
    ]
    assert items[0].committed_at == datetime(2030, 1, 1, tzinfo=UTC)
    [error] = ended
    assert isinstance(error, StreamUnavailable) and "cannot resume" in str(error)
    assert stream.reconnects == 0


async def test_ddbes_tail_legacy_prints_the_events(server: EventStreamServer, log: Log) -> None:
    process = await asyncio.create_subprocess_exec(
        str(DDBES),
        "tail",
        server.url,
        "--legacy",
        "--count",
        "2",
        "--json",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    await eventually(lambda: server.subscriptions == 1, timeout=20)
    log.commit("Cart", {"type": "ItemAdded", "name": "a"}, {"type": "Checkout"})
    server.notify()
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, err
    lines = [json.loads(line) for line in out.decode().splitlines()]
    assert [(line["type"], line["position"]) for line in lines] == [
        ("ItemAdded", 0),
        ("Checkout", 0),
    ]
    refused = await asyncio.create_subprocess_exec(
        str(DDBES),
        "tail",
        server.url,
        "--legacy",
        "--after",
        "3",
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await refused.communicate()
    assert refused.returncode == 2 and b"--after cannot be used with --legacy" in err
