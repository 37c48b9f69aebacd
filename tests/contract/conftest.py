"""Store factories for the contract suites, one param per adapter.

Every contract check runs on every adapter with no adapter branches inside the checks.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from ddbes.memory import InMemoryCheckpointStore, InMemoryCommitStore, InMemorySnapshotStore
from ddbes.ports import CheckpointStore, SnapshotStore
from ddbes.testing.contracts import CommitStoreFactory


@pytest.fixture(params=["memory"])
def commit_store_factory(request: pytest.FixtureRequest) -> CommitStoreFactory:
    if request.param == "memory":
        return lambda log_partitions=1: InMemoryCommitStore(log_partitions=log_partitions)
    raise AssertionError(request.param)


@pytest.fixture(params=["memory", "s3"])
def snapshot_store_factory(request: pytest.FixtureRequest) -> Callable[[], SnapshotStore]:
    if request.param == "memory":
        return InMemorySnapshotStore
    if request.param == "s3":
        return _s3_snapshot_store_factory(request.getfixturevalue("moto_server").endpoint_url)
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


@pytest.fixture(params=["memory"])
def checkpoint_store_factory(request: pytest.FixtureRequest) -> Callable[[], CheckpointStore]:
    if request.param == "memory":
        return InMemoryCheckpointStore
    raise AssertionError(request.param)
