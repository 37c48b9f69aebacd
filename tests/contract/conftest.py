"""Store factories for the contract suites, one param per adapter.

Every contract check runs on every adapter with no adapter branches inside the checks.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator

import pytest

from ddbes.memory import InMemoryCheckpointStore, InMemoryCommitStore, InMemorySnapshotStore
from ddbes.ports import CheckpointStore, SnapshotStore
from ddbes.testing.contracts import CommitStoreFactory
from ddbes_dynamodb.emulator import patch_moto_transactions
from tests.dynamodb.tables import DynamoDBTables


@pytest.fixture(params=["memory", "dynamodb-local", "dynamodb-local-inline", "moto"])
def commit_store_factory(request: pytest.FixtureRequest) -> Iterator[CommitStoreFactory]:
    if request.param == "memory":
        yield lambda log_partitions=1: InMemoryCommitStore(log_partitions=log_partitions)
        return
    with _dynamodb_tables(request) as tables:
        yield tables.commit_store


@pytest.fixture(params=["memory", "s3"])
def snapshot_store_factory(request: pytest.FixtureRequest) -> Callable[[], SnapshotStore]:
    if request.param == "memory":
        return InMemorySnapshotStore
    if request.param == "s3":
        return _s3_snapshot_store_factory(request.getfixturevalue("s3_endpoint"))
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


@pytest.fixture(params=["memory", "dynamodb-local", "moto"])
def checkpoint_store_factory(
    request: pytest.FixtureRequest,
) -> Iterator[Callable[[], CheckpointStore]]:
    if request.param == "memory":
        yield InMemoryCheckpointStore
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
