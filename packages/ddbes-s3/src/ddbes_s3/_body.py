"""The bytes of a snapshot object, and back.

A body is JSON (format 1)::

    {"format": 1, "aggregate_type": "Cart", "aggregate_key": "a.oslo", "version": 300,
     "head_commit_id": "...", "head_committed_at": "2026-01-01T00:00:00.000000Z",
     "checksum": "...", "state": {...}}

When that JSON is large and compresses well, the body is :data:`COMPRESSED_MAGIC` followed by
its zlib stream (:func:`ddbes.codec.compress`). The marker sits in the body, not only in object
metadata, so a copied or restored object still reads. Anything else is
:class:`~ddbes.errors.SnapshotUnreadable`.
"""

from __future__ import annotations

import zlib
from typing import Any

from ddbes.codec import compress, decode, encode, format_time, parse_time
from ddbes.errors import SnapshotUnreadable
from ddbes.model import Snapshot

__all__ = ["COMPRESSED_MAGIC", "FORMAT", "decode_body", "encode_body"]

FORMAT = 1
"""The body format this module writes and reads."""
COMPRESSED_MAGIC = b"ddbes-snapshot+zlib\n"
"""The first bytes of a compressed body (a JSON body starts with ``{``)."""


def encode_body(snapshot: Snapshot) -> tuple[bytes, bool]:
    """``(body, compressed)`` for ``snapshot``.

    Raises:
        ValueError: the state (or another field) is not JSON-compatible.
    """
    document = {
        "format": FORMAT,
        "aggregate_type": snapshot.aggregate_type,
        "aggregate_key": snapshot.aggregate_key,
        "version": snapshot.version,
        "head_commit_id": snapshot.head_commit_id,
        "head_committed_at": format_time(snapshot.head_committed_at),
        "checksum": snapshot.checksum,
        "state": snapshot.state,
    }
    try:
        data = encode(document)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"the snapshot state of {snapshot.aggregate_id} is not JSON-compatible: {exc}"
        ) from exc
    restored = decode(data)["state"]
    if restored != snapshot.state:
        # A load from this snapshot would see another state than a replay: refuse it.
        raise ValueError(
            f"the snapshot state of {snapshot.aggregate_id} would not come back as it is: "
            f"{_difference(snapshot.state, restored, 'state')}; keep states to JSON types "
            "(dict with str keys, list, str, int, float, bool, None)"
        )
    payload, compressed = compress(data)
    return (COMPRESSED_MAGIC + payload if compressed else payload), compressed


def _difference(original: Any, restored: Any, path: str) -> str:
    """Where ``original`` and its JSON round trip ``restored`` first differ, in words."""
    if isinstance(original, dict) and isinstance(restored, dict):
        for key, value in original.items():
            if not isinstance(key, str):
                return f"{path} has the key {key!r}, which JSON turns into a string"
            if restored.get(key) != value:
                return _difference(value, restored.get(key), f"{path}[{key!r}]")
    if isinstance(original, tuple):
        return f"{path} is a tuple, which JSON turns into a list"
    if isinstance(original, list) and isinstance(restored, list):
        for index, (value, back) in enumerate(zip(original, restored, strict=True)):
            if value != back:
                return _difference(value, back, f"{path}[{index}]")
    return f"{path} is a {type(original).__name__}, which comes back as {restored!r}"


def _field(document: dict[str, Any], name: str, kind: type, where: str) -> Any:
    value = document.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise SnapshotUnreadable(
            f"snapshot {where} has no valid {name!r} (got {type(value).__name__})"
        )
    return value


def decode_body(data: bytes, *, aggregate_type: str, aggregate_key: str, where: str) -> Snapshot:
    """The snapshot in ``data``, which must belong to the given aggregate.

    Args:
        where: names the object in error messages (``s3://bucket/key``).

    Raises:
        SnapshotUnreadable: the body is corrupt, truncated, of an unknown format, or holds
            another aggregate's snapshot.
    """
    try:
        if data.startswith(COMPRESSED_MAGIC):
            data = zlib.decompress(data[len(COMPRESSED_MAGIC) :])
        elif not data.startswith(b"{"):
            raise ValueError("the body is neither JSON nor a compressed ddbes snapshot")
        document = decode(data)
    except (ValueError, zlib.error) as exc:  # JSONDecodeError and UnicodeDecodeError included
        raise SnapshotUnreadable(f"snapshot {where} cannot be decoded: {exc}") from exc
    if not isinstance(document, dict):
        raise SnapshotUnreadable(f"snapshot {where} is not a JSON object")
    if document.get("format") != FORMAT:
        raise SnapshotUnreadable(
            f"snapshot {where} has format {document.get('format')!r}; this ddbes-s3 reads "
            f"format {FORMAT} (an older ddbes-s3 cannot read snapshots of a newer one)"
        )
    stored_type = _field(document, "aggregate_type", str, where)
    stored_key = _field(document, "aggregate_key", str, where)
    if (stored_type, stored_key) != (aggregate_type, aggregate_key):
        raise SnapshotUnreadable(
            f"snapshot {where} holds {stored_type}:{stored_key}, "
            f"not {aggregate_type}:{aggregate_key}"
        )
    version = _field(document, "version", int, where)
    if version < 1:
        raise SnapshotUnreadable(f"snapshot {where} has version {version}, below 1")
    if "state" not in document:
        raise SnapshotUnreadable(f"snapshot {where} has no 'state'")
    try:
        committed_at = parse_time(_field(document, "head_committed_at", str, where))
    except ValueError as exc:
        raise SnapshotUnreadable(f"snapshot {where} has a bad 'head_committed_at': {exc}") from exc
    return Snapshot(
        aggregate_type=stored_type,
        aggregate_key=stored_key,
        version=version,
        state=document["state"],
        head_commit_id=_field(document, "head_commit_id", str, where),
        head_committed_at=committed_at,
        checksum=_field(document, "checksum", str, where),
    )
