"""``ddbes serve`` and ``ddbes tail`` over TLS with a bearer token (certificates made per test)."""

from __future__ import annotations

import datetime
import ipaddress
import json
import uuid
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.cli.conftest import Ddbes, stop


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert, key_file = directory / "cert.pem", directory / "key.pem"
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert, key_file


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
