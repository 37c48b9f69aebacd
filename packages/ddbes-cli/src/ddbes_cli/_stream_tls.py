"""TLS and credentials options shared by ``ddbes serve`` and ``ddbes tail``."""

from __future__ import annotations

import argparse
import hmac
import os
import ssl
from typing import Any

from ddbes.errors import ConfigurationError
from ddbes_cli._runtime import UsageError

__all__ = [
    "add_client_options",
    "add_server_options",
    "client_headers",
    "client_ssl",
    "server_authenticate",
    "server_ssl",
]

_TOKEN_HELP = "a bearer token (default: $DDBES_STREAM_TOKEN; an option shows in `ps`)"


def add_server_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--certfile", metavar="PEM", help="serve wss:// with this certificate")
    parser.add_argument("--keyfile", metavar="PEM", help="its private key (default: in --certfile)")
    parser.add_argument("--ca", metavar="PEM", help="require client certificates signed by it")
    parser.add_argument("--token", help=f"require `Authorization: Bearer TOKEN`: {_TOKEN_HELP}")


def add_client_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ca", metavar="PEM", help="trust this CA for wss:// (default: system)")
    parser.add_argument("--certfile", metavar="PEM", help="a client certificate (mutual TLS)")
    parser.add_argument("--keyfile", metavar="PEM", help="its private key")
    parser.add_argument("--token", help=f"send `Authorization: Bearer TOKEN`: {_TOKEN_HELP}")
    parser.add_argument(
        "--header",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="an HTTP header for the handshake (repeatable)",
    )


def _token(args: argparse.Namespace) -> str | None:
    token: str | None = args.token or os.environ.get("DDBES_STREAM_TOKEN") or None
    return token


def _load(action: str, load: Any, *files: str | None) -> None:
    try:
        load(*files)
    except (OSError, ssl.SSLError) as exc:
        names = ", ".join(f for f in files if f)
        raise ConfigurationError(f"cannot {action} from {names}: {exc}") from exc


def server_ssl(args: argparse.Namespace) -> ssl.SSLContext | None:
    """The server's context from ``--certfile``/``--keyfile``/``--ca``, or ``None``."""
    if args.certfile is None:
        if args.keyfile or args.ca:
            raise UsageError("--keyfile and --ca need --certfile (the server's certificate)")
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    _load("load the certificate and key", context.load_cert_chain, args.certfile, args.keyfile)
    if args.ca:
        _load("load the client CA", context.load_verify_locations, args.ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def server_authenticate(args: argparse.Namespace) -> Any:
    """An ``authenticate`` hook requiring the bearer token, or ``None`` without one."""
    token = _token(args)
    if token is None:
        return None
    expected = f"Bearer {token}".encode()

    def authenticate(request: Any) -> str | None:
        given = request.headers.get("Authorization", "").encode()
        return "token" if hmac.compare_digest(given, expected) else None

    return authenticate


def client_ssl(args: argparse.Namespace) -> ssl.SSLContext | None:
    """The client's context: the system's CAs, or ``--ca``; with ``--certfile`` for mTLS."""
    if not args.url.lower().startswith("wss:"):
        if args.ca or args.certfile:
            raise UsageError("--ca and --certfile need a wss:// URL")
        return None
    context = ssl.create_default_context()
    if args.ca:
        _load("load the CA", context.load_verify_locations, args.ca)
    if args.certfile:
        _load("load the client certificate", context.load_cert_chain, args.certfile, args.keyfile)
    return context


def client_headers(args: argparse.Namespace) -> dict[str, str]:
    """``--header`` and ``--token`` as handshake headers."""
    headers: dict[str, str] = {}
    for header in args.header:
        name, colon, value = header.partition(":")
        if not colon or not name.strip():
            raise UsageError(f"--header {header!r} must be 'Name: value'")
        headers[name.strip()] = value.strip()
    token = _token(args)
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return headers
