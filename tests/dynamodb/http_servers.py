"""Small HTTP servers on real sockets for the lean transport's tests
(``tests/dynamodb/test_http_*.py``): an asyncio server that answers as a test says, run in the
test's loop or in a thread of its own for the sync transport."""

from __future__ import annotations

import asyncio
import re
import ssl
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

from ddbes.timeouts import Timeouts

Respond = Callable[[asyncio.StreamWriter, int], Awaitable[bool]]
"""Answers the n-th request (0-based) of the server; ``False`` closes the connection."""

OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.0\r\n"
TIMEOUTS = Timeouts(connect=1.0, read=0.4, total=5.0)
ITEM = {"pk": {"S": "a"}}


def reply(body: bytes = b"{}", *extra: bytes) -> bytes:
    headers = b"".join(line + b"\r\n" for line in extra)
    return OK + headers + b"Content-Length: %d\r\n\r\n" % len(body) + body


async def answer(writer: asyncio.StreamWriter, n: int) -> bool:
    writer.write(reply())
    return True


class Server:
    """An HTTP server on 127.0.0.1 that reads requests and answers as ``respond`` says,
    counting connections, requests, and connections the client closed."""

    def __init__(self, respond: Respond = answer) -> None:
        self._respond = respond
        self.connections = 0
        self.requests: list[bytes] = []
        self.client_closed = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._open: dict[asyncio.Task[None], asyncio.StreamWriter] = {}
        self.url = ""

    async def start(self, *, tls: ssl.SSLContext | None = None) -> Server:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=tls)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        """Stop listening, drop the open connections and wait for their handlers."""
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
        for writer in self._open.values():
            writer.transport.abort()
        await asyncio.gather(*self._open, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        task = asyncio.current_task()
        assert task is not None
        self._open[task] = writer
        task.add_done_callback(lambda done: self._open.pop(done, None))  # type: ignore[arg-type]
        try:
            while (request := await _read_request(reader)) is not None:
                self.requests.append(request)
                if not await self._respond(writer, len(self.requests) - 1):
                    return
                await writer.drain()
            self.client_closed.set()
        except ConnectionError:
            self.client_closed.set()
        finally:
            writer.close()


async def _read_request(reader: asyncio.StreamReader) -> bytes | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    length = re.search(rb"(?i)content-length: *(\d+)", head)
    body = await reader.readexactly(int(length.group(1))) if length else b""
    return head + body


@contextmanager
def server_in_thread(
    respond: Respond = answer, *, tls: ssl.SSLContext | None = None
) -> Iterator[Server]:
    """A started :class:`Server` whose event loop runs in a daemon thread (for the sync
    transport's tests); stopped on exit."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def start() -> Server:
        return await Server(respond).start(tls=tls)

    server = asyncio.run_coroutine_threadsafe(start(), loop).result(5)
    try:
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
