"""Append listeners: an in-process wake-up after each stored commit."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime

import pytest

from ddbes.errors import VersionConflict
from ddbes.memory import InMemoryCommitStore
from ddbes.model import Commit


def _commit(version: int, commit_id: str | None = None) -> Commit:
    return Commit(
        commit_id=commit_id or uuid.uuid4().hex,
        aggregate_type="Cart",
        aggregate_key="k",
        version=version,
        committed_at=datetime.now(UTC),
        events=({"type": "Added", "n": version},),
    )


def test_a_listener_hears_each_stored_commit_once_with_its_position() -> None:
    store = InMemoryCommitStore()
    heard: list[Commit] = []
    store.add_append_listener(heard.append)

    first = store.append(_commit(1, "c1"))
    store.append(_commit(1, "c1"))  # an idempotent retry stores nothing
    with pytest.raises(VersionConflict):
        store.append(_commit(1, "other"))
    second = store.append(_commit(2))

    assert heard == [first, second]
    assert [c.position for c in heard] == [1, 2]


def test_a_removed_listener_hears_nothing_more() -> None:
    store = InMemoryCommitStore()
    heard: list[int] = []
    remove = store.add_append_listener(lambda c: heard.append(c.version))
    other: list[int] = []
    store.add_append_listener(lambda c: other.append(c.version))
    store.append(_commit(1))
    remove()
    store.append(_commit(2))
    assert heard == [1] and other == [1, 2]


def test_a_failing_listener_is_logged_and_the_commit_is_stored(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = InMemoryCommitStore()

    def broken(_: Commit) -> None:
        raise RuntimeError("listener bug")

    store.add_append_listener(broken)
    with caplog.at_level(logging.ERROR, logger="ddbes"):
        stored = store.append(_commit(1))
    assert stored.position == 1 and store.head_position() == 1
    assert "an append listener failed" in caplog.text and "listener bug" in caplog.text
