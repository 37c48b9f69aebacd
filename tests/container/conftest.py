from __future__ import annotations

from collections.abc import Iterator

import pytest

import ddbes


@pytest.fixture(autouse=True)
def _fresh_config() -> Iterator[None]:
    ddbes.config.reset()
    yield
    ddbes.config.reset()
