"""The event stream server's telemetry: a span per fan-out of a log batch (none per client or
frame), connected clients, and the depth of each client's outbound queue."""

from __future__ import annotations

import asyncio

from ddbes.memory import InMemoryCommitStore
from ddbes_ws import EventStream, EventStreamServer
from tests.telemetry.conftest import Otel
from tests.ws.conftest import Log, eventually


async def test_a_fanout_is_one_span_per_batch_with_its_clients_and_positions(otel: Otel) -> None:
    store = InMemoryCommitStore()
    log = Log(store)
    log.commit("Cart", {"type": "Opened"})
    async with (
        EventStreamServer(commit_store=store, poll_delay=0.02) as server,
        EventStream(server.url, events=[{}], after=[1]) as first,
        EventStream(server.url, events=[{"type": "Added"}], after=[1]) as second,
    ):
        await eventually(lambda: server.subscriptions == 2)
        await eventually(lambda: all(s.live for s in server._fanout.subscribers))
        for n in range(3):
            log.commit("Cart", {"type": "Added", "n": n})
        async with asyncio.timeout(5):
            got = [[await anext(stream) for _ in range(3)] for stream in (first, second)]
    assert [[item.position for item in items] for items in got] == [[2, 3, 4], [2, 3, 4]]

    fanouts = [s for s in otel.spans() if s.name == "ddbes.stream.fanout"]
    assert fanouts, "the shared reader fanned the commits out"
    assert sum(s.attributes["ddbes.commits"] for s in fanouts) == 3
    assert fanouts[0].attributes["ddbes.position.from"] == 2
    assert fanouts[-1].attributes["ddbes.position.to"] == 4
    assert {s.attributes["ddbes.stream.clients"] for s in fanouts} == {2}
    assert {s.attributes["ddbes.log_partition"] for s in fanouts} == {0}

    found = otel.metrics()
    (depths,) = found["ddbes.stream.queue_depth"]
    assert depths.count == 2 * len(fanouts)  # each client, after each fan-out
    assert depths.max >= 1
    assert sum(point.value for point in found["ddbes.stream.clients"]) == 0  # both gone
