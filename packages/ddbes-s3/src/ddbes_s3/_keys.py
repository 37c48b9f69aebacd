"""Where a snapshot lives in the bucket: one object per aggregate.

Layout: ``{prefix}{type segment}/{key segment}.json``. A segment is the name percent-encoded with
:func:`urllib.parse.quote` and no safe characters, so ``/``, ``%``, ``:`` and every non-ASCII
character are escaped and no two names share a segment (``a``, ``a:5``, ``a/b``, ``a.b`` and
``a%2F`` all differ). Letters, digits and ``_.-~`` stay readable. Two cases are rewritten, each
into a form ``quote`` never produces, so the mapping stays one-to-one:

* a leading ``.`` becomes ``%2E`` (``quote`` leaves dots alone), so no segment is ``.`` or ``..``,
  which some HTTP layers would resolve as a path step;
* a segment longer than :data:`MAX_SEGMENT` becomes ``%sha256-<hex digest of the name>``
  (``quote`` writes upper-case hex digits after ``%``, never ``s``), which keeps every object key
  under S3's 1024-byte limit. The body names its aggregate, and reads check it.
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import quote

__all__ = [
    "MAX_PREFIX",
    "MAX_SEGMENT",
    "SUFFIX",
    "is_snapshot_key",
    "normalize_prefix",
    "object_key",
    "type_prefix",
]

SUFFIX = ".json"
MAX_SEGMENT = 240
"""Longest percent-encoded name kept readable; longer ones are replaced by their SHA-256."""
MAX_PREFIX = 512
"""Longest prefix accepted: with two segments of at most 240 characters, keys stay < 1024 bytes."""

_OWN_REMAINDER = re.compile(r"[^/]+/[^/]+\.json")


def segment(name: str) -> str:
    """``name`` as one path segment of an object key (see the module docstring)."""
    encoded = quote(name, safe="")
    if len(encoded) > MAX_SEGMENT:
        return "%sha256-" + hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()
    if encoded.startswith("."):
        encoded = "%2E" + encoded[1:]
    return encoded


def normalize_prefix(prefix: str | None) -> str:
    """The prefix as used in keys: ``""``, or ending with ``/`` so that prefix ``"a"`` never
    reaches into prefix ``"ab"``.

    Raises:
        ValueError: the prefix is not a string, or longer than :data:`MAX_PREFIX` bytes.
    """
    if prefix is None:
        return ""
    if not isinstance(prefix, str):
        raise ValueError(f"an S3 prefix must be a string, not {type(prefix).__name__}")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    if len(prefix.encode()) > MAX_PREFIX:
        raise ValueError(f"an S3 prefix may have at most {MAX_PREFIX} bytes, got {len(prefix)}")
    return prefix


def type_prefix(prefix: str, aggregate_type: str) -> str:
    """The key prefix shared by every snapshot of ``aggregate_type``."""
    return f"{prefix}{segment(aggregate_type)}/"


def object_key(prefix: str, aggregate_type: str, aggregate_key: str) -> str:
    """The object key of one aggregate's snapshot."""
    return f"{type_prefix(prefix, aggregate_type)}{segment(aggregate_key)}{SUFFIX}"


def is_snapshot_key(prefix: str, key: str) -> bool:
    """Whether ``key`` has the shape of a snapshot written under ``prefix`` (and not, say, under
    a longer prefix nested inside it, such as ``prefix + "other-app/"``)."""
    return key.startswith(prefix) and _OWN_REMAINDER.fullmatch(key[len(prefix) :]) is not None
