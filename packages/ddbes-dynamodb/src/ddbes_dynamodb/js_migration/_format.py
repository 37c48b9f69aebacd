"""The table format of the JavaScript ddbes (0.20 to 0.25): how to recognise one, and how to
read its items.

One item per commit::

    a  S  aggregate type                       table HASH key
    k  S  "<aggregate key>:<version, 9 digits>" table RANGE key
    c  S  commit id "<yyyyMMddHHmmssSSS>:<type>:<key>"   (GSI commitIdIndex RANGE key)
    z  S  "t" (active) or "f"                  (GSI commitIdIndex HASH key)
    t  S  commit time, ISO-8601 with milliseconds ("2017-01-01T00:00:00.000Z")
    e  B  gzip of JSON.stringify(events)

Before 0.20 the attributes had long names (``aggregateType``, ``keyAndVersion``, ...) and the
events were plain JSON: such a table is recognised, and refused with a clear message.
"""

from __future__ import annotations

import gzip
import json
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "COMMIT_ID_INDEX",
    "JS_TABLE_MESSAGE",
    "JsCommit",
    "decode_item",
    "is_js_key_schema",
    "js_sort_key",
    "table_kind",
]

COMMIT_ID_INDEX = "commitIdIndex"
"""The JavaScript library's global secondary index (``z``, ``c``): its global stream."""

JS_TABLE_MESSAGE = "this is a table of the JavaScript ddbes; migrate it with `ddbes migrate-js`"
"""What every store and command says when pointed at a table of the JavaScript library."""

_JS_KEYS = [("a", "HASH"), ("k", "RANGE")]
_OLD_JS_KEYS = [("aggregateType", "HASH"), ("keyAndVersion", "RANGE")]
_DDBES_KEYS = [("p", "HASH"), ("s", "RANGE")]


def _key_schema(description: dict[str, Any]) -> list[tuple[str, str]]:
    return sorted((key["AttributeName"], key["KeyType"]) for key in description["KeySchema"])


def is_js_key_schema(description: dict[str, Any]) -> bool:
    """Whether a ``DescribeTable`` answer's key schema is the JavaScript library's (any
    release)."""
    return _key_schema(description) in (_JS_KEYS, _OLD_JS_KEYS)


def table_kind(description: dict[str, Any]) -> str:
    """``"js"`` (0.20 to 0.25), ``"js-old"`` (before 0.20), ``"ddbes"`` or ``"other"``, from a
    ``DescribeTable`` answer's ``Table``."""
    schema = _key_schema(description)
    if schema == _JS_KEYS:
        return "js"
    if schema == _OLD_JS_KEYS:
        return "js-old"
    if schema == _DDBES_KEYS:
        return "ddbes"
    return "other"


def js_sort_key(aggregate_key: str, version: int) -> str:
    """The JavaScript library's ``k``: ``storeKeyString(key, version)``."""
    return f"{aggregate_key}:{version:09d}"


@dataclass(frozen=True, slots=True, kw_only=True)
class JsCommit:
    """One item of a JavaScript ddbes table, decoded as far as it could be.

    ``events`` is the decoded JSON value of ``e`` (normally a list of events; anything else is
    kept so that the plan can report it), ``None`` when ``e`` could not be decoded.
    ``problem`` says why the item cannot be migrated as it is (``None``: it may be, if its
    events pass ddbes's checks). ``committed_at`` is the stored time (UTC), ``None`` when ``t``
    is not a time.
    """

    aggregate_type: str
    aggregate_key: str
    version: int
    commit_id: str
    committed_at: datetime | None
    events: Any
    active: bool
    sort_key: str
    problem: str | None = None

    @property
    def aggregate_id(self) -> str:
        """``"<aggregate_type>:<aggregate_key>"``."""
        return f"{self.aggregate_type}:{self.aggregate_key}"


def _text(item: dict[str, Any], name: str) -> str | None:
    value = item.get(name)
    if isinstance(value, dict) and isinstance(value.get("S"), str):
        return str(value["S"])
    return None


def _time(text: str | None) -> datetime | None:
    """The JavaScript library's ``t``: ``Date.prototype.toISOString()``, or whatever string a
    caller passed as ``committedAt`` (a date alone is midnight UTC, as ``new Date`` reads it)."""
    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _events(item: dict[str, Any]) -> tuple[Any, str | None]:
    value = item.get("e")
    if not isinstance(value, dict) or not isinstance(value.get("B"), (bytes, bytearray)):
        return None, "its events (attribute e) are missing or not binary"
    try:
        text = gzip.decompress(bytes(value["B"]))
    except (OSError, EOFError, zlib.error) as exc:
        return None, f"its events (attribute e) are not gzip data: {exc}"
    try:
        return json.loads(text), None
    except ValueError as exc:
        return None, f"its events (attribute e) are not JSON: {exc}"


def decode_item(item: dict[str, Any]) -> JsCommit:
    """A :class:`JsCommit` from one item in DynamoDB's low-level format; never raises.

    ``k`` is split at its last ``:`` as the JavaScript library did (``/^(.*):([^:]*)$/``, so a
    key may hold ``:``); unlike it, a key holding a line break is read too.
    """
    aggregate_type = _text(item, "a") or ""
    sort_key = _text(item, "k") or ""
    key, colon, digits = sort_key.rpartition(":")
    problems: list[str] = []
    version = int(digits) if digits.isascii() and digits.isdigit() else 0
    if not colon or not digits.isascii() or not digits.isdigit():
        problems.append(f"its sort key k={sort_key!r} is not '<key>:<version>'")
    elif version < 1:
        problems.append("its version is 0; versions start at 1")
    if not aggregate_type:
        problems.append("its aggregate type (attribute a) is empty")
    if colon and not key:
        problems.append("its aggregate key is empty (k starts with ':'); ddbes keys are not")
    text_time = _text(item, "t")
    committed_at = _time(text_time)
    if committed_at is None:
        problems.append(f"its commit time t={text_time!r} is not an ISO-8601 time")
    events, problem = _events(item)
    if problem is not None:
        problems.append(problem)
    commit_id = _text(item, "c")
    if not commit_id:
        # what serializeCommit would have made: the time's digits, the type and the key
        digits_of_time = "".join(ch for ch in text_time or "" if ch.isdigit())
        commit_id = f"{digits_of_time}:{aggregate_type}:{key}"
    return JsCommit(
        aggregate_type=aggregate_type,
        aggregate_key=key,
        version=version,
        commit_id=commit_id,
        committed_at=committed_at,
        events=events,
        active=_text(item, "z") != "f",
        sort_key=sort_key,
        problem="; ".join(problems) or None,
    )
