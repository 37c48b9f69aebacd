"""A tampered ciphertext in the log: readers get a clear error naming the commit, and a stream
server skips exactly that entry (a ``CorruptItem`` with its position) instead of stalling."""

from __future__ import annotations

import asyncio
import base64
import logging
from typing import Any

import pytest

from ddbes.errors import CorruptItem
from ddbes.memory import InMemoryCommitStore
from ddbes.model import Commit
from ddbes.shredding import CiphertextUnreadable
from ddbes_ws import EventStream, EventStreamServer
from tests.shredding.helpers import commit, registered, shredder


def _tampered(event: dict[str, Any]) -> dict[str, Any]:
    envelope = dict(event["ddbes:pii"])
    data = bytearray(base64.b64decode(envelope["c"]))
    data[-1] ^= 0x80
    envelope["c"] = base64.b64encode(bytes(data)).decode()
    return {**event, "ddbes:pii": envelope}


@pytest.fixture
def damaged_log() -> tuple[InMemoryCommitStore, Any]:
    raw = InMemoryCommitStore()
    shred = shredder()
    store = shred.commit_store(raw)
    store.append(commit("c1", 1, registered("c1")))
    sealed, _ = shred.seal_commit(commit("c2", 1, registered("c2", name="Grace Hopper")))
    raw.append(
        Commit(
            commit_id=sealed.commit_id,
            aggregate_type="Customer",
            aggregate_key="c2",
            version=1,
            committed_at=sealed.committed_at,
            events=(_tampered(sealed.events[0]),),
        )
    )
    store.append(commit("c3", 1, registered("c3", name="Alan Turing")))
    return raw, store


def test_a_reader_is_told_which_commit_is_damaged(damaged_log: tuple[Any, Any]) -> None:
    _, store = damaged_log
    with pytest.raises(CiphertextUnreadable) as caught:
        list(store.read_log())
    error = caught.value
    assert isinstance(error, CorruptItem)
    assert error.position == 2
    assert "event 0 (Registered) of commit" in str(error) and "Customer:c2 at version 1" in str(
        error
    )


async def test_a_stream_skips_the_damaged_entry_and_goes_on(
    damaged_log: tuple[Any, Any], caplog: pytest.LogCaptureFixture
) -> None:
    _, store = damaged_log
    async with (
        EventStreamServer(commit_store=store, port=0, poll_delay=0.02) as server,
        EventStream(server.url, events=[{}], after=0) as stream,
        asyncio.timeout(10),
    ):
        items = [await anext(stream) for _ in range(2)]
    assert [(i.aggregate_key, i.event["name"], i.position) for i in items] == [
        ("c1", "Ada Lovelace", 1),
        ("c3", "Alan Turing", 3),
    ]
    skipped = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert any("position 2" in r.getMessage() for r in skipped)
