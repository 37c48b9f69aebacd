"""bench/latency_proxy.py: bytes pass intact both ways, connections close cleanly."""

from __future__ import annotations

import os
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest
from bench.latency_proxy import start_proxy

DELAY_MS = 20.0


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(65536):
            self.request.sendall(data)
        self.server.closed.append(self.client_address)  # type: ignore[attr-defined]


class _EchoServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Echo)
        self.closed: list[object] = []


@pytest.fixture
def echo() -> Iterator[_EchoServer]:
    server = _EchoServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def _exchange(port: int, payload: bytes) -> tuple[bytes, float]:
    """Send ``payload`` in pieces, half-close, read the echo to EOF; the seconds taken."""
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        for start in range(0, len(payload), 7000):
            sock.sendall(payload[start : start + 7000])
        sock.shutdown(socket.SHUT_WR)
        received = bytearray()
        while data := sock.recv(65536):
            received += data
    return bytes(received), time.perf_counter() - started


def test_bytes_pass_intact_both_ways_over_concurrent_connections(echo: _EchoServer) -> None:
    url, stop = start_proxy(f"http://127.0.0.1:{echo.server_address[1]}", DELAY_MS)
    try:
        parsed = urlsplit(url)
        assert parsed.hostname == "127.0.0.1"
        assert parsed.port is not None
        payloads = [os.urandom(1000 + 37_000 * n) for n in range(8)]
        with ThreadPoolExecutor(len(payloads)) as pool:
            results = list(pool.map(lambda p: _exchange(parsed.port or 0, p), payloads))
        for payload, (received, seconds) in zip(payloads, results, strict=True):
            assert received == payload
            assert seconds >= 0.8 * DELAY_MS / 1000
        deadline = time.monotonic() + 5
        while len(echo.closed) < len(payloads) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(echo.closed) == len(payloads)  # the proxy closed every upstream connection
    finally:
        stop()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", parsed.port or 0), timeout=1).close()
