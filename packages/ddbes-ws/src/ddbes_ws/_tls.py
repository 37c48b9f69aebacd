"""TLS for the stream: a server's context is tried before it serves, and a client's failures
to connect are told in words.

:func:`check_server_context` runs one TLS handshake in memory between the server's context and a
trusting client, so a context without a certificate (or one made for clients) fails at
``start()`` rather than on every connection. :func:`describe_connect_error` turns what the
websockets client raised into the cause and, where one helps, what to do.
"""

from __future__ import annotations

import ssl

from ddbes.errors import ConfigurationError

__all__ = ["check_server_context", "describe_connect_error"]

_CLIENT_CERT_MISSING = frozenset({"PEER_DID_NOT_RETURN_A_CERTIFICATE", "CERTIFICATE_REQUIRED"})
"""The probe's failures that only mean the server asks for client certificates (mutual TLS)."""


def check_server_context(context: ssl.SSLContext) -> None:
    """Try a handshake with ``context`` as the server side, in memory.

    Raises:
        ConfigurationError: the context cannot serve TLS; the message says why.
    """
    advice = (
        "build it with ssl.create_default_context(ssl.Purpose.CLIENT_AUTH) and "
        "load_cert_chain(certfile, keyfile)"
    )
    if not isinstance(context, ssl.SSLContext):
        raise ConfigurationError(f"ssl= must be an ssl.SSLContext, not {type(context).__name__}")
    client_context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_context.check_hostname = False
    client_context.verify_mode = ssl.CERT_NONE
    server_in, server_out = ssl.MemoryBIO(), ssl.MemoryBIO()
    client_in, client_out = ssl.MemoryBIO(), ssl.MemoryBIO()
    try:
        server = context.wrap_bio(server_in, server_out, server_side=True)
    except (ssl.SSLError, ValueError) as exc:
        raise ConfigurationError(
            f"the server's ssl context cannot serve TLS ({exc}): {advice}"
        ) from exc
    client = client_context.wrap_bio(client_in, client_out, server_hostname="localhost")
    done = {"client": False, "server": False}
    for _ in range(8):  # a handshake takes two or three round trips
        for side, end, out, peer_in in (
            ("client", client, client_out, server_in),
            ("server", server, server_out, client_in),
        ):
            if not done[side]:
                try:
                    end.do_handshake()
                    done[side] = True
                except ssl.SSLWantReadError:
                    pass
                except ssl.SSLError as exc:
                    if side == "client" or exc.reason in _CLIENT_CERT_MISSING:
                        return  # the server's half worked; the probe client is what failed
                    why = (
                        "it has no certificate"
                        if exc.reason == "NO_SHARED_CIPHER"
                        else f"a test handshake failed: {exc.reason or exc}"
                    )
                    raise ConfigurationError(
                        f"the server's ssl context cannot serve TLS: {why}; {advice}"
                    ) from exc
            data = out.read()
            if data:
                peer_in.write(data)
        if all(done.values()):
            return


def describe_connect_error(url: str, exc: BaseException) -> str:
    """Why connecting to ``url`` failed, in a sentence, with what to do where that is clear."""
    secure = url.lower().startswith("wss:")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (
            f"the server's TLS certificate is not trusted ({exc.verify_message or exc}): pass "
            "ssl= a context that trusts its CA (ddbes tail --ca FILE)"
        )
    if isinstance(exc, ssl.SSLError):
        reason = exc.reason or str(exc)
        if reason in ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG"):
            return f"TLS failed ({reason}): the server does not speak TLS; use ws:// not wss://"
        return f"TLS failed: {reason}"
    if isinstance(exc, TimeoutError):
        return "no answer in time (a firewall, or a server that accepts and never answers?)"
    if isinstance(exc, ConnectionResetError | ConnectionAbortedError | EOFError):
        hint = (
            "the server may not speak TLS, or refused this client's TLS (a certificate it "
            "requires?)"
            if secure
            else "the server may expect TLS: try wss://"
        )
        return f"the server closed the connection during the handshake: {hint}"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused: is the server running, on that host and port?"
    cause = exc.__cause__
    text = str(exc) or type(exc).__name__
    if cause is not None and not secure and isinstance(cause, EOFError | ConnectionError):
        return f"{text}: the server may expect TLS: try wss://"
    if cause is not None:
        return f"{text}: {describe_connect_error(url, cause)}"
    return text
