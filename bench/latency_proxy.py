"""A loopback TCP proxy that delays every request, standing in for the network.

Each chunk a client sends is held for ``delay`` seconds, then forwarded upstream: byte order is
kept per connection (a queue of ``(due, bytes)`` per connection) and connections never wait for
one another. Responses pass straight through. Run it in its own process, so that its CPU is not
counted inside the writers it serves:

    python -m bench.latency_proxy --upstream http://127.0.0.1:8000 --delay-ms 5

prints ``http://127.0.0.1:PORT`` once it listens (127.0.0.1 only, a port the OS picks).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

CHUNK = 65536


async def _delayed(queue: asyncio.Queue[tuple[float, bytes]], writer: asyncio.StreamWriter) -> None:
    """Forward ``queue``'s chunks once each is due; an empty chunk means end of stream."""
    loop = asyncio.get_running_loop()
    while True:
        due, data = await queue.get()
        wait = due - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        if not data:
            with contextlib.suppress(OSError):
                writer.write_eof()
            return
        writer.write(data)
        await writer.drain()


async def _client_to_queue(
    reader: asyncio.StreamReader, queue: asyncio.Queue[tuple[float, bytes]], delay: float
) -> None:
    loop = asyncio.get_running_loop()
    try:
        while data := await reader.read(CHUNK):
            queue.put_nowait((loop.time() + delay, data))
    finally:
        queue.put_nowait((loop.time() + delay, b""))


async def _serve(
    client_reader: asyncio.StreamReader,
    client_writer: asyncio.StreamWriter,
    host: str,
    port: int,
    delay: float,
) -> None:
    """One connection: client -> server delayed, server -> client at once, until the server
    side closes (it does once the client has closed its side and the delay has passed)."""
    try:
        upstream_reader, upstream_writer = await asyncio.open_connection(host, port)
    except OSError:
        client_writer.close()
        return
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
    tasks = [
        asyncio.create_task(_client_to_queue(client_reader, queue, delay)),
        asyncio.create_task(_delayed(queue, upstream_writer)),
    ]
    try:
        while data := await upstream_reader.read(CHUNK):
            client_writer.write(data)
            await client_writer.drain()
    except OSError:
        pass
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for writer in (upstream_writer, client_writer):
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


async def serve(upstream_url: str, delay: float, ready: Callable[[str], None]) -> None:
    """Proxy 127.0.0.1:<free port> to ``upstream_url`` until cancelled."""
    target = urlsplit(upstream_url)
    host, port = target.hostname or "127.0.0.1", target.port or 80

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _serve(reader, writer, host, port, delay)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    bound = server.sockets[0].getsockname()[1]
    ready(f"http://127.0.0.1:{bound}")
    async with server:
        await server.serve_forever()


def start_proxy(upstream_url: str, delay_ms: float = 5.0) -> tuple[str, Callable[[], None]]:
    """Start the proxy in its own process: its URL, and a function that stops it (whose
    ``pid`` attribute is the proxy's process id)."""
    command = [sys.executable, "-m", "bench.latency_proxy"]
    process = subprocess.Popen(
        [*command, "--upstream", upstream_url, "--delay-ms", str(delay_ms)],
        cwd=Path(__file__).resolve().parent.parent,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    url = process.stdout.readline().strip()
    if not url.startswith("http://"):
        process.kill()
        process.wait()
        raise RuntimeError(f"the latency proxy did not start (it printed {url!r})")

    def stop() -> None:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout is not None:
            process.stdout.close()

    stop.pid = process.pid  # type: ignore[attr-defined]
    return url, stop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--upstream", required=True, help="e.g. http://127.0.0.1:8000")
    parser.add_argument("--delay-ms", type=float, default=5.0)
    args = parser.parse_args()

    def ready(url: str) -> None:
        print(url, flush=True)

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.upstream, args.delay_ms / 1000, ready))


if __name__ == "__main__":
    main()
