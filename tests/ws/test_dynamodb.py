"""The stream end to end on DynamoDB Local (AWS's engine): the same guarantees as in memory."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from ddbes_dynamodb import DynamoDBCommitStore
from ddbes_ws import EventStream, EventStreamServer
from tests.dynamodb.tables import DynamoDBTables
from tests.services import DynamoDBLocal
from tests.ws.conftest import Log, Proxy
from tests.ws.test_stream import README_FILTERS, take

pytestmark = pytest.mark.dynamodb


@pytest.fixture
def tables(dynamodb_local: DynamoDBLocal) -> Iterator[DynamoDBTables]:
    made = DynamoDBTables(dynamodb_local.endpoint_url)
    yield made
    made.delete_all()


@pytest.fixture
def dynamo_store(tables: DynamoDBTables) -> DynamoDBCommitStore:
    return tables.commit_store(log_partitions=2)


async def test_readme_filters_resume_and_partitions_on_dynamodb(
    dynamo_store: DynamoDBCommitStore,
) -> None:
    log = Log(dynamo_store)
    async with EventStreamServer(commit_store=dynamo_store, poll_delay=0.05) as server:
        async with EventStream(server.url, events=README_FILTERS) as stream:
            assert stream.position == (0, 0)
            await asyncio.to_thread(log.commit, "Cart", {"type": "ItemAdded", "name": "a"})
            await asyncio.to_thread(log.commit, "Cart", {"type": "Checkout"}, key="k2")
            await asyncio.to_thread(log.commit, "CustomerAccount", {"type": "Created"})
            await asyncio.to_thread(log.commit, "Customer", {"type": "Created"})
            await asyncio.to_thread(log.commit, "Cart", {"type": "ItemRemoved"}, key="k3")
            items = await take(stream, 3, timeout=10)
            assert sorted((i.aggregate_type, i.type) for i in items) == [
                ("Cart", "ItemAdded"),
                ("Cart", "ItemRemoved"),
                ("CustomerAccount", "Created"),
            ]
            await asyncio.sleep(0.3)
        heads = (dynamo_store.head_position(0), dynamo_store.head_position(1))
        assert sum(heads) == 5
        async with EventStream(server.url, after=(0, 0)) as replay:
            everything = await take(replay, 5, timeout=10)
        assert {(i.log_partition, i.position) for i in everything} == {
            (p, n) for p in range(2) for n in range(1, heads[p] + 1)
        }


async def test_a_cut_in_the_middle_of_10000_events_on_dynamodb_loses_and_repeats_nothing(
    dynamo_store: DynamoDBCommitStore,
) -> None:
    log = Log(dynamo_store)

    def write() -> None:  # 500 commits of 20 events: 10,000 events
        for n in range(500):
            events = [{"type": "Counted", "n": n * 20 + i} for i in range(20)]
            log.commit("Cart", *events, key=f"k{n % 8}")

    async with EventStreamServer(commit_store=dynamo_store, poll_delay=0.05) as server:
        proxy = await Proxy(server.port).start()
        try:
            async with EventStream(proxy.url, backoff_initial=0.01) as stream:
                writer = asyncio.create_task(asyncio.to_thread(write))
                seen: dict[int, list[int]] = {0: [], 1: []}
                count = 0
                async with asyncio.timeout(120):
                    async for item in stream:
                        seen[item.log_partition].append(item.event["n"])
                        count += 1
                        if count in (3_000, 7_000):
                            proxy.cut()
                        if count == 10_000:
                            break
                await writer
                assert stream.reconnects >= 2
        finally:
            await proxy.close()
    numbers = sorted(seen[0] + seen[1])
    assert numbers == list(range(10_000))
    for partition_numbers in seen.values():  # in order within each partition
        by_key: dict[int, list[int]] = {}
        for n in partition_numbers:
            by_key.setdefault((n // 20) % 8, []).append(n)
        assert all(ns == sorted(ns) for ns in by_key.values())
