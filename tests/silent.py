"""An endpoint that accepts connections and never answers: the hung server of a network
partition, a stuck proxy or a paused process."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def silent_endpoint(accepted: list[object] | None = None) -> Iterator[str]:
    """``http://127.0.0.1:PORT`` of a server that accepts every connection, reads nothing and
    never answers; closed on exit. Each accepted connection is appended to ``accepted``."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    server.settimeout(0.1)
    held: list[socket.socket] = []
    stopping = threading.Event()

    def accept() -> None:
        while not stopping.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(connection)
            if accepted is not None:
                accepted.append(connection)

    thread = threading.Thread(target=accept, name="silent endpoint", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stopping.set()
        thread.join()
        server.close()
        for connection in held:
            connection.close()
