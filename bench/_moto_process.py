"""moto in a process of its own, as a remote S3 would be (an in-process server would share the
benchmark's GIL): prints its endpoint, then serves one request at a time until stdin closes.

    uv run python -m bench._moto_process
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable


def start() -> tuple[str, Callable[[], None]]:
    """Start the process; returns its endpoint and a function that stops it."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bench._moto_process"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdin is not None
    endpoint = process.stdout.readline().strip()
    if not endpoint.startswith("http://127.0.0.1:"):
        process.kill()
        raise RuntimeError(f"moto did not start: {endpoint!r}")

    def stop() -> None:
        assert process.stdin is not None
        process.stdin.close()
        process.wait(timeout=10)

    return endpoint, stop


def main() -> None:
    from tests.services import MotoServer

    server = MotoServer()
    print(server.endpoint_url, flush=True)
    sys.stdin.read()
    server.close()


if __name__ == "__main__":
    main()
