from __future__ import annotations

from collections.abc import Iterator

import pytest

import ddbes
from ddbes.memory import InMemoryCommitStore, InMemorySnapshotStore
from ddbes.testing import ManualClock


@pytest.fixture(autouse=True)
def _fresh_config() -> Iterator[None]:
    ddbes.config.reset()
    yield
    ddbes.config.reset()


@pytest.fixture
def store() -> InMemoryCommitStore:
    commit_store = InMemoryCommitStore()
    ddbes.config.update(commit_store=commit_store)
    return commit_store


@pytest.fixture
def snapshot_store() -> InMemorySnapshotStore:
    return InMemorySnapshotStore()


@pytest.fixture
def clock() -> ManualClock:
    manual = ManualClock()
    ddbes.config.update(clock=manual)
    return manual
