"""The client's idle timeout: a silent server is noticed, a slow consumer is not taken for one."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve

from ddbes.model import Commit
from ddbes_ws import EventStream, StreamUnavailable, protocol

HELLO = {"type": "subscribed", "position": [0], "heartbeatInterval": 0.1}  # idle timeout: 1 s


def _frame(position: int) -> str:
    commit = Commit(
        commit_id=uuid.uuid4().hex,
        aggregate_type="T",
        aggregate_key="k",
        version=position,
        committed_at=datetime.now(UTC),
        events=({"type": "E", "n": position},),
    ).stored_at(position, 0)
    return protocol.commit_frame(commit, [0])


async def _serve(handler: Any) -> Any:
    return await serve(handler, "127.0.0.1", 0)


async def test_a_server_that_goes_silent_is_noticed_by_the_idle_timeout() -> None:
    async def silent(ws: ServerConnection) -> None:
        await ws.recv()
        await ws.send(json.dumps(HELLO))
        await ws.send(_frame(1))
        await asyncio.sleep(30)  # no heartbeat, no frame: a hung server

    server = await _serve(silent)
    port = server.sockets[0].getsockname()[1]
    loop = asyncio.get_running_loop()
    received = []
    try:
        async with EventStream(f"ws://127.0.0.1:{port}", reconnect=False) as stream:
            started = loop.time()
            with pytest.raises(StreamUnavailable, match="lost the connection"):
                async with asyncio.timeout(10):
                    async for item in stream:
                        received.append(item.event["n"])
            waited = loop.time() - started
    finally:
        server.close()
    assert received == [1]
    assert 0.9 <= waited < 5, waited


async def test_a_consumer_slower_than_the_idle_timeout_keeps_its_connection() -> None:
    async def chatty(ws: ServerConnection) -> None:
        await ws.recv()
        await ws.send(json.dumps(HELLO))
        for position in range(1, 6):
            await ws.send(_frame(position))
        while True:  # heartbeats keep coming while the client's buffer is full
            await asyncio.sleep(0.1)
            await ws.send(protocol.heartbeat_frame())

    server = await _serve(chatty)
    port = server.sockets[0].getsockname()[1]
    try:
        async with EventStream(f"ws://127.0.0.1:{port}", buffer_size=1) as stream:
            first = await anext(stream)
            await asyncio.sleep(2.5)  # the pump waits for room far longer than the idle timeout
            rest = [await anext(stream) for _ in range(4)]
            assert stream.reconnects == 0
    finally:
        server.close()
    assert [i.event["n"] for i in (first, *rest)] == [1, 2, 3, 4, 5]
