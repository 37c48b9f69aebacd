"""Store factories for the contract suites, one param per adapter.

Every contract check runs on every adapter with no adapter branches inside the checks. Async
adapters run the same checks through a blocking bridge (:mod:`ddbes.testing.blocking`): a
``*-async`` param builds its async stores on the bridge's loop.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator

import pytest

from ddbes.async_memory import (
    AsyncInMemoryCheckpointStore,
    AsyncInMemoryCommitStore,
    AsyncInMemorySnapshotStore,
)
from ddbes.memory import InMemoryCheckpointStore, InMemoryCommitStore, InMemorySnapshotStore
from ddbes.ports import CheckpointStore, SnapshotStore
from ddbes.testing.blocking import (
    blocking_checkpoint_store_factory,
    blocking_commit_store_factory,
    blocking_snapshot_store_factory,
)
from ddbes.testing.contracts import CommitStoreFactory
from ddbes_dynamodb.emulator import patch_moto_transactions
from tests.dynamodb.tables import DynamoDBTables


@pytest.fixture(
    params=["memory", "memory-async", "dynamodb-local", "dynamodb-local-inline", "moto"]
)
def commit_store_factory(request: pytest.FixtureRequest) -> Iterator[CommitStoreFactory]:
    if request.param == "memory":
        yield lambda log_partitions=1: InMemoryCommitStore(log_partitions=log_partitions)
        return
    if request.param == "memory-async":
        with blocking_commit_store_factory(
            lambda log_partitions=1: AsyncInMemoryCommitStore(
                InMemoryCommitStore(log_partitions=log_partitions)
            )
        ) as factory:
            yield factory
        return
    with _dynamodb_tables(request) as tables:
        yield tables.commit_store


@pytest.fixture(params=["memory", "memory-async", "s3"])
def snapshot_store_factory(
    request: pytest.FixtureRequest,
) -> Iterator[Callable[[], SnapshotStore]]:
    if request.param == "memory":
        yield InMemorySnapshotStore
    elif request.param == "memory-async":
        with blocking_snapshot_store_factory(AsyncInMemorySnapshotStore) as factory:
            yield factory
    elif request.param == "s3":
        yield _s3_snapshot_store_factory(request.getfixturevalue("s3_endpoint"))
    else:
        raise AssertionError(request.param)


def _s3_snapshot_store_factory(endpoint_url: str) -> Callable[[], SnapshotStore]:
    """S3 snapshot stores on serialized moto, each in a new bucket under a prefix."""
    from ddbes_s3 import S3SnapshotStore

    def factory() -> SnapshotStore:
        store = S3SnapshotStore(
            f"ddbes-contract-{uuid.uuid4().hex[:12]}", "contract", endpoint_url=endpoint_url
        )
        store.create_bucket()
        return store

    return factory


@pytest.fixture(params=["memory", "memory-async", "dynamodb-local", "moto"])
def checkpoint_store_factory(
    request: pytest.FixtureRequest,
) -> Iterator[Callable[[], CheckpointStore]]:
    if request.param == "memory":
        yield InMemoryCheckpointStore
        return
    if request.param == "memory-async":
        with blocking_checkpoint_store_factory(AsyncInMemoryCheckpointStore) as factory:
            yield factory
        return
    with _dynamodb_tables(request) as tables:
        yield tables.checkpoint_store


@contextlib.contextmanager
def _dynamodb_tables(request: pytest.FixtureRequest) -> Iterator[DynamoDBTables]:
    """Fresh tables on DynamoDB Local or serialized moto, deleted after the test."""
    service = "moto_server" if request.param == "moto" else "dynamodb_local"
    if service == "moto_server":
        patch_moto_transactions()  # moto copies whole tables per transaction otherwise
    sequencing = "inline" if request.param.endswith("-inline") else "background"
    tables = DynamoDBTables(request.getfixturevalue(service).endpoint_url, sequencing=sequencing)
    try:
        yield tables
    finally:
        tables.delete_all()
