"""TLS mistakes fail early and say what is wrong."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

import pytest

from ddbes.errors import ConfigurationError
from ddbes_ws import EventStream, EventStreamServer
from ddbes_ws.errors import StreamUnavailable
from tests.certificates import self_signed
from tests.ws.conftest import ServerFactory


async def test_a_server_context_without_a_certificate_fails_at_start(
    serve: ServerFactory,
) -> None:
    with pytest.raises(ConfigurationError, match="no certificate"):
        await serve(ssl=ssl.create_default_context(ssl.Purpose.CLIENT_AUTH))
    with pytest.raises(ConfigurationError, match=r"Purpose\.CLIENT_AUTH"):
        await serve(ssl=ssl.create_default_context())  # a client's context


async def test_wss_without_ssl_uses_the_system_cas_and_says_why_it_fails(
    serve: ServerFactory, tmp_path: Path
) -> None:
    cert, key = self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server: EventStreamServer = await serve(ssl=context)
    with pytest.raises(StreamUnavailable, match=r"not trusted.*--ca"):
        await EventStream(server.url, reconnect=False).start()
    async with EventStream(server.url, ssl=ssl.create_default_context(cafile=str(cert))):
        pass
    with pytest.raises(StreamUnavailable, match="try wss://"):
        await EventStream(server.url.replace("wss:", "ws:"), reconnect=False).start()


async def test_a_server_that_never_answers_is_named_with_a_cause() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"ws://127.0.0.1:{silent.getsockname()[1]}"
        with pytest.raises(StreamUnavailable, match="no answer in time") as failed:
            await EventStream(url, reconnect=False, open_timeout=0.5).start()
    assert not str(failed.value).endswith(": ")
