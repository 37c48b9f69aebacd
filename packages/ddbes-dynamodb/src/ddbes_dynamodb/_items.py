"""How commits, log entries and the other records become DynamoDB items, and back.

One table holds everything; the partition key ``p`` names the record kind by a prefix, the sort
key ``s`` orders records inside it (see ``docs/data-model.md``)::

    commit      p = "c#<len(type)>#<type>#<key>"  s = version (12 digits)   i t e|x n|u
    log entry   p = "l#<log partition>"           s = position (12 digits)  a k v i t e|x
    log page    p = "l#<log partition>"           s = its last position     f c
    log head    p = "h#<log partition>"           s = "head"                n
    archived    the same keys, ``ar`` = archive object key, no e x m (a stub)
    archive     p = "a#<type>"                    s = aggregate key         v ar z h w
    key         p = "k#<type>"                    s = aggregate key
    table meta  p = "m#"                          s = "table"               lp fv
    checkpoint  p = "p#<projector name>"          s = log partition         n

Both keys are strings so that one table can hold the key registry (sorted by aggregate key) next
to commits and log entries (sorted by zero-padded numbers, which sort as the numbers do).
The length prefix makes the commit key injective: no two (type, key) pairs share one.
A commit item holds its log position ``n`` once it is in the global log; on a table sequenced
in the background it holds ``u`` (its log partition, the key of the sparse index
:data:`UNSEQUENCED_INDEX`) until then.

A **log page** (tables of format 3) holds the log entries of consecutive positions ``f`` ..
``s`` as a list ``c`` of maps with a log entry's attributes (``a k v i t e|x m``, or a stub's
``ar``); a log entry is a page of one. Keying a page by its *last* position lets a reader that
resumes after position ``p`` ask for ``s > p`` and get exactly the pages it lacks. The **log
head** item holds the partition's newest position; every write of pages updates it in the same
transaction, on the condition that it still holds the head the writer built on, so that two
writers can never write overlapping pages.

Items are built and read as DynamoDB's low-level JSON (``{"S": ...}``) by hand: that skips
boto3's resource layer and ``TypeDeserializer``, which cost more than the conversion itself.
"""

from __future__ import annotations

import contextlib
import zlib
from datetime import datetime
from typing import Any

from ddbes.archiving import ArchivedRef
from ddbes.codec import decode, decode_events, format_time
from ddbes.errors import CorruptItem
from ddbes.model import Commit

__all__ = [
    "MAX_NUMBER",
    "MAX_PARTITION_KEY_BYTES",
    "MAX_SORT_KEY_BYTES",
    "META_KEY",
    "UNSEQUENCED_INDEX",
    "Item",
    "checkpoint_key",
    "commit_items",
    "commit_pk",
    "corrupt",
    "decode_commit_item",
    "decode_commit_or_stub",
    "decode_log_item",
    "decode_log_or_stub",
    "decode_log_page",
    "decode_position",
    "head_key",
    "item_overhead",
    "keys_fit",
    "keys_pk",
    "log_page",
    "log_pk",
    "pad",
    "parse_commit_pk",
]

Item = dict[str, dict[str, Any]]
"""A DynamoDB item in the low-level wire format."""

NUMBER_WIDTH = 12
MAX_NUMBER = 10**NUMBER_WIDTH - 1
"""The largest version or log position the 12-digit sort keys can hold."""

MAX_PARTITION_KEY_BYTES = 2048
MAX_SORT_KEY_BYTES = 1024

UNSEQUENCED_INDEX = "ddbes-unsequenced"
"""The sparse index of commits not yet in the global log (``u`` = partition, ``t`` = time)."""

META_KEY: Item = {"p": {"S": "m#"}, "s": {"S": "table"}}
"""The key of the item that records the table's ``log_partitions``."""

_TIME_BYTES = len("2000-01-01T00:00:00.000000Z")
_NUMBER_BYTES = 21  # DynamoDB's upper bound for a number's stored size


def pad(number: int) -> str:
    """A version or position as a sort key: zero-padded so that strings sort as numbers."""
    return f"{number:012d}"


def commit_pk(aggregate_type: str, aggregate_key: str) -> str:
    """The partition key of an aggregate's commits; distinct for every (type, key) pair."""
    return f"c#{len(aggregate_type)}#{aggregate_type}#{aggregate_key}"


def parse_commit_pk(pk: str) -> tuple[str, str]:
    """The (type, key) of a commit partition key; the inverse of :func:`commit_pk`."""
    length, _, rest = pk[2:].partition("#")
    size = int(length)
    return rest[:size], rest[size + 1 :]


def log_pk(log_partition: int) -> str:
    """The partition key of a log partition."""
    return f"l#{log_partition}"


def head_key(log_partition: int) -> Item:
    """The key of a log partition's head item (tables of format 3)."""
    return {"p": {"S": f"h#{log_partition}"}, "s": {"S": "head"}}


LOG_ENTRY_FIELDS = ("a", "k", "v", "i", "t", "e", "x", "m", "ar")
"""The attributes of a log entry besides its keys: what a page's element holds."""


def log_page(log_partition: int, first: int, entries: list[Item]) -> Item:
    """The page holding ``entries`` (log entries' attributes, without keys) at positions
    ``first`` .. ``first + len(entries) - 1``."""
    return {
        "p": {"S": log_pk(log_partition)},
        "s": {"S": pad(first + len(entries) - 1)},
        "f": {"N": str(first)},
        "c": {"L": [{"M": entry} for entry in entries]},
    }


def keys_pk(aggregate_type: str) -> str:
    """The partition key of the registry of an aggregate type's keys."""
    return f"k#{aggregate_type}"


def checkpoint_key(name: str, log_partition: int) -> Item:
    """The key of a projector's checkpoint in one log partition."""
    return {"p": {"S": f"p#{name}"}, "s": {"S": str(log_partition)}}


def item_overhead(commit: Commit, log_partition: int) -> int:
    """The bytes, by DynamoDB's reckoning, of the larger of a commit's two items, less the events.

    DynamoDB counts an item as the UTF-8 length of every attribute name plus its value; numbers
    are counted at their upper bound.
    """
    type_bytes = len(commit.aggregate_type.encode())
    key_bytes = len(commit.aggregate_key.encode())
    shared = 2 + NUMBER_WIDTH + 1 + len(commit.commit_id.encode()) + 1 + _TIME_BYTES + 1
    commit_item = shared + 1 + len(commit_pk(commit.aggregate_type, commit.aggregate_key).encode())
    commit_item += 1 + _NUMBER_BYTES
    log_item = shared + 1 + len(log_pk(log_partition)) + 1 + type_bytes + 1 + key_bytes
    log_item += 1 + _NUMBER_BYTES
    return max(commit_item, log_item)


def commit_items(
    commit: Commit, log_partition: int, payload: bytes, compressed: bool, metadata: str = ""
) -> tuple[Item, Item]:
    """The commit item and its log entry, without the position (the writer sets it per attempt);
    ``metadata`` is the commit's as JSON text (``m``, absent when empty)."""
    events: dict[str, Any] = {"B": payload} if compressed else {"S": payload.decode()}
    events_name = "x" if compressed else "e"
    committed_at = {"S": format_time(commit.committed_at)}
    commit_id = {"S": commit.commit_id}
    commit_item: Item = {
        "p": {"S": commit_pk(commit.aggregate_type, commit.aggregate_key)},
        "s": {"S": pad(commit.version)},
        "i": commit_id,
        "t": committed_at,
        events_name: events,
    }
    log_item: Item = {
        "p": {"S": log_pk(log_partition)},
        "a": {"S": commit.aggregate_type},
        "k": {"S": commit.aggregate_key},
        "v": {"N": str(commit.version)},
        "i": commit_id,
        "t": committed_at,
        events_name: events,
    }
    if metadata:
        commit_item["m"] = log_item["m"] = {"S": metadata}
    return commit_item, log_item


def _events(item: Item) -> tuple[dict[str, Any], ...]:
    text = item.get("e")
    if text is not None:
        return decode_events(text["S"])
    return decode_events(zlib.decompress(item["x"]["B"]))


def _metadata(item: Item) -> dict[str, Any]:
    text = item.get("m")
    if text is None:
        return {}
    metadata = decode(text["S"])
    if not isinstance(metadata, dict):
        raise ValueError("the stored metadata is not a JSON object")
    return metadata


_DECODING_ERRORS = (KeyError, TypeError, ValueError, AttributeError, zlib.error)
"""What reading a foreign or damaged item raises (a missing attribute, another type)."""


def corrupt(table: str, item: Any, exc: BaseException, pk: str | None = None) -> CorruptItem:
    """The error for an item of ``table`` (in partition ``pk`` when the read projected the
    partition key away) that cannot be decoded."""
    try:
        key = f"p={item.get('p', {}).get('S', pk)!r}, s={item['s']['S']!r}"
    except (KeyError, TypeError, AttributeError):
        key = f"p={pk!r}" if pk is not None else "(without ddbes's keys p and s)"
    if isinstance(exc, KeyError):
        problem = f"it lacks the attribute or type {exc.args[0]!r}"
    else:
        problem = f"{type(exc).__name__}: {exc}"
    return CorruptItem(f"DynamoDB table {table!r}", key, problem)


def decode_commit_item(
    item: Item, aggregate_type: str, aggregate_key: str, log_partition: int, *, table: str
) -> Commit:
    """A :class:`Commit` from a commit item of a known aggregate.

    Raises:
        CorruptItem: the item is not a commit item ddbes wrote.
    """
    try:
        return Commit(
            commit_id=item["i"]["S"],
            aggregate_type=aggregate_type,
            aggregate_key=aggregate_key,
            version=int(item["s"]["S"]),
            committed_at=datetime.fromisoformat(item["t"]["S"]),
            events=_events(item),
            position=int(item["n"]["N"]) if "n" in item else None,
            log_partition=log_partition,
            metadata=_metadata(item),
        )
    except _DECODING_ERRORS as exc:
        raise corrupt(table, item, exc, commit_pk(aggregate_type, aggregate_key)) from exc


def decode_log_item(item: Item, log_partition: int, *, table: str) -> Commit:
    """A :class:`Commit` from a log entry.

    Raises:
        CorruptItem: the item is not a log entry ddbes wrote.
    """
    try:
        position = int(item["s"]["S"])
    except _DECODING_ERRORS as exc:
        raise corrupt(table, item, exc, log_pk(log_partition)) from exc
    return _log_entry(item, position, log_partition, table=table, page=item)


def _log_entry(
    fields: Item, position: int, log_partition: int, *, table: str, page: Item
) -> Commit:
    try:
        return Commit(
            commit_id=fields["i"]["S"],
            aggregate_type=fields["a"]["S"],
            aggregate_key=fields["k"]["S"],
            version=int(fields["v"]["N"]),
            committed_at=datetime.fromisoformat(fields["t"]["S"]),
            events=_events(fields),
            position=position,
            log_partition=log_partition,
            metadata=_metadata(fields),
        )
    except _DECODING_ERRORS as exc:
        error = corrupt(table, page, exc, log_pk(log_partition))
        error.position = position
        raise error from exc


def _log_entry_or_stub(
    fields: Item, position: int, log_partition: int, *, table: str, page: Item
) -> Commit | ArchivedRef:
    location = fields.get("ar")
    if location is None:
        return _log_entry(fields, position, log_partition, table=table, page=page)
    try:
        return ArchivedRef(
            location=location["S"],
            aggregate_type=fields["a"]["S"],
            aggregate_key=fields["k"]["S"],
            version=int(fields["v"]["N"]),
            commit_id=fields["i"]["S"],
            position=position,
            log_partition=log_partition,
        )
    except _DECODING_ERRORS as exc:
        error = corrupt(table, page, exc, log_pk(log_partition))
        error.position = position
        raise error from exc


def decode_log_page(
    item: Item, log_partition: int, *, table: str, after: int = 0
) -> list[Commit | ArchivedRef]:
    """The commits (or archived commits' stubs) of a log page, or of a log entry (a page of
    one), in position order; only those after position ``after`` (the others are not decoded).

    Raises:
        CorruptItem: the item is neither; its ``position`` is the first one it should hold.
    """
    try:
        last = int(item["s"]["S"])
        entries = item.get("c")
        if entries is None:
            return [_log_entry_or_stub(item, last, log_partition, table=table, page=item)]
        first = int(item["f"]["N"])
        elements = entries["L"]
        if first + len(elements) - 1 != last or not elements:
            raise ValueError(f"a page of {len(elements)} entries from {first} cannot end at {last}")
        fields = [element["M"] for element in elements]
    except _DECODING_ERRORS as exc:
        error = corrupt(table, item, exc, log_pk(log_partition))
        with contextlib.suppress(*_DECODING_ERRORS):
            error.position = int(item["f"]["N"]) if "f" in item else int(item["s"]["S"])
        raise error from exc
    skip = max(0, after - first + 1)
    return [
        _log_entry_or_stub(entry, first + index, log_partition, table=table, page=item)
        for index, entry in enumerate(fields[skip:], skip)
    ]


def decode_commit_or_stub(
    item: Item, aggregate_type: str, aggregate_key: str, log_partition: int, *, table: str
) -> Commit | ArchivedRef:
    """:func:`decode_commit_item`, or the :class:`ArchivedRef` of an archived commit's stub."""
    location = item.get("ar")
    if location is None:
        return decode_commit_item(item, aggregate_type, aggregate_key, log_partition, table=table)
    try:
        return ArchivedRef(
            location=location["S"],
            aggregate_type=aggregate_type,
            aggregate_key=aggregate_key,
            version=int(item["s"]["S"]),
            commit_id=item["i"]["S"],
            position=int(item["n"]["N"]),
            log_partition=log_partition,
        )
    except _DECODING_ERRORS as exc:
        raise corrupt(table, item, exc, commit_pk(aggregate_type, aggregate_key)) from exc


def decode_log_or_stub(item: Item, log_partition: int, *, table: str) -> Commit | ArchivedRef:
    """:func:`decode_log_item`, or the :class:`ArchivedRef` of an archived commit's log stub."""
    try:
        position = int(item["s"]["S"])
    except _DECODING_ERRORS as exc:
        raise corrupt(table, item, exc, log_pk(log_partition)) from exc
    return _log_entry_or_stub(item, position, log_partition, table=table, page=item)


def decode_position(item: Item, *, table: str, pk: str | None = None) -> int:
    """The version or log position of an item's zero-padded sort key.

    Raises:
        CorruptItem: the sort key is not one.
    """
    try:
        return int(item["s"]["S"])
    except _DECODING_ERRORS as exc:
        raise corrupt(table, item, exc, pk) from exc


def keys_fit(pk: str, sort_key: str) -> bool:
    """Whether DynamoDB can hold these key values (valid UTF-8 within its size limits)."""
    try:
        return (
            len(pk.encode()) <= MAX_PARTITION_KEY_BYTES
            and len(sort_key.encode()) <= MAX_SORT_KEY_BYTES
        )
    except UnicodeEncodeError:
        return False
