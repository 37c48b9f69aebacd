"""The embedded default: an in-process AWS emulator for when no AWS is configured.

moto's server runs in a thread of this process on 127.0.0.1, serving **one request at a time**
(threaded moto has race bugs: two writers can both win a conditional write). The real DynamoDB
and S3 adapters talk to it over HTTP exactly as they would talk to AWS. Its data lives in memory
and is gone when the process exits.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ddbes.errors import ConfigurationError

__all__ = [
    "EMULATOR_CREDENTIALS",
    "EmbeddedAWS",
    "aws_configured",
    "credentials_configured",
    "endpoint_configured",
    "is_loopback",
    "use_emulator_credentials",
]

ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_S3")
CREDENTIAL_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)

EMULATOR_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_DEFAULT_REGION": "us-east-1",
}
"""What boto3 needs to talk to the emulator (it accepts any credentials)."""


def endpoint_configured(environ: Mapping[str, str]) -> str | None:
    """The AWS endpoint variable that is set, if any."""
    for name in ENDPOINT_VARIABLES:
        if environ.get(name):
            return name
    return None


def aws_configured(environ: Mapping[str, str]) -> str | None:
    """Why AWS counts as configured (an endpoint, credentials or an AWS config file), or None.

    Only the environment and files are looked at: asking an instance metadata service would
    send traffic off this machine.
    """
    reason = endpoint_configured(environ)
    if reason:
        return f"{reason} is set"
    return credentials_configured(environ)


def is_loopback(url: str) -> bool:
    """Whether ``url`` points at this machine (where emulators accept any credentials)."""
    host = urlsplit(url).hostname or ""
    return host == "localhost" or host.startswith("127.") or host == "::1"


def credentials_configured(environ: Mapping[str, str]) -> str | None:
    """Why AWS credentials count as configured (variables or AWS files), or None."""
    for name in CREDENTIAL_VARIABLES:
        if environ.get(name):
            return f"{name} is set"
    home = Path(environ.get("HOME") or Path.home())
    for variable, default in (
        ("AWS_SHARED_CREDENTIALS_FILE", home / ".aws" / "credentials"),
        ("AWS_CONFIG_FILE", home / ".aws" / "config"),
    ):
        path = Path(environ.get(variable) or default)
        if path.is_file():
            return f"{path} exists"
    return None


def _patch_moto() -> None:
    """moto rolls transactions back by copying whole tables: the DynamoDB adapter ships a patch
    that keeps the semantics at the cost of the touched items only."""
    try:
        from ddbes_dynamodb.emulator import (  # noqa: PLC0415
            patch_moto_transactions,  # type: ignore[import-not-found, unused-ignore]
        )
    except ImportError:
        return
    patch_moto_transactions()


def use_emulator_credentials(environ: MutableMapping[str, str] | None = None) -> None:
    """Give boto3 the emulator's credentials and region where none are set."""
    environ = os.environ if environ is None else environ
    for name, value in EMULATOR_CREDENTIALS.items():
        environ.setdefault(name, value)


class EmbeddedAWS:
    """moto's server on ``host:port`` (0: any free port), in a daemon thread, serialized.

    Raises:
        ConfigurationError: moto is not installed (the message names the ``pip install``), or
            the port cannot be bound.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        try:
            from moto.moto_server.werkzeug_app import (  # noqa: PLC0415 (only when selected)
                DomainDispatcherApplication,
                MotoRequestHandler,
                create_backend_app,
            )
            from werkzeug.serving import make_server  # noqa: PLC0415
        except ImportError as exc:
            raise ConfigurationError(
                "the embedded AWS emulator needs moto, which is not installed: "
                'pip install "ddbes-cli[local]" (or pass --endpoint-url / set AWS_* variables '
                "to use another endpoint)"
            ) from exc
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        _patch_moto()
        try:
            self._server: Any = make_server(
                host,
                port,
                DomainDispatcherApplication(create_backend_app),
                threaded=False,
                request_handler=MotoRequestHandler,
            )
        except OSError as exc:
            raise ConfigurationError(
                f"the embedded AWS emulator cannot listen on {host}:{port}: {exc.strerror}"
            ) from exc
        self.host = host
        self.port: int = self._server.server_port
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # a prompt shutdown()
            name="ddbes-embedded-aws",
            daemon=True,
        )
        self._thread.start()

    @property
    def endpoint_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://{self.host}:{self.port}"

    def environment(self) -> dict[str, str]:
        """The variables another process needs to use this emulator (ddbes's and boto3's)."""
        return {
            "DDBES_ENDPOINT_URL": self.endpoint_url,
            "AWS_ENDPOINT_URL": self.endpoint_url,
            **EMULATOR_CREDENTIALS,
        }

    def use_in_this_process(self, environ: MutableMapping[str, str] | None = None) -> None:
        """Give boto3 credentials and a region for the emulator where none are set."""
        use_emulator_credentials(environ)

    def close(self) -> None:
        """Stop serving and release the port."""
        self._server.shutdown()
        self._server.server_close()
