from __future__ import annotations

from collections.abc import Iterator

import pytest

import ddbes
from ddbes.memory import InMemoryCheckpointStore, InMemoryCommitStore


@pytest.fixture(autouse=True)
def _fresh_config() -> Iterator[None]:
    ddbes.config.reset()
    yield
    ddbes.config.reset()


@pytest.fixture
def store() -> InMemoryCommitStore:
    return InMemoryCommitStore()


@pytest.fixture
def checkpoints() -> InMemoryCheckpointStore:
    return InMemoryCheckpointStore()
