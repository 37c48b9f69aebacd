"""HTTP/1.1 requests and responses as bytes, with no I/O: what the sync and async transports
share (:mod:`ddbes_dynamodb._http`).

Only what a client of an AWS JSON API needs: one request at a time per connection, a body of
known length, and responses framed by ``Content-Length``, chunked transfer coding or the end
of the connection, with informational (``1xx``) responses skipped.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

__all__ = [
    "MAX_HEADER_BYTES",
    "ProtocolError",
    "ResponseReader",
    "Target",
    "encode_request",
    "request_target",
]

MAX_HEADER_BYTES = 64 * 1024
"""A response whose status line and headers are longer than this is refused."""

_NO_BODY = frozenset({204, 304})
_SKIPPED_HEADERS = frozenset({"content-length", "host", "connection", "transfer-encoding"})


class ProtocolError(Exception):
    """The server's bytes are not an HTTP/1.x response this reader can frame."""


class Target:
    """Where an endpoint URL's requests go: scheme, host, port, the ``Host`` header (as
    botocore's signer computed it), and the request target of a URL."""

    __slots__ = ("host", "host_header", "port", "scheme")

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self.scheme = parts.scheme
        self.host = parts.hostname
        default = 443 if parts.scheme == "https" else 80
        self.port = parts.port or default
        shown = f"[{self.host}]" if ":" in self.host else self.host
        self.host_header = shown if self.port == default else f"{shown}:{self.port}"

    @property
    def key(self) -> tuple[str, str, int]:
        return self.scheme, self.host, self.port


def request_target(url: str) -> str:
    """The path and query of ``url`` (``/`` when it has none)."""
    parts = urlsplit(url)
    path = parts.path or "/"
    return f"{path}?{parts.query}" if parts.query else path


def encode_request(
    method: str,
    target: str,
    host: str,
    headers: Iterable[tuple[str, str | bytes]],
    body: bytes,
) -> bytes:
    """One request's bytes: the request line, ``Host``, the given headers (but any
    ``Host``, ``Content-Length``, ``Connection`` or ``Transfer-Encoding`` among them, which
    this writes itself) and ``body``. Raises ``ValueError`` on a line break in a header."""
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}"]
    for name, value in headers:
        if name.lower() in _SKIPPED_HEADERS:
            continue
        text = value.decode("latin-1") if isinstance(value, bytes) else value
        if "\r" in text or "\n" in text or "\r" in name or "\n" in name:
            raise ValueError(f"header {name!r} holds a line break")
        lines.append(f"{name}: {text}")
    lines.append("Accept-Encoding: identity")
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class ResponseReader:
    """Reads one response from the bytes a connection delivers (:meth:`feed`, then
    :meth:`eof` if the connection ends). When :attr:`complete`, :attr:`status`,
    :attr:`headers` (lower-case names) and :attr:`body` hold the response and
    :attr:`reusable` says whether the connection may carry another request."""

    def __init__(self, *, head_request: bool = False) -> None:
        self._head_request = head_request
        self._buffer = bytearray()
        self._body = bytearray()
        self._state = "head"
        self._remaining = 0
        self.complete = False
        self.status = 0
        self.reason = ""
        self.headers: dict[str, str] = {}
        self.keep_alive = True
        self.started = False
        """Whether any byte of the response arrived."""

    @property
    def body(self) -> bytes:
        return bytes(self._body)

    @property
    def reusable(self) -> bool:
        """The connection can carry the next request: this response was complete, the
        server did not ask to close, and nothing followed the response."""
        return self.complete and self.keep_alive and not self._buffer

    def feed(self, data: bytes) -> None:
        """Take the next bytes of the connection. Raises :class:`ProtocolError` on bytes
        that are not a response."""
        if data:
            self.started = True
            self._buffer += data
        while not self.complete and self._step():
            pass

    def eof(self) -> None:
        """The connection ended. Completes a body read to the end of the connection; raises
        :class:`ProtocolError` when the response is cut short."""
        if self.complete:
            return
        if self._state == "until-close":
            self._body += self._buffer
            self._buffer.clear()
            self.complete = True
            self.keep_alive = False
            return
        raise ProtocolError(
            "the connection closed before the response ended"
            if self.started
            else "the connection closed without a response"
        )

    # -- the states ----------------------------------------------------------------------

    def _step(self) -> bool:
        """Advance by what the buffer holds; ``False`` when more bytes are needed."""
        if self._state == "head":
            return self._read_head()
        if self._state == "length":
            return self._read_length()
        if self._state == "chunk-size":
            return self._read_chunk_size()
        if self._state == "chunk-data":
            return self._read_chunk_data()
        if self._state == "trailers":
            return self._read_trailers()
        return False  # until-close: only eof() ends it

    def _read_head(self) -> bool:
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buffer) > MAX_HEADER_BYTES:
                raise ProtocolError("the response's headers are too long")
            return False
        head = bytes(self._buffer[:end]).decode("latin-1")
        del self._buffer[: end + 4]
        status_line, *header_lines = head.split("\r\n")
        version, status, reason = _status_line(status_line)
        headers: dict[str, str] = {}
        for line in header_lines:
            name, colon, value = line.partition(":")
            if not colon or not name or name != name.strip():
                raise ProtocolError(f"a malformed header line: {line[:80]!r}")
            key = name.lower()
            value = value.strip()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        if 100 <= status < 200:  # informational (100 Continue): the real response follows
            return True
        self.status, self.reason, self.headers = status, reason, headers
        connection = headers.get("connection", "").lower()
        if version == "HTTP/1.0":
            self.keep_alive = "keep-alive" in connection
        else:
            self.keep_alive = "close" not in connection
        if self._head_request or status in _NO_BODY:
            self.complete = True
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            self._state = "chunk-size"
        elif "content-length" in headers:
            self._remaining = _length(headers["content-length"])
            self._state = "length"
        else:
            self._state = "until-close"
            self.keep_alive = False
        return True

    def _read_length(self) -> bool:
        take = min(self._remaining, len(self._buffer))
        self._body += self._buffer[:take]
        del self._buffer[:take]
        self._remaining -= take
        if self._remaining == 0:
            self.complete = True
        return False

    def _read_chunk_size(self) -> bool:
        line = self._line(1024, "a chunk size line")
        if line is None:
            return False
        size_text = line.split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise ProtocolError(f"a malformed chunk size: {size_text[:20]!r}") from None
        if size < 0:
            raise ProtocolError("a negative chunk size")
        if size == 0:
            self._state = "trailers"
        else:
            self._remaining = size
            self._state = "chunk-data"
        return True

    def _read_chunk_data(self) -> bool:
        if len(self._buffer) < self._remaining + 2:
            return False
        if self._buffer[self._remaining : self._remaining + 2] != b"\r\n":
            raise ProtocolError("a chunk does not end with CRLF")
        self._body += self._buffer[: self._remaining]
        del self._buffer[: self._remaining + 2]
        self._state = "chunk-size"
        return True

    def _read_trailers(self) -> bool:
        line = self._line(MAX_HEADER_BYTES, "the response's trailers")
        if line is None:
            return False
        if not line:  # the empty line after the trailers
            self.complete = True
        return True

    def _line(self, limit: int, what: str) -> bytes | None:
        """The next CRLF-terminated line, taken off the buffer, or ``None`` until it has
        arrived; :class:`ProtocolError` when no line end comes within ``limit`` bytes."""
        end = self._buffer.find(b"\r\n")
        if end < 0:
            if len(self._buffer) > limit:
                raise ProtocolError(f"{what} is too long")
            return None
        line = bytes(self._buffer[:end])
        del self._buffer[: end + 2]
        return line


def _status_line(line: str) -> tuple[str, int, str]:
    version, _, rest = line.partition(" ")
    code, _, reason = rest.partition(" ")
    if version not in ("HTTP/1.1", "HTTP/1.0") or len(code) != 3 or not code.isdigit():
        raise ProtocolError(f"not an HTTP/1.x status line: {line[:80]!r}")
    return version, int(code), reason


def _length(value: str) -> int:
    values = {v.strip() for v in value.split(",")}
    if len(values) != 1 or not next(iter(values)).isdigit():
        raise ProtocolError(f"a malformed Content-Length: {value[:40]!r}")
    return int(values.pop())
