"""EventStream against EventStreamServer on loopback, with the in-memory store."""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import datetime
from typing import Any

import pytest
from websockets.asyncio.client import connect

import ddbes
from ddbes.errors import ConfigurationError, InvalidFilter
from ddbes.memory import InMemoryCommitStore
from ddbes_ws import EventStream, EventStreamServer, StreamItem
from tests.ws.conftest import Log, ServerFactory, eventually

README_FILTERS = [
    {
        "aggregateType": "Cart",
        "type": ["ItemAdded", "ItemRemoved"],
    },
    {
        "aggregateType": {"regexp": "^Customer."},
    },
]


async def take(stream: EventStream, count: int, timeout: float = 5.0) -> list[StreamItem]:
    async with asyncio.timeout(timeout):
        return [await anext(stream) for _ in range(count)]


async def test_the_original_readme_filters_select_exactly_their_events(
    server: EventStreamServer, log: Log
) -> None:
    async with EventStream(server.url, events=README_FILTERS) as stream:
        log.commit("Cart", {"type": "ItemAdded", "name": "firstItem"})
        log.commit("Cart", {"type": "Checkout"})
        log.commit("Customer", {"type": "Created"})  # "^Customer." needs one more character
        log.commit("CustomerAccount", {"type": "Created"})
        log.commit("Cart", {"type": "ItemRemoved", "name": "firstItem"})
        log.commit("Order", {"type": "ItemAdded"})
        items = await take(stream, 3)
    assert [(i.aggregate_type, i.type) for i in items] == [
        ("Cart", "ItemAdded"),
        ("CustomerAccount", "Created"),
        ("Cart", "ItemRemoved"),
    ]
    first = items[0]
    assert first.event == {"type": "ItemAdded", "name": "firstItem"}
    assert (first.aggregate_key, first.aggregate_id, first.version) == ("@", "Cart:@", 1)
    assert first.position == 1 and first.log_partition == 0 and first.event_index == 0
    assert isinstance(first.committed_at, datetime) and first.committed_at.tzinfo is not None


async def test_a_commits_metadata_reaches_each_of_its_events(
    server: EventStreamServer, log: Log
) -> None:
    metadata = {"correlation_id": "req-7", "user": {"id": 3}}
    async with EventStream(server.url, events=[{}]) as stream:
        log.commit("Cart", {"type": "A"}, {"type": "B"}, metadata=metadata)
        log.commit("Cart", {"type": "C"})
        items = await take(stream, 3)
    assert [i.metadata for i in items] == [metadata, metadata, {}]
    items[0].metadata["user"] = "changed by a consumer"
    assert items[1].metadata == metadata  # each item has its own copy


async def test_a_stream_without_after_starts_at_the_head(
    server: EventStreamServer, log: Log
) -> None:
    log.commit("Cart", {"type": "Old"})
    async with EventStream(server.url) as stream:
        assert stream.position == 1
        log.commit("Cart", {"type": "New"})
        (item,) = await take(stream, 1)
    assert item.type == "New" and item.position == 2


async def test_a_stream_resumes_just_after_a_position(server: EventStreamServer, log: Log) -> None:
    for n in range(5):
        log.commit("Cart", {"type": "Numbered", "n": n})
    async with EventStream(server.url, events=[{}], after=2) as stream:
        items = await take(stream, 3)
        log.commit("Cart", {"type": "Numbered", "n": 5})
        items += await take(stream, 1)
    assert [i.event["n"] for i in items] == [2, 3, 4, 5]
    assert [i.position for i in items] == [3, 4, 5, 6]


async def test_every_event_of_a_commit_arrives_in_order_with_its_index(
    server: EventStreamServer, log: Log
) -> None:
    async with EventStream(server.url, events=[{"type": ["A", "C"]}]) as stream:
        log.commit("Cart", {"type": "A"}, {"type": "B"}, {"type": "C"})
        items = await take(stream, 2)
        assert stream.position == 1  # the commit is consumed once its last match is
    assert [(i.type, i.event_index, i.position) for i in items] == [("A", 0, 1), ("C", 2, 1)]
    assert items[0].commit_id == items[1].commit_id


async def test_checkpoints_move_the_position_past_hidden_commits(
    serve: ServerFactory, log: Log
) -> None:
    server = await serve(checkpoint_interval=0.05)
    async with EventStream(server.url, events=[{"aggregateType": "Wanted"}]) as stream:
        for _ in range(20):
            log.commit("Hidden", {"type": "Noise"})
        server.notify()
        await eventually(lambda: stream.position == 20 or bool(stream._entries))
        consumer = asyncio.create_task(anext(stream))
        await eventually(lambda: stream.position == 20)
        log.commit("Wanted", {"type": "Signal"})
        item = await asyncio.wait_for(consumer, 5)
    assert item.position == 21 and stream.position == 21


async def test_the_on_event_callback_sees_each_consumed_item(
    server: EventStreamServer, log: Log
) -> None:
    seen: list[str] = []
    async with EventStream(server.url) as stream:
        stream.on("event", lambda item: seen.append(item.type))

        @stream.on("event")
        async def also(item: StreamItem) -> None:
            seen.append(f"async {item.type}")

        log.commit("Cart", {"type": "One"})
        log.commit("Cart", {"type": "Two"})
        runner = asyncio.create_task(stream.run())
        await eventually(lambda: len(seen) == 4)
        runner.cancel()
    assert seen == ["One", "async One", "Two", "async Two"]


def test_on_refuses_unknown_events() -> None:
    stream = EventStream("ws://127.0.0.1:1")
    with pytest.raises(ValueError, match="unknown stream event"):
        stream.on("newEvent", print)


async def test_the_blocking_iterator_needs_no_asyncio(server: EventStreamServer, log: Log) -> None:
    received: list[str] = []
    ready = threading.Event()

    def consume() -> None:
        with EventStream(server.url, events=[{"type": "Wanted"}]) as stream:
            ready.set()
            for item in stream:
                received.append(item.type)
                if len(received) == 2:
                    break

    thread = threading.Thread(target=consume)
    thread.start()
    await asyncio.to_thread(ready.wait, 5)
    log.commit("Cart", {"type": "Wanted"})
    log.commit("Cart", {"type": "Unwanted"})
    log.commit("Cart", {"type": "Wanted"})
    await asyncio.to_thread(thread.join, 5)
    assert received == ["Wanted", "Wanted"]


async def test_a_partitioned_log_streams_every_partition_with_vector_positions(
    serve: ServerFactory,
) -> None:
    store = InMemoryCommitStore(log_partitions=4)
    log = Log(store)
    server = await serve(commit_store=store)
    async with EventStream(server.url) as stream:
        assert stream.position == (0, 0, 0, 0)
        commits = [log.commit("Cart", {"type": "T", "n": n}, key=f"k{n}") for n in range(40)]
        items = await take(stream, 40)
        assert sorted(i.event["n"] for i in items) == list(range(40))
        for partition in range(4):
            mine = [i.position for i in items if i.log_partition == partition]
            assert mine == sorted(mine)
        final = stream.position
    heads = tuple(store.head_position(p) for p in range(4))
    assert final == heads and sum(heads) == len(commits)
    middle = tuple(max(0, h - 2) for h in heads)
    async with EventStream(server.url, after=middle) as stream:
        again = await take(stream, sum(h - m for h, m in zip(heads, middle, strict=True)))
    assert {(i.log_partition, i.position) for i in again} == {
        (p, pos) for p in range(4) for pos in range(middle[p] + 1, heads[p] + 1)
    }


async def test_notify_delivers_without_waiting_for_the_poll(serve: ServerFactory, log: Log) -> None:
    server = await serve(poll_delay=30)
    async with EventStream(server.url) as stream:
        await asyncio.sleep(0.05)  # the reader is now asleep for 30 s
        log.commit("Cart", {"type": "Now"})
        server.notify()
        (item,) = await take(stream, 1, timeout=2)
    assert item.type == "Now"


async def test_one_reader_serves_every_client(serve: ServerFactory, log: Log) -> None:
    server = await serve(poll_delay=0.05)
    async with EventStream(server.url) as one:
        reads_before = server.store_reads
        await asyncio.sleep(0.5)
        alone = server.store_reads - reads_before
        others = [EventStream(server.url) for _ in range(30)]
        for other in others:
            await other.start()
        reads_before = server.store_reads
        await asyncio.sleep(0.5)
        crowded = server.store_reads - reads_before
        log.commit("Cart", {"type": "T"})
        assert (await take(one, 1))[0].type == "T"
        for other in others:
            assert (await take(other, 1))[0].type == "T"
            await other.close()
    assert crowded <= alone * 1.5 + 2


async def test_commit_store_defaults_to_the_configured_one(
    log: Log, store: InMemoryCommitStore
) -> None:
    ddbes.config.update(commit_store=store)
    try:
        async with EventStreamServer(poll_delay=0.02) as server, EventStream(server.url) as stream:
            log.commit("Cart", {"type": "Configured"})
            (item,) = await take(stream, 1)
        assert item.type == "Configured"
    finally:
        ddbes.config.reset()
    with pytest.raises(ConfigurationError, match="commit store"):
        EventStreamServer()


def test_bad_filters_fail_before_connecting() -> None:
    with pytest.raises(InvalidFilter, match="not null"):
        EventStream("ws://127.0.0.1:1", events=[{"type": None}])
    with pytest.raises(ValueError, match="not a ws"):
        EventStream("http://127.0.0.1:1")
    with pytest.raises(ValueError, match="after must be"):
        EventStream("ws://127.0.0.1:1", after=-1)


async def test_the_protocol_frames_as_a_raw_client_sees_them(
    serve: ServerFactory, log: Log
) -> None:
    server = await serve(heartbeat_interval=0.2, checkpoint_interval=0.05)
    log.commit("Cart", {"type": "Before"})
    async with connect(server.url) as ws:
        await ws.send(
            json.dumps(
                {"type": "subscribe", "protocol": 1, "filters": [{"type": "Shown"}], "after": None}
            )
        )
        subscribed = json.loads(await ws.recv())
        assert subscribed == {
            "type": "subscribed",
            "protocol": 1,
            "logPartitions": 1,
            "position": [1],
            "heartbeatInterval": 0.2,
        }
        log.commit("Cart", {"type": "Hidden"})
        log.commit("Cart", {"type": "Shown", "version": 3}, key="k")
        frames: list[dict[str, Any]] = []
        async with asyncio.timeout(3):
            while not any(f["type"] == "heartbeat" for f in frames):
                frames.append(json.loads(await ws.recv()))
    commit = next(f for f in frames if f["type"] == "commit")
    assert commit["position"] == 3 and commit["logPartition"] == 0
    assert commit["aggregateType"] == "Cart" and commit["aggregateKey"] == "k"
    assert commit["version"] == 1 and commit["committedAt"].endswith("Z")
    assert commit["events"] == [{"index": 0, "event": {"type": "Shown", "version": 3}}]
    assert {"type": "heartbeat"} in frames
