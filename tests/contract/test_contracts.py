"""The contract suites of every port, on every adapter (see conftest.py for the adapters)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ddbes.ports import CheckpointStore, SnapshotStore
from ddbes.testing.contracts import (
    CHECKPOINT_OPERATIONS_CHECKS,
    CHECKPOINT_STORE_CHECKS,
    COMMIT_STORE_CHECKS,
    SNAPSHOT_STORE_CHECKS,
    CommitStoreFactory,
)


@pytest.mark.parametrize("check", COMMIT_STORE_CHECKS.values(), ids=COMMIT_STORE_CHECKS.keys())
def test_commit_store_contract(
    check: Callable[[CommitStoreFactory], None], commit_store_factory: CommitStoreFactory
) -> None:
    check(commit_store_factory)


@pytest.mark.parametrize("check", SNAPSHOT_STORE_CHECKS.values(), ids=SNAPSHOT_STORE_CHECKS.keys())
def test_snapshot_store_contract(
    check: Callable[[Callable[[], SnapshotStore]], None],
    snapshot_store_factory: Callable[[], SnapshotStore],
) -> None:
    check(snapshot_store_factory)


@pytest.mark.parametrize(
    "check", CHECKPOINT_STORE_CHECKS.values(), ids=CHECKPOINT_STORE_CHECKS.keys()
)
def test_checkpoint_store_contract(
    check: Callable[[Callable[[], CheckpointStore]], None],
    checkpoint_store_factory: Callable[[], CheckpointStore],
) -> None:
    check(checkpoint_store_factory)


@pytest.mark.parametrize(
    "check", CHECKPOINT_OPERATIONS_CHECKS.values(), ids=CHECKPOINT_OPERATIONS_CHECKS.keys()
)
def test_checkpoint_store_operations_contract(
    check: Callable[[Callable[[], CheckpointStore]], None],
    checkpoint_store_factory: Callable[[], CheckpointStore],
) -> None:
    check(checkpoint_store_factory)
