"""A malformed commit in the log (written before stores validated events, or by another tool)
is logged once and skipped; the stream goes on, for live, resuming and filtered clients alike.

The bad commits are written past the stores' validation: into the in-memory store's internals,
and as raw items into DynamoDB Local.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve

from ddbes.codec import format_time
from ddbes.memory import InMemoryCommitStore, _Stored
from ddbes.model import Commit
from ddbes.ports import CommitStore
from ddbes_dynamodb import DynamoDBCommitStore
from ddbes_dynamodb._items import commit_pk, log_pk, pad
from ddbes_ws import EventStream, EventStreamServer
from tests.dynamodb.tables import DynamoDBTables
from tests.services import DynamoDBLocal
from tests.ws.conftest import Log
from tests.ws.test_stream import take

BAD_PAYLOADS = [
    ["oops"],  # not an object
    [{"no": "type"}],  # no type
    [{"type": ""}],  # an empty type
    [{"type": "Good", "n": 1}, 42],  # one good event, one bad
    [{"type": "NotJson", "n": float("nan")}],  # Python's json reads NaN; no frame can carry it
]


def _inject_in_memory(store: InMemoryCommitStore, key: str, events: list[Any]) -> None:
    """Store a commit whose events break the rules, as if validation had not existed."""
    with store._lock:
        log = store._logs[0]
        commit = Commit(
            commit_id=uuid.uuid4().hex,
            aggregate_type="Cart",
            aggregate_key=key,
            version=1,
            committed_at=datetime.now(UTC),
            events=(),
            position=len(log) + 1,
        )
        stored = _Stored(commit, json.dumps(events).encode(), False)
        store._aggregates[("Cart", key)] = [stored]
        store._times[("Cart", key)] = [commit.committed_at]
        log.append(stored)


def _inject_in_dynamodb(store: DynamoDBCommitStore, key: str, events: list[Any]) -> None:
    """Write a malformed commit item and its log entry at the head as raw DynamoDB items."""
    store.flush_log(timeout=30)
    position = store.head_position() + 1
    common = {
        "i": {"S": uuid.uuid4().hex},
        "t": {"S": format_time(datetime.now(UTC))},
        "e": {"S": json.dumps(events)},
    }
    items = [
        {"p": {"S": commit_pk("Cart", key)}, "s": {"S": pad(1)}, "n": {"N": str(position)}},
        {
            "p": {"S": log_pk(0)},
            "s": {"S": pad(position)},
            "a": {"S": "Cart"},
            "k": {"S": key},
            "v": {"N": "1"},
        },
    ]
    for item in items:
        store.client.put_item(TableName=store.table_name, Item={**item, **common})


def _write_history(store: CommitStore, inject: Any) -> list[str]:
    """good, five bad commits, good: the types every unfiltered client must see, in order."""
    log = Log(store)
    log.commit("Cart", {"type": "Good", "n": 0}, key="first")
    for index, events in enumerate(BAD_PAYLOADS):
        inject(store, f"bad{index}", events)
    log.commit("Cart", {"type": "Good", "n": 2}, key="last")
    store.flush_log(timeout=30)
    return ["Good", "Good", "Good"]


def _bad_commit_warnings(caplog: pytest.LogCaptureFixture, logger: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == logger and "malformed" in r.getMessage() and r.levelno == logging.WARNING
    ]


async def _check_stream(
    store: CommitStore, url: str, caplog: pytest.LogCaptureFixture, timeout: float
) -> None:
    head = store.head_position()
    async with EventStream(url, after=0) as resuming:
        got = await take(resuming, 3, timeout=timeout)
        assert [(i.type, i.event["n"]) for i in got] == [("Good", 0), ("Good", 1), ("Good", 2)]
        assert got[1].aggregate_key == "bad3" and got[1].event_index == 0
        assert resuming.position == head
    async with EventStream(url, events=[{"type": "Good"}], after=1) as filtered:
        got = await take(filtered, 2, timeout=timeout)
        assert [i.event["n"] for i in got] == [1, 2]
        assert filtered.position == head
    warnings = _bad_commit_warnings(caplog, "ddbes_ws.server")
    assert len(warnings) == len(BAD_PAYLOADS), warnings  # once per commit, not per client
    assert all("Cart:bad" in message and "position" in message for message in warnings)


async def test_bad_stored_commits_are_skipped_by_live_and_resuming_clients(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = InMemoryCommitStore()
    async with EventStreamServer(commit_store=store, poll_delay=0.02) as server:
        async with EventStream(server.url) as live:
            await asyncio.sleep(0.05)
            _write_history(store, _inject_in_memory)
            got = await take(live, 3)
            assert [i.event["n"] for i in got] == [0, 1, 2]
            assert live.position == store.head_position()
        await _check_stream(store, server.url, caplog, timeout=5)


@pytest.fixture
def dynamo_store(dynamodb_local: DynamoDBLocal) -> Iterator[DynamoDBCommitStore]:
    tables = DynamoDBTables(dynamodb_local.endpoint_url)
    yield tables.commit_store()
    tables.delete_all()


@pytest.mark.dynamodb
async def test_bad_commits_written_into_dynamodb_are_skipped_by_the_stream(
    dynamo_store: DynamoDBCommitStore, caplog: pytest.LogCaptureFixture
) -> None:
    await asyncio.to_thread(_write_history, dynamo_store, _inject_in_dynamodb)
    assert dynamo_store.head_position() == 2 + len(BAD_PAYLOADS)
    async with EventStreamServer(commit_store=dynamo_store, poll_delay=0.05) as server:
        await _check_stream(dynamo_store, server.url, caplog, timeout=20)


async def test_the_client_skips_malformed_events_a_server_sends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An older or foreign server may still send them: log once per commit and go on."""

    def frame(position: int, events: list[Any]) -> str:
        return json.dumps(
            {
                "type": "commit",
                "logPartition": 0,
                "position": position,
                "commitId": f"c{position}",
                "aggregateType": "Cart",
                "aggregateKey": "k",
                "version": position,
                "committedAt": "2024-01-01T00:00:00.000000Z",
                "events": [{"index": i, "event": e} for i, e in enumerate(events)],
            }
        )

    async def handler(ws: ServerConnection) -> None:
        await ws.recv()
        await ws.send(
            json.dumps(
                {"type": "subscribed", "protocol": 1, "logPartitions": 1, "position": [0]}
                | {"heartbeatInterval": 20}
            )
        )
        await ws.send(frame(1, [{"type": "Good", "n": 1}]))
        await ws.send(frame(2, ["oops", {"no": "type"}]))
        await ws.send(frame(3, [None, {"type": "Good", "n": 3}, 7]))
        await ws.send(frame(4, [{"type": "Good", "n": 4}]))
        await ws.wait_closed()

    async with serve(handler, "127.0.0.1", 0) as fake:
        port = fake.sockets[0].getsockname()[1]
        async with EventStream(f"ws://127.0.0.1:{port}", reconnect=False) as stream:
            got = await take(stream, 3)
            assert [(i.event["n"], i.event_index, i.position) for i in got] == [
                (1, 0, 1),
                (3, 1, 3),
                (4, 0, 4),
            ]
            assert stream.position == 4
    warnings = _bad_commit_warnings(caplog, "ddbes_ws.client")
    assert len(warnings) == 2 and "Cart:k" in warnings[0], warnings


@pytest.mark.dynamodb
async def test_a_damaged_log_entry_is_skipped_and_the_stream_goes_on(
    dynamo_store: DynamoDBCommitStore, caplog: pytest.LogCaptureFixture
) -> None:
    """A log entry the store cannot decode (here: no commit id) stalls no client: the server
    logs it once, and every client's position moves past it."""

    def write() -> None:
        log = Log(dynamo_store)
        log.commit("Cart", {"type": "Good", "n": 0}, key="first")
        dynamo_store.flush_log(timeout=30)
        damaged = {
            "p": {"S": log_pk(0)},
            "s": {"S": pad(2)},
            "a": {"S": "Cart"},
            "k": {"S": "damaged"},
            "v": {"N": "1"},
            "t": {"S": format_time(datetime.now(UTC))},
            "e": {"S": json.dumps([{"type": "Good", "n": 99}])},
        }
        dynamo_store.client.put_item(TableName=dynamo_store.table_name, Item=damaged)
        log.commit("Cart", {"type": "Good", "n": 1}, key="last")
        dynamo_store.flush_log(timeout=30)

    await asyncio.to_thread(write)
    assert dynamo_store.head_position() == 3
    async with EventStreamServer(commit_store=dynamo_store, poll_delay=0.05) as server:
        for _ in range(2):  # a second client meets the damaged entry too
            async with EventStream(server.url, after=0) as resuming:
                got = await take(resuming, 2, timeout=20)
                assert [i.event["n"] for i in got] == [0, 1]
                assert [i.position for i in got] == [1, 3]
                assert resuming.position == 3
    errors = [
        r.getMessage()
        for r in caplog.records
        if r.name == "ddbes_ws.server" and r.levelno == logging.ERROR
    ]
    assert len(errors) == 1, errors  # logged once, however many clients meet it
    assert "position 2 of log partition 0" in errors[0] and "lacks the attribute" in errors[0]
