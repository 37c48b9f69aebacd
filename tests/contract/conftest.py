"""Store factories for the contract suites, one param per adapter.

Every contract check runs on every adapter with no adapter branches inside the checks.
"""

from __future__ import annotations

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


@pytest.fixture(params=["memory"])
def snapshot_store_factory(request: pytest.FixtureRequest) -> Callable[[], SnapshotStore]:
    if request.param == "memory":
        return InMemorySnapshotStore
    raise AssertionError(request.param)


@pytest.fixture(params=["memory"])
def checkpoint_store_factory(request: pytest.FixtureRequest) -> Callable[[], CheckpointStore]:
    if request.param == "memory":
        return InMemoryCheckpointStore
    raise AssertionError(request.param)
