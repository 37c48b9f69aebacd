"""An append through the server's own store object wakes it at once; other writers are polled."""

from __future__ import annotations

import asyncio
import time

from ddbes.memory import InMemoryCommitStore
from ddbes_ws import EventStream, EventStreamServer
from tests.ws.conftest import Log


async def _first_delay(server: EventStreamServer, log: Log) -> float:
    async with EventStream(server.url) as stream:
        await asyncio.sleep(0.2)  # subscribed, and the server is idle in its poll wait
        started = time.perf_counter()
        await asyncio.to_thread(log.commit, "Cart", {"type": "Added"})
        async with asyncio.timeout(10):
            await anext(stream)
        return time.perf_counter() - started


async def test_an_append_in_this_process_reaches_clients_before_the_next_poll(
    store: InMemoryCommitStore, log: Log
) -> None:
    async with EventStreamServer(commit_store=store, poll_delay=5.0) as server:
        delay = await _first_delay(server, log)
    assert delay < 1.0, f"waited {delay:.2f} s: the append did not wake the server"


async def test_without_wake_on_append_the_server_finds_commits_by_polling(
    store: InMemoryCommitStore, log: Log
) -> None:
    server = EventStreamServer(commit_store=store, poll_delay=0.3, wake_on_append=False)
    async with server:
        assert store._append_listeners == ()  # nothing but its polls will find the commit
        delay = await _first_delay(server, log)
    assert delay < 2.0, f"waited {delay:.2f} s for a poll every 0.3 s"


async def test_a_closed_server_stops_listening_to_the_store(store: InMemoryCommitStore) -> None:
    async with EventStreamServer(commit_store=store):
        assert len(store._append_listeners) == 1
    assert store._append_listeners == ()
