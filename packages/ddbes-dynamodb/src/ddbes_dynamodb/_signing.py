"""Signing DynamoDB's requests with Signature Version 4, byte for byte as botocore does, for
less CPU.

botocore's :class:`~botocore.auth.SigV4Auth` builds the signed headers twice through
``email.message``-based header maps, splits the URL twice, and derives the signing key with
four HMACs at every request: about a tenth of the CPU of a ``PutItem`` on the clients ddbes
builds, paid by every commit and every sequencer batch. :class:`FastSigV4Auth` signs the
requests ddbes's DynamoDB clients send (a ``POST`` of a JSON body to the endpoint's root, no
query string, each header once, the payload signed) with the same canonical request, string to
sign and signature, the headers mapped once and the signing key kept per day, region and
service. Any other request goes to botocore's own code unchanged. The tests compare both
signers on the same requests.

:func:`use_fast_signing` makes a client (boto3 or aiobotocore) choose it, through botocore's
``choose-signer`` event, wherever botocore would sign with ``v4``.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from hashlib import sha256
from typing import Any
from urllib.parse import quote, urlsplit

import botocore.auth
from botocore.auth import SIGNED_HEADERS_BLACKLIST, SIGV4_TIMESTAMP, SigV4Auth
from botocore.exceptions import NoCredentialsError
from botocore.utils import normalize_url_path

__all__ = ["SIGNATURE_VERSION", "FastSigV4Auth", "authorization", "sign", "use_fast_signing"]

SIGNATURE_VERSION = "ddbes-v4"
"""The name :class:`FastSigV4Auth` is registered under in botocore's signer table."""

_UNSIGNED_HEADERS = frozenset(SIGNED_HEADERS_BLACKLIST)
_KEYS_KEPT = 16


class FastSigV4Auth(SigV4Auth):  # type: ignore[misc]  # botocore has no types
    """botocore's SigV4 signer, with a cheaper path for the requests DynamoDB clients send."""

    def add_auth(self, request: Any) -> None:
        """Sign ``request``: add ``X-Amz-Date`` (and the session token) and ``Authorization``."""
        if not _plain(request):
            super().add_auth(request)
            return
        credentials = self.credentials
        if credentials is None:
            raise NoCredentialsError()
        timestamp = botocore.auth.get_current_datetime().strftime(SIGV4_TIMESTAMP)
        request.context["timestamp"] = timestamp
        self._modify_request_before_signing(request)
        # the body is bytes (see _plain): what botocore's request.body is, unprepared
        request.headers["Authorization"] = authorization(
            request.headers.items(),
            request.method,
            request.url,
            request.data,
            credentials,
            region=self._region_name,
            service=self._service_name,
            timestamp=timestamp,
        )


def sign(
    headers: dict[str, str],
    url: str,
    body: bytes,
    credentials: Any,
    *,
    region: str,
    service: str,
) -> None:
    """Sign a ``POST`` of ``body`` to ``url`` (no query string) as botocore would: add
    ``X-Amz-Date``, ``X-Amz-Security-Token`` (when ``credentials``, frozen ones, hold a
    token) and ``Authorization`` to ``headers``, which hold no other of these."""
    timestamp = botocore.auth.get_current_datetime().strftime(SIGV4_TIMESTAMP)
    headers["X-Amz-Date"] = timestamp
    if credentials.token:
        headers["X-Amz-Security-Token"] = credentials.token
    headers["Authorization"] = authorization(
        headers.items(),
        "POST",
        url,
        body,
        credentials,
        region=region,
        service=service,
        timestamp=timestamp,
    )


def authorization(
    headers: Iterable[tuple[str, str]],
    method: str,
    url: str,
    body: bytes,
    credentials: Any,
    *,
    region: str,
    service: str,
    timestamp: str,
) -> str:
    """The ``Authorization`` header of a request with no query string whose payload is
    signed: the canonical request, string to sign and signature of botocore's
    :class:`~botocore.auth.SigV4Auth`."""
    signed: dict[str, str] = {}
    for name, value in headers:
        lowered = name.lower()
        if lowered not in _UNSIGNED_HEADERS:
            signed[lowered] = value
    path, host = _place(url)
    signed.setdefault("host", host)
    names = sorted(signed)
    signed_headers = ";".join(names)
    canonical_headers = "\n".join(f"{name}:{' '.join(signed[name].split())}" for name in names)
    canonical_request = "\n".join(
        (
            method.upper(),
            path,
            "",
            canonical_headers + "\n",
            signed_headers,
            sha256(body).hexdigest() if body else botocore.auth.EMPTY_SHA256_HASH,
        )
    )
    day = timestamp[:8]
    scope = f"{day}/{region}/{service}/aws4_request"
    string_to_sign = "\n".join(
        (
            "AWS4-HMAC-SHA256",
            timestamp,
            scope,
            sha256(canonical_request.encode("utf-8")).hexdigest(),
        )
    )
    key = _signing_key(credentials.secret_key, day, region, service)
    signature = hmac.new(key, string_to_sign.encode("utf-8"), sha256).hexdigest()
    return (
        f"AWS4-HMAC-SHA256 Credential={credentials.access_key}/{scope}, "
        f"SignedHeaders={signed_headers}, Signature={signature}"
    )


_signing_keys: dict[tuple[str, str, str, str], bytes] = {}
_places: dict[str, tuple[str, str]] = {}


def _signing_key(secret: str, day: str, region: str, service: str) -> bytes:
    """The day's signing key, derived once (four HMACs) and kept."""
    wanted = (secret, day, region, service)
    key = _signing_keys.get(wanted)
    if key is None:
        key = _hmac(f"AWS4{secret}".encode(), day)
        for part in (region, service, "aws4_request"):
            key = _hmac(key, part)
        if len(_signing_keys) >= _KEYS_KEPT:
            _signing_keys.clear()
        _signing_keys[wanted] = key
    return key


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), sha256).digest()


def _place(url: str) -> tuple[str, str]:
    """The canonical path and the ``host`` header of ``url``."""
    place = _places.get(url)
    if place is None:
        place = (
            quote(normalize_url_path(urlsplit(url).path), safe="/~"),
            botocore.auth._host_from_url(url),
        )
        if len(_places) >= _KEYS_KEPT:
            _places.clear()
        _places[url] = place
    return place


def _plain(request: Any) -> bool:
    """Whether ``request`` is one the fast path signs exactly as botocore does: no query
    string or parameters, a body of bytes (or none) whose hash is signed, each header once."""
    if request.params or "?" in request.url or "X-Amz-Content-SHA256" in request.headers:
        return False
    if not isinstance(request.data, bytes):  # a dict (form), a str or a stream
        return False
    context = request.context
    if not context.get("payload_signing_enabled", True) and request.url.startswith("https"):
        return False
    checksum = context.get("checksum", {}).get("request_algorithm")
    if isinstance(checksum, dict) and checksum.get("in") == "trailer":
        return False
    names = [name.lower() for name in request.headers]
    return len(names) == len(set(names))


def _choose(signature_version: Any = None, **_: Any) -> str | None:
    return SIGNATURE_VERSION if signature_version == "v4" else None


def use_fast_signing(client: Any) -> None:
    """Make ``client`` sign its ``v4`` requests with :class:`FastSigV4Auth`."""
    botocore.auth.AUTH_TYPE_MAPS.setdefault(SIGNATURE_VERSION, FastSigV4Auth)
    client.meta.events.register("choose-signer.dynamodb", _choose)
