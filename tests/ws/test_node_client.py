"""A Node client written with the ``ws`` package, speaking the JavaScript library's protocol.

It sends a bare array of filter sets and expects one JSON object per event (the event's fields
merged with the commit's), as the JavaScript ``EventStream`` did. Skipped only without Node.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ddbes.model import Commit
from ddbes.ports import CommitStore
from ddbes_ws import CloseCode, EventStreamServer
from tests.ws.conftest import eventually

NODE_DIR = Path(__file__).parent / "node"
NODE = shutil.which("node")

pytestmark = pytest.mark.skipif(NODE is None, reason="needs Node (CI has it)")


@pytest.fixture(scope="module")
def node_modules() -> Path:
    """The pinned ``ws`` package, installed by ``.ci/run`` (nothing downloads during tests)."""
    modules = NODE_DIR / "node_modules" / "ws"
    if not modules.exists():
        pytest.fail(
            "the Node client's dependencies are missing: run `npm ci --prefix tests/ws/node`",
            pytrace=False,
        )
    return modules


async def run_node(
    url: str, filters: Any, count: int, server: EventStreamServer, raw_first: str | None = None
) -> tuple[asyncio.subprocess.Process, Any]:
    assert NODE is not None
    args = [str(NODE_DIR / "legacy-client.js"), url, json.dumps(filters), str(count)]
    if raw_first is not None:
        args.append(raw_first)
    process = await asyncio.create_subprocess_exec(
        NODE, *args, stdout=asyncio.subprocess.PIPE, cwd=NODE_DIR
    )
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 20)
    assert line.strip() == b"open"
    return process, process.stdout


def at(
    store: CommitStore,
    aggregate_type: str,
    version: int,
    when: datetime,
    *events: dict[str, Any],
    key: str = "@",
    commit_id: str | None = None,
) -> Commit:
    return store.append(
        Commit(
            commit_id=commit_id or uuid.uuid4().hex,
            aggregate_type=aggregate_type,
            aggregate_key=key,
            version=version,
            committed_at=when,
            events=events,
        )
    )


async def test_a_javascript_library_client_receives_one_merged_object_per_event(
    node_modules: Path, server: EventStreamServer, store: CommitStore
) -> None:
    readme = [
        {"aggregateType": "Cart", "type": ["ItemAdded", "ItemRemoved"]},
        {"aggregateType": {"regexp": "^Customer."}},
    ]
    process, stdout = await run_node(server.url, readme, 4, server)
    await eventually(lambda: server.subscriptions == 1, timeout=10)
    first = datetime(2030, 1, 1, tzinfo=UTC)
    second = datetime(2030, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    at(
        store,
        "Cart",
        1,
        first,
        {"type": "ItemAdded", "name": "firstItem"},
        commit_id="20300101000000000:Cart:@",
    )
    at(store, "Other", 1, first, {"type": "ItemAdded"})
    at(
        store,
        "Cart",
        2,
        second,
        {"type": "Checkout"},
        {"type": "ItemRemoved", "name": "firstItem", "version": 0, "aggregateType": "spoof"},
        commit_id="20300102030405678:Cart:@",
    )
    at(store, "CustomerAccount", 1, first, {"type": "Created"}, key="c1", commit_id="cust-1")
    at(store, "Cart", 3, first, {"type": "ItemAdded", "name": "late"}, commit_id="c3")
    server.notify()
    output = json.loads(await asyncio.wait_for(stdout.readline(), 20))
    await process.wait()
    texts = [frame["text"] for frame in output["frames"]]
    assert not any(frame["binary"] for frame in output["frames"])
    assert texts[0] == (
        '{"type":"ItemAdded","name":"firstItem","aggregateType":"Cart","aggregateKey":"@",'
        '"commitId":"20300101000000000:Cart:@","version":1,"active":true,'
        '"committedAt":"2030-01-01T00:00:00.000Z"}'
    )  # byte for byte the frame of the JavaScript library's own test
    frames = [json.loads(text) for text in texts]
    assert frames[1] == {  # commit fields win over same-named event fields, as they did there
        "type": "ItemRemoved",
        "name": "firstItem",
        "version": 2,
        "aggregateType": "Cart",
        "aggregateKey": "@",
        "commitId": "20300102030405678:Cart:@",
        "active": True,
        "committedAt": "2030-01-02T03:04:05.678Z",
    }
    assert list(frames[1]) == [
        "type",
        "name",
        "version",
        "aggregateType",
        "aggregateKey",
        "commitId",
        "active",
        "committedAt",
    ]
    assert frames[2]["aggregateType"] == "CustomerAccount" and frames[2]["aggregateKey"] == "c1"
    assert frames[3]["name"] == "late"
    assert output["close"]["code"] == 1000


async def test_a_javascript_client_with_a_bad_filter_is_closed_and_gets_no_error_object(
    node_modules: Path, server: EventStreamServer
) -> None:
    process, stdout = await run_node(server.url, [{"type": None}], 1, server)
    output = json.loads(await asyncio.wait_for(stdout.readline(), 20))
    await process.wait()
    assert output["frames"] == []
    assert output["close"]["code"] == CloseCode.BAD_REQUEST
    assert "invalid_filter" in output["close"]["reason"]


async def test_a_javascript_client_with_an_empty_filter_list_receives_nothing(
    node_modules: Path, server: EventStreamServer, store: CommitStore
) -> None:
    process, stdout = await run_node(server.url, [], 1, server)
    await eventually(lambda: server.subscriptions == 1, timeout=10)
    at(store, "Cart", 1, datetime.now(UTC), {"type": "Invisible"})
    server.notify()
    await asyncio.sleep(0.3)
    await server.close()  # ends the client with 1001
    output = json.loads(await asyncio.wait_for(stdout.readline(), 20))
    await process.wait()
    assert output["frames"] == []
    assert output["close"]["code"] == 1001
