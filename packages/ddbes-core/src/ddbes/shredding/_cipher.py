"""The pure encryption of personal data: values in, values out, no I/O.

AES-256-GCM from the ``cryptography`` package (imported on first use, so that the rest of ddbes
imports without it). Every encryption draws a fresh random 96-bit nonce; the associated data
binds each ciphertext to its aggregate, version, event, subject, key and field names, so a
ciphertext copied anywhere else does not decrypt. The sync and async encrypting stores share
this module.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ddbes import codec
from ddbes.errors import ConfigurationError
from ddbes.model import Event

__all__ = [
    "ENCRYPTED",
    "ENVELOPE",
    "STATE_ENVELOPE",
    "Envelope",
    "StateEnvelope",
    "Unreadable",
    "new_key",
    "open_event",
    "open_state",
    "parse_envelope",
    "parse_state_envelope",
    "seal_event",
    "seal_state",
]

ENVELOPE = "ddbes:pii"
"""The field of a stored event that holds its encrypted personal fields."""

STATE_ENVELOPE = "ddbes:pii-state"
"""The one field of a stored snapshot state that holds the encrypted state."""

ENCRYPTED = "<encrypted>"
"""What a personal field holds in storage, where its value was (the value is in the envelope)."""

FORMAT = 1
KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16


class Unreadable(Exception):
    """A ciphertext or envelope that cannot be decrypted or parsed (the callers say where)."""


class _Crypto:
    """The parts of ``cryptography`` this module uses, imported on first use."""

    def __init__(self) -> None:
        try:
            # imported here, not at the top: ddbes imports without the optional package
            from cryptography.exceptions import InvalidTag  # noqa: PLC0415
            from cryptography.hazmat.primitives import hashes  # noqa: PLC0415
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: PLC0415
            from cryptography.hazmat.primitives.kdf.hkdf import HKDF  # noqa: PLC0415
        except ImportError as exc:  # pragma: no cover - the extra is installed in tests
            raise ConfigurationError(
                "crypto-shredding needs the cryptography package: "
                'pip install "ddbes-core[shredding]"'
            ) from exc
        self.AESGCM: Any = AESGCM
        self.InvalidTag: type[Exception] = InvalidTag
        self.HKDF: Any = HKDF
        self.SHA256: Any = hashes.SHA256


_loaded: list[_Crypto] = []


def _crypto() -> _Crypto:
    if not _loaded:
        _loaded.append(_Crypto())
    return _loaded[0]


@functools.lru_cache(maxsize=256)
def _aesgcm(key: bytes) -> Any:
    """The AES-GCM cipher of ``key`` (its key schedule is computed once per key)."""
    return _crypto().AESGCM(key)


def forget_ciphers() -> None:
    """Drop every cached cipher, so that no forgotten key stays in this module's memory."""
    _aesgcm.cache_clear()


def new_key() -> bytes:
    """A fresh random 256-bit data key."""
    return os.urandom(KEY_BYTES)


@dataclass(frozen=True, slots=True)
class Envelope:
    """The parsed ``"ddbes:pii"`` field of a stored event."""

    subject_id: str
    key_id: str
    fields: tuple[str, ...]
    data: bytes


_AAD_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
"""Compact JSON of strings, ints and lists of strings: the same bytes as ``codec.encode``,
without its hooks for other types."""


def _associated(parts: Sequence[object]) -> bytes:
    """The associated data: the parts as compact JSON, which no two different lists of parts
    share."""
    return _AAD_ENCODER.encode(["ddbes-pii", FORMAT, *parts]).encode()


def seal_event(
    event: Event,
    fields: Sequence[str],
    *,
    subject_id: str,
    key_id: str,
    key: bytes,
    aggregate: tuple[str, str, int],
    index: int,
) -> Event:
    """``event`` with ``fields`` replaced by :data:`ENCRYPTED` and their values encrypted into
    an envelope. ``aggregate`` is ``(type, key, version)`` and ``index`` the event's place in
    its commit: both are bound into the ciphertext."""
    fields = tuple(fields)
    personal = {name: event[name] for name in fields}
    nonce = os.urandom(NONCE_BYTES)
    associated = _associated([*aggregate, index, subject_id, key_id, fields])
    data = nonce + _aesgcm(key).encrypt(nonce, codec.encode(personal), associated)
    sealed = {name: (ENCRYPTED if name in personal else value) for name, value in event.items()}
    sealed[ENVELOPE] = {
        "v": FORMAT,
        "s": subject_id,
        "k": key_id,
        "f": list(fields),
        "c": base64.b64encode(data).decode("ascii"),
    }
    return sealed


def parse_envelope(value: object) -> Envelope:
    """The envelope in a stored event's ``"ddbes:pii"`` field.

    Raises:
        Unreadable: it is not an envelope of a known format.
    """
    if not isinstance(value, dict):
        raise Unreadable(f"the {ENVELOPE!r} field is not an object")
    if value.get("v") != FORMAT:
        raise Unreadable(f"unknown envelope format {value.get('v')!r}")
    subject, key_id, fields, data = value.get("s"), value.get("k"), value.get("f"), value.get("c")
    if not isinstance(subject, str) or not subject or not isinstance(key_id, str):
        raise Unreadable("the envelope has no subject or key id")
    if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
        raise Unreadable("the envelope's field list is not a list of names")
    if not isinstance(data, str):
        raise Unreadable("the envelope has no ciphertext")
    try:
        raw = binascii.a2b_base64(data, strict_mode=True)
    except (binascii.Error, ValueError) as exc:
        raise Unreadable(f"the ciphertext is not base64: {exc}") from None
    if len(raw) < NONCE_BYTES + TAG_BYTES:
        raise Unreadable("the ciphertext is too short")
    return Envelope(subject, key_id, tuple(fields), raw)


def open_event(
    event: Event,
    envelope: Envelope,
    key: bytes | None,
    *,
    aggregate: tuple[str, str, int],
    index: int,
    placeholder: object,
) -> Event:
    """``event`` as it was before :func:`seal_event`; with ``key=None`` (the subject was
    forgotten) its personal fields hold ``placeholder`` instead.

    Raises:
        Unreadable: the ciphertext does not decrypt with ``key`` for this place.
    """
    if key is None:
        personal: dict[str, Any] = dict.fromkeys(envelope.fields, placeholder)
    else:
        associated = _associated(
            [*aggregate, index, envelope.subject_id, envelope.key_id, envelope.fields]
        )
        personal = _decrypt(key, envelope.data, associated)
        if set(personal) != set(envelope.fields):
            raise Unreadable("the decrypted fields are not the envelope's")
    opened = {name: personal.get(name, value) for name, value in event.items() if name != ENVELOPE}
    for name in envelope.fields:  # a field the stored event lost is put back
        opened.setdefault(name, personal[name])
    return opened


def _decrypt(key: bytes, data: bytes, associated: bytes) -> Any:
    try:
        plain = _aesgcm(key).decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], associated)
    except _crypto().InvalidTag:
        raise Unreadable(
            "the ciphertext does not decrypt (authentication failed): it was altered, or moved "
            "from another aggregate, version, event or subject"
        ) from None
    try:
        decoded = codec.decode(plain)
    except ValueError as exc:  # pragma: no cover - authenticated data is what we wrote
        raise Unreadable(f"the decrypted data is not JSON: {exc}") from None
    if not isinstance(decoded, dict):  # pragma: no cover
        raise Unreadable("the decrypted data is not an object")
    return decoded


# ------------------------------------------------------------------ snapshot states


@dataclass(frozen=True, slots=True)
class StateEnvelope:
    """The parsed envelope of an encrypted snapshot state."""

    subjects: tuple[tuple[str, str], ...]
    """``(subject_id, key_id)`` of every key the state is encrypted under, sorted."""
    data: bytes


def _state_key(keys: Sequence[bytes], associated: bytes) -> bytes:
    """One AES key from every subject's key: HKDF-SHA256 over their concatenation, so that the
    state decrypts only while every one of them exists."""
    crypto = _crypto()
    hkdf = crypto.HKDF(algorithm=crypto.SHA256(), length=KEY_BYTES, salt=None, info=associated)
    derived: bytes = hkdf.derive(b"".join(keys))
    return derived


def seal_state(
    state: Any, keys: Sequence[tuple[str, str, bytes]], *, aggregate: tuple[str, str, int]
) -> dict[str, Any]:
    """A snapshot ``state`` encrypted under every ``(subject_id, key_id, key)`` of ``keys``.

    Raises:
        ValueError: the state is not JSON-compatible.
    """
    ordered = sorted(keys)
    subjects = [[subject, key_id] for subject, key_id, _ in ordered]
    try:
        plain = codec.encode(state)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"the snapshot state of {aggregate[0]}:{aggregate[1]}: {exc}") from exc
    associated = _associated(["state", *aggregate, [part for pair in subjects for part in pair]])
    nonce = os.urandom(NONCE_BYTES)
    key = _state_key([k for _, _, k in ordered], associated)
    data = nonce + _aesgcm(key).encrypt(nonce, plain, associated)
    return {
        STATE_ENVELOPE: {
            "v": FORMAT,
            "subjects": subjects,
            "c": base64.b64encode(data).decode("ascii"),
        }
    }


def parse_state_envelope(state: object) -> StateEnvelope | None:
    """The envelope of an encrypted snapshot state, or ``None`` for a state in clear.

    Raises:
        Unreadable: it looks like an envelope but is not a valid one.
    """
    if not isinstance(state, dict) or STATE_ENVELOPE not in state:
        return None
    value = state[STATE_ENVELOPE]
    if len(state) != 1 or not isinstance(value, dict) or value.get("v") != FORMAT:
        raise Unreadable("not an encrypted state of a known format")
    subjects = value.get("subjects")
    if not isinstance(subjects, list) or not all(
        isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair)
        for pair in subjects
    ):
        raise Unreadable("the encrypted state's subject list is malformed")
    try:
        raw = base64.b64decode(str(value.get("c")), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise Unreadable(f"the ciphertext is not base64: {exc}") from None
    return StateEnvelope(tuple((s, k) for s, k in subjects), raw)


def open_state(
    envelope: StateEnvelope, keys: Sequence[bytes], *, aggregate: tuple[str, str, int]
) -> Any:
    """The state :func:`seal_state` encrypted; ``keys`` in the envelope's subject order.

    Raises:
        Unreadable: it does not decrypt.
    """
    subjects = [list(pair) for pair in envelope.subjects]
    associated = _associated(["state", *aggregate, [part for pair in subjects for part in pair]])
    key = _state_key(keys, associated)
    try:
        plain = _aesgcm(key).decrypt(
            envelope.data[:NONCE_BYTES], envelope.data[NONCE_BYTES:], associated
        )
    except _crypto().InvalidTag:
        raise Unreadable("the encrypted state does not decrypt (authentication failed)") from None
    return codec.decode(plain)
