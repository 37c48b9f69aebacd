"""Fixtures for the websocket stream tests: a store, a commit helper, servers on loopback."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from ddbes.memory import InMemoryCommitStore
from ddbes.model import Commit
from ddbes.ports import CommitStore
from ddbes_ws import EventStreamServer


class Log:
    """Appends commits to a store, keeping each aggregate's next version."""

    def __init__(self, store: CommitStore) -> None:
        self.store = store
        self.versions: dict[tuple[str, str], int] = {}

    def commit(
        self,
        aggregate_type: str,
        *events: dict[str, Any],
        key: str = "@",
        metadata: dict[str, Any] | None = None,
    ) -> Commit:
        version = self.versions.get((aggregate_type, key), 0) + 1
        self.versions[(aggregate_type, key)] = version
        return self.store.append(
            Commit(
                commit_id=uuid.uuid4().hex,
                aggregate_type=aggregate_type,
                aggregate_key=key,
                version=version,
                committed_at=datetime.now(UTC),
                events=tuple(events),
                metadata=metadata or {},
            )
        )

    def many(self, count: int, aggregate_type: str = "Cart", keys: int = 10) -> list[Commit]:
        return [
            self.commit(aggregate_type, {"type": "Counted", "n": n}, key=f"k{n % keys}")
            for n in range(count)
        ]


@pytest.fixture
def store() -> InMemoryCommitStore:
    return InMemoryCommitStore()


@pytest.fixture
def log(store: CommitStore) -> Log:
    return Log(store)


ServerFactory = Callable[..., Any]


@pytest.fixture
async def serve(store: CommitStore) -> AsyncIterator[ServerFactory]:
    """``await serve(**options)``: a started server on 127.0.0.1, closed after the test."""
    started: list[EventStreamServer] = []

    async def start(**options: Any) -> EventStreamServer:
        options.setdefault("commit_store", store)
        options.setdefault("poll_delay", 0.02)
        server = EventStreamServer(**options)
        await server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        await server.close()


@pytest.fixture
async def server(serve: ServerFactory) -> EventStreamServer:
    started: EventStreamServer = await serve()
    return started


async def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until ``check()`` holds (polling the event loop), or fail."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.01)


class Proxy:
    """A TCP relay on 127.0.0.1 that can cut every connection passing through it."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.writers: set[asyncio.StreamWriter] = set()
        self.bytes_relayed = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> Proxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self.writers.update((writer, up_writer))

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    self.bytes_relayed += len(data)
                    sink.write(data)
                    await sink.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                sink.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self.writers.discard(writer)
        self.writers.discard(up_writer)

    def cut(self) -> None:
        """Drop every connection at once, as a network failure would (no close frames)."""
        for writer in list(self.writers):
            transport = writer.transport
            transport.abort()  # type: ignore[attr-defined]
        self.writers.clear()

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
