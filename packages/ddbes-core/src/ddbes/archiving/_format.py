"""The archive object: an aggregate's commits 1..v as zlib-compressed JSON, and its key."""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

from ddbes import codec
from ddbes.errors import CorruptItem
from ddbes.model import Commit

__all__ = ["ARCHIVE_FORMAT", "archive_key", "decode_archive", "encode_archive"]

ARCHIVE_FORMAT = 1
_MAX_SEGMENT = 200


def archive_key(aggregate_type: str, aggregate_key: str, version: int) -> str:
    """The key of the archive object of an aggregate's versions 1..``version``:
    ``<type>/<key>/<version, 12 digits>.json.z``, type and key percent-encoded (so no two
    aggregates share a key, whatever characters they hold; a leading ``.`` is ``%2E`` and a
    name over 200 bytes encoded is ``%sha256-<digest>``, forms ``quote`` never writes)."""
    return f"{_segment(aggregate_type)}/{_segment(aggregate_key)}/{version:012d}.json.z"


def _segment(name: str) -> str:
    segment = quote(name, safe="")
    if segment.startswith("."):
        segment = "%2E" + segment[1:]
    if len(segment) > _MAX_SEGMENT:
        segment = "%sha256-" + hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()
    return segment


def encode_archive(commits: Sequence[Commit]) -> bytes:
    """The archive object of an aggregate's commits 1..v, in version order. The bytes depend
    only on the commits, so a re-run of an interrupted archive writes the same object."""
    first = commits[0]
    body: dict[str, Any] = {
        "f": ARCHIVE_FORMAT,
        "a": first.aggregate_type,
        "k": first.aggregate_key,
        "c": [
            {
                "v": commit.version,
                "i": commit.commit_id,
                "t": codec.format_time(commit.committed_at),
                "n": commit.position,
                "l": commit.log_partition,
                "e": list(commit.events),
                "m": dict(commit.metadata),
            }
            for commit in commits
        ],
    }
    return zlib.compress(codec.encode(body), 9)


def decode_archive(body: bytes, *, where: str) -> dict[int, Commit]:
    """The commits of an archive object, by version.

    Raises:
        CorruptItem: ``body`` is not an archive object ddbes wrote (``where`` names it).
    """
    try:
        data = codec.decode(zlib.decompress(body))
        if data["f"] != ARCHIVE_FORMAT:
            raise ValueError(f"unknown archive format {data['f']!r}")
        aggregate_type, aggregate_key = data["a"], data["k"]
        commits = {}
        for one in data["c"]:
            commits[one["v"]] = Commit(
                commit_id=one["i"],
                aggregate_type=aggregate_type,
                aggregate_key=aggregate_key,
                version=one["v"],
                committed_at=datetime.fromisoformat(one["t"]),
                events=tuple(one["e"]),
                position=one["n"],
                log_partition=one["l"],
                metadata=one["m"],
            )
    except (KeyError, TypeError, ValueError, zlib.error) as exc:
        raise CorruptItem(where, "archive object", f"{type(exc).__name__}: {exc}") from exc
    return commits
