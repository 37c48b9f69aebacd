"""Cuts, restarts, slow consumers and crowds: nothing lost, nothing repeated, nobody held up."""

from __future__ import annotations

import asyncio
import json
import random

from websockets.asyncio.client import connect

from ddbes.filters import compile_filters
from ddbes.memory import InMemoryCommitStore
from ddbes_ws import CloseCode, EventStream, EventStreamServer
from tests.ws.conftest import Log, Proxy, ServerFactory, eventually


async def test_a_cut_in_the_middle_of_10000_events_loses_and_repeats_nothing(
    server: EventStreamServer, log: Log
) -> None:
    proxy = await Proxy(server.port).start()
    try:
        async with EventStream(proxy.url, after=0, backoff_initial=0.01) as stream:
            writer = asyncio.create_task(asyncio.to_thread(log.many, 10_000))
            received: list[int] = []
            async with asyncio.timeout(60):
                async for item in stream:
                    received.append(item.event["n"])
                    if len(received) in (2_500, 6_000):
                        proxy.cut()
                    if len(received) == 10_000:
                        break
            await writer
            assert stream.reconnects >= 2
    finally:
        await proxy.close()
    assert received == list(range(10_000))


async def test_a_server_restart_is_survived_by_resuming(
    store: InMemoryCommitStore, log: Log
) -> None:
    first = EventStreamServer(commit_store=store, poll_delay=0.02)
    await first.start()
    port = first.port
    async with EventStream(first.url, backoff_initial=0.02) as stream:
        log.commit("Cart", {"type": "T", "n": 0})
        assert (await anext(stream)).event["n"] == 0
        await first.close()  # clients get 1001, going away
        log.commit("Cart", {"type": "T", "n": 1})
        log.commit("Cart", {"type": "T", "n": 2})
        async with EventStreamServer(commit_store=store, port=port, poll_delay=0.02):
            async with asyncio.timeout(10):
                items = [await anext(stream), await anext(stream)]
    assert [i.event["n"] for i in items] == [1, 2]


async def test_a_slow_consumer_is_closed_without_holding_up_others(
    serve: ServerFactory, log: Log
) -> None:
    server = await serve(buffer_size=20)
    payload = "x" * 20_000
    async with connect(server.url, max_size=None) as slow, EventStream(server.url) as fast:
        await slow.send(json.dumps({"type": "subscribe", "filters": [{}]}))
        assert json.loads(await slow.recv())["type"] == "subscribed"
        slow.transport.pause_reading()  # reads nothing more: the server's writes back up
        received = 0
        async with asyncio.timeout(30):
            for n in range(1_000):
                log.commit("Cart", {"type": "Big", "n": n, "payload": payload}, key=f"k{n % 5}")
                if n % 50 == 49:
                    server.notify()
                    while received < n + 1:
                        item = await anext(fast)
                        assert item.event["n"] == received
                        received += 1
        slow.transport.resume_reading()
        await asyncio.wait_for(slow.wait_closed(), 10)
    assert slow.close_code == CloseCode.SLOW_CONSUMER
    assert "slow consumer" in (slow.close_reason or "")
    assert received == 1_000


async def test_a_resumed_slow_client_gets_everything_at_its_own_pace(
    serve: ServerFactory, log: Log
) -> None:
    server = await serve(buffer_size=50, batch_size=40)
    log.many(2_000)
    async with EventStream(server.url, after=0, buffer_size=10) as stream:
        numbers = []
        async with asyncio.timeout(30):
            for _ in range(2_000):
                numbers.append((await anext(stream)).event["n"])
                if len(numbers) % 400 == 0:
                    await asyncio.sleep(0.05)
    assert numbers == list(range(2_000))
    assert stream.reconnects == 0  # catching up is paced by the client, never "slow"


async def test_200_concurrent_clients_each_get_exactly_their_events(
    server: EventStreamServer, log: Log
) -> None:
    types = [f"T{n}" for n in range(10)]
    aggregates = [f"Agg{n}" for n in range(4)]
    rng = random.Random(200)
    filters = []
    for n in range(200):
        kind = n % 4
        if kind == 0:
            filters.append([{"type": rng.choice(types)}])
        elif kind == 1:
            filters.append(
                [{"aggregateType": rng.choice(aggregates), "type": rng.sample(types, 3)}]
            )
        elif kind == 2:
            filters.append(
                [
                    {"type": {"regexp": f"^T[{rng.randint(0, 4)}-{rng.randint(5, 9)}]$"}},
                    {"aggregateType": rng.choice(aggregates)},
                ]
            )
        else:
            filters.append([{"n": list(range(rng.randint(0, 50), 300, rng.randint(2, 7)))}])
    streams = [EventStream(server.url, events=f) for f in filters]
    await asyncio.gather(*(s.start() for s in streams))
    try:
        commits = [
            log.commit(rng.choice(aggregates), {"type": rng.choice(types), "n": n}, key=f"k{n % 7}")
            for n in range(300)
        ]

        async def collect(stream: EventStream, expected: int) -> list[int]:
            got = [(await anext(stream)).event["n"] for _ in range(expected)]
            try:  # ... and nothing more
                extra = await asyncio.wait_for(anext(stream), 0.5)
                got.append(extra.event["n"])
            except TimeoutError:
                pass
            return got

        expectations = []
        for f in filters:
            compiled = compile_filters(f)
            expectations.append(
                [c.events[0]["n"] for c in commits if compiled.matches(c, c.events[0])]
            )
        async with asyncio.timeout(60):
            results = await asyncio.gather(
                *(collect(s, len(e)) for s, e in zip(streams, expectations, strict=True))
            )
        assert results == expectations
    finally:
        await asyncio.gather(*(s.close() for s in streams))
    assert sum(map(len, expectations)) > 2_000


async def test_events_committed_while_no_client_is_connected_are_not_lost(
    server: EventStreamServer, log: Log
) -> None:
    async with EventStream(server.url) as stream:
        log.commit("Cart", {"type": "Seen"})
        assert (await anext(stream)).type == "Seen"
        position = stream.position
    await eventually(lambda: server.connections == 0)
    log.commit("Cart", {"type": "WhileAway"})
    await asyncio.sleep(0.1)
    async with EventStream(server.url, after=position) as stream:
        assert (await anext(stream)).type == "WhileAway"
