"""``ddbes serve`` and ``ddbes tail`` over TLS with a bearer token (certificates made per test)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from tests.certificates import self_signed
from tests.cli.conftest import Ddbes, stop


def test_serve_and_tail_speak_wss_with_a_token(ddbes: Ddbes, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    kind = f"Tls{uuid.uuid4().hex[:8]}"
    server = ddbes.start(
        "serve",
        "--port",
        "0",
        "--json",
        "--certfile",
        str(cert),
        "--keyfile",
        str(key),
        "--token",
        "s3cret",
    )
    try:
        assert server.stdout is not None
        url = json.loads(server.stdout.readline())["url"]
        assert url.startswith("wss://")
        untrusted = ddbes("tail", url, "--count", "1", "--reconnect-attempts", "0", timeout=60)
        assert untrusted.returncode == 5, untrusted.stderr
        assert "not trusted" in untrusted.stderr and "--ca" in untrusted.stderr
        no_token = ddbes("tail", url, "--ca", str(cert), "--count", "1", timeout=60)
        assert no_token.returncode != 0 and "HTTP 401" in no_token.stderr, no_token.stderr
        tail = ddbes.start(
            "tail",
            url,
            "--ca",
            str(cert),
            "--token",
            "s3cret",
            "--aggregate-type",
            kind,
            "--count",
            "1",
            "--json",
        )
        assert tail.stderr is not None
        assert "subscribed" in tail.stderr.readline()
        assert ddbes("append", kind, "k", '{"type": "Secured"}').returncode == 0
        out, err = tail.communicate(timeout=60)
        assert tail.returncode == 0, err
    finally:
        stop(server)
    assert json.loads(out)["type"] == "Secured"


def test_serve_with_an_unusable_certificate_fails_at_start(ddbes: Ddbes, tmp_path: Path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate")
    result = ddbes("serve", "--port", "0", "--certfile", str(bad), timeout=60)
    assert result.returncode == 3, result.stderr
    assert "bad.pem" in result.stderr
