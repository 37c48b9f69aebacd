"""AsyncS3SnapshotStore passes the snapshot contract suite, run as async, and shares its
objects with the sync store."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest

from ddbes.model import Snapshot
from ddbes.ports import SnapshotStore
from ddbes.testing.blocking import BlockingSnapshotStore, EventLoopThread
from ddbes.testing.contracts import SNAPSHOT_STORE_CHECKS
from ddbes_s3 import AsyncS3SnapshotStore, S3SnapshotStore


@pytest.fixture(scope="module")
def loop() -> Iterator[EventLoopThread]:
    thread = EventLoopThread()
    yield thread
    thread.close()


@pytest.fixture
def async_factory(s3_endpoint: str, loop: EventLoopThread) -> Iterator[Callable[[], SnapshotStore]]:
    made: list[AsyncS3SnapshotStore] = []

    def factory() -> SnapshotStore:
        bucket = f"ddbes-async-{uuid.uuid4().hex[:12]}"
        S3SnapshotStore(bucket, endpoint_url=s3_endpoint).create_bucket()
        store = AsyncS3SnapshotStore(bucket, "contract", endpoint_url=s3_endpoint)
        made.append(store)
        return BlockingSnapshotStore(store, loop)

    yield factory
    for store in made:
        loop.run(store.close())


@pytest.mark.parametrize("check", SNAPSHOT_STORE_CHECKS.values(), ids=SNAPSHOT_STORE_CHECKS.keys())
def test_async_snapshot_store_contract(
    check: Callable[[Callable[[], SnapshotStore]], None],
    async_factory: Callable[[], SnapshotStore],
) -> None:
    check(async_factory)


def _snapshot(key: str, version: int) -> Snapshot:
    return Snapshot(
        aggregate_type="Cart",
        aggregate_key=key,
        version=version,
        state={"n": version},
        head_commit_id=f"c{version}",
        head_committed_at=datetime(2024, 1, 1, tzinfo=UTC),
        checksum="sum-1",
    )


async def test_sync_and_async_stores_read_each_others_snapshots(s3_endpoint: str) -> None:
    bucket = f"ddbes-both-{uuid.uuid4().hex[:12]}"
    sync = S3SnapshotStore(bucket, "shared", endpoint_url=s3_endpoint)
    sync.create_bucket()
    sync.put(_snapshot("a", 3))
    store = AsyncS3SnapshotStore(bucket, "shared", endpoint_url=s3_endpoint)
    try:
        assert await store.get("Cart", "a") == _snapshot("a", 3)
        await store.put(_snapshot("b", 5))
    finally:
        await store.close()
    assert sync.get("Cart", "b") == _snapshot("b", 5)
