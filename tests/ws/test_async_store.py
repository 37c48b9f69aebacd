"""EventStreamServer reads an async commit store in its own event loop, with no thread."""

from __future__ import annotations

import asyncio
import threading
import uuid
from datetime import UTC, datetime

import pytest

from ddbes.model import Commit
from ddbes_dynamodb import AsyncDynamoDBCommitStore
from ddbes_ws import EventStream, EventStreamServer
from tests.dynamodb.tables import DynamoDBTables
from tests.services import DynamoDBLocal
from tests.ws.test_stream import take

pytestmark = pytest.mark.dynamodb


def _commit(key: str, version: int, n: int) -> Commit:
    return Commit(
        commit_id=uuid.uuid4().hex,
        aggregate_type="Cart",
        aggregate_key=key,
        version=version,
        committed_at=datetime.now(UTC),
        events=({"type": "Counted", "n": n},),
    )


async def test_the_server_streams_an_async_store_in_its_loop(
    dynamodb_local: DynamoDBLocal,
) -> None:
    tables = DynamoDBTables(dynamodb_local.endpoint_url)
    sync = tables.commit_store(log_partitions=2)
    store = AsyncDynamoDBCommitStore(
        sync.table_name, sync_client=tables.client, endpoint_url=tables.endpoint_url
    )
    try:
        await store.append(_commit("before", 1, 0))
        await store.flush_log(timeout=10)
        async with EventStreamServer(commit_store=store, poll_delay=0.05) as server:
            threads = threading.active_count()
            async with EventStream(server.url, after=(0, 0)) as stream:
                for n in range(1, 6):
                    await store.append(_commit(f"k{n}", 1, n))
                items = await take(stream, 6, timeout=15)
            assert sorted(item.event["n"] for item in items) == [0, 1, 2, 3, 4, 5]
            # no reader threads: only the sequencer's (started before) may run
            assert threading.active_count() <= threads + 1
    finally:
        await store.close()
        tables.delete_all()
    await asyncio.sleep(0)
