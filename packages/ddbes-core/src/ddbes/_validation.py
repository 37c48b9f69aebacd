"""Checks shared by every adapter, so that all of them refuse the same malformed input.

The limits are DynamoDB's, held by every commit store, so that what passes in memory passes in
production (see ``docs/reliability.md``):

- aggregate type, key and commit id: valid Unicode (no lone surrogates); the key at most
  :data:`MAX_KEY_BYTES` in UTF-8, type and key together at most :data:`MAX_TYPE_AND_KEY_BYTES`
  (a ``ValueError``);
- events: JSON objects with a non-empty string ``"type"`` and string keys, nested at most
  :data:`MAX_EVENT_DEPTH` levels, with no NaN or infinities and nothing JSON cannot hold
  (an :class:`~ddbes.errors.InvalidEvent`);
- metadata: a JSON object with string keys, nested at most :data:`MAX_EVENT_DEPTH` levels, at
  most :data:`MAX_METADATA_BYTES` as JSON (a ``ValueError``);
- the stored item: at most :data:`MAX_ITEM_BYTES` (a :class:`~ddbes.errors.CommitTooLarge`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ddbes._event_shape import MAX_EVENT_DEPTH, check_event_shapes, check_nesting
from ddbes.codec import COMPRESSION_THRESHOLD, compress, encode_events, encode_text
from ddbes.errors import CommitTooLarge, InvalidEvent
from ddbes.model import Commit

__all__ = [
    "ITEM_OVERHEAD_BYTES",
    "MAX_EVENT_DEPTH",
    "MAX_ITEM_BYTES",
    "MAX_KEY_BYTES",
    "MAX_METADATA_BYTES",
    "MAX_TYPE_AND_KEY_BYTES",
    "MAX_UNIT_BYTES",
    "MAX_UNIT_COMMITS",
    "MAX_VERSION",
    "check_commit",
    "check_event_shapes",
    "check_log_partition",
    "check_unit",
    "encoded_events",
    "encoded_metadata",
    "stored_size",
]

MAX_ITEM_BYTES = 400 * 1024
"""DynamoDB's item size limit; every commit store holds commits to it."""

ITEM_OVERHEAD_BYTES = 128
"""What a stored commit needs besides its events, type, key and commit id: attribute names,
the version, the time, the position. An upper bound of every adapter's real overhead (the
DynamoDB adapter's is under 100 bytes), so every store refuses at the same size."""

MAX_KEY_BYTES = 1024
"""An aggregate key's limit in UTF-8 bytes: DynamoDB's sort key limit (the key registry sorts
by aggregate key)."""

MAX_TYPE_AND_KEY_BYTES = 2040
"""The limit of an aggregate type and key together, in UTF-8 bytes: DynamoDB's partition key
limit (2048 bytes) less the commit partition key's prefix (at most 8 bytes)."""

MAX_METADATA_BYTES = 16 * 1024
"""A commit's metadata limit, as compact UTF-8 JSON: room for ids, a user and a trace context,
not for data (that belongs in events)."""

MAX_VERSION = 10**12 - 1
"""The largest version a store holds (the DynamoDB adapter's sort keys have 12 digits)."""

MAX_UNIT_COMMITS = 33
"""The most commits one atomic unit (:meth:`CommitStore.append_all`) holds: DynamoDB's limit of
100 actions per transaction, at up to three per commit (the commit item, its log entry or key
registration, and the check that its previous version exists)."""

MAX_UNIT_BYTES = 4 * 1024 * 1024
"""The most bytes one atomic unit holds, counted as each commit's :func:`stored_size` twice
(the commit item and its log entry): DynamoDB's limit of 4 MB per transaction."""


def check_commit(commit: Commit) -> None:
    """Raise for a commit no store may accept.

    Raises:
        ValueError: the version, type, key, commit id or time is malformed or over a limit.
        InvalidEvent: an event is not a JSON object with a non-empty string ``"type"``, has
            non-string keys, or nests deeper than :data:`MAX_EVENT_DEPTH`.
    """
    if (
        not isinstance(commit.version, int)
        or isinstance(commit.version, bool)
        or not 1 <= commit.version <= MAX_VERSION
    ):
        raise ValueError(
            f"commit version must be an int in 1..{MAX_VERSION}, got {commit.version!r}"
        )
    if not commit.aggregate_type or not isinstance(commit.aggregate_type, str):
        raise ValueError("commit aggregate_type must be a non-empty string")
    if not commit.aggregate_key or not isinstance(commit.aggregate_key, str):
        raise ValueError("commit aggregate_key must be a non-empty string")
    if not commit.commit_id or not isinstance(commit.commit_id, str):
        raise ValueError("commit_id must be a non-empty string")
    if commit.committed_at.tzinfo is None:
        raise ValueError("committed_at must be an aware datetime")
    _check_key_sizes(commit)
    if not isinstance(commit.events, (tuple, list)):
        raise InvalidEvent(
            f"the events of a commit to {_where(commit)} must be a tuple of dicts, "
            f"not {type(commit.events).__name__}"
        )
    if not commit.events:
        raise ValueError("a commit needs at least one event")
    check_event_shapes(commit.events, _where(commit))
    encoded_metadata(commit)


def encoded_metadata(commit: Commit) -> str:
    """The commit's metadata as stored: compact JSON text, ``""`` when there is none.

    Raises:
        ValueError: the metadata is not a JSON object with string keys, nests deeper than
            :data:`MAX_EVENT_DEPTH`, holds a value JSON cannot (NaN, a set, ...), or is over
            :data:`MAX_METADATA_BYTES`.
    """
    metadata = commit.metadata
    if not metadata:
        if not isinstance(metadata, Mapping):
            raise ValueError(f"commit metadata must be a dict, got {type(metadata).__name__}")
        return ""
    where = f"the metadata of a commit to {_where(commit)}"
    if not isinstance(metadata, Mapping) or not all(isinstance(k, str) for k in metadata):
        raise ValueError(f"{where} must be a dict with string keys, got {metadata!r:.80}")
    check_nesting(dict(metadata), where, ValueError)
    try:
        text = encode_text(dict(metadata))
        size = len(text.encode())
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where} cannot be stored as JSON: {exc}") from exc
    if size > MAX_METADATA_BYTES:
        raise ValueError(
            f"{where} is {size} bytes as JSON, over the limit of {MAX_METADATA_BYTES}: "
            "keep ids and references in metadata, data in events"
        )
    return text


def _where(commit: Commit) -> str:
    return f"{commit.aggregate_type}:{commit.aggregate_key!r}"


def _utf8_bytes(text: str, what: str) -> int:
    try:
        return len(text.encode())
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"{what} {text[:64]!r} is not valid Unicode text ({exc.reason} at index "
            f"{exc.start}): a lone surrogate cannot be stored; decode the text properly"
        ) from None


def _check_key_sizes(commit: Commit) -> None:
    type_bytes = _utf8_bytes(commit.aggregate_type, "aggregate type")
    key_bytes = _utf8_bytes(commit.aggregate_key, "aggregate key")
    _utf8_bytes(commit.commit_id, "commit_id")
    if key_bytes > MAX_KEY_BYTES:
        raise ValueError(
            f"the aggregate key of {commit.aggregate_type} starting {commit.aggregate_key[:40]!r} "
            f"is {key_bytes} bytes in UTF-8, over the limit of {MAX_KEY_BYTES}: use a shorter "
            "key (a hash of a long natural key, for example)"
        )
    if type_bytes + key_bytes > MAX_TYPE_AND_KEY_BYTES:
        raise ValueError(
            f"aggregate type {commit.aggregate_type[:40]!r} and its key are "
            f"{type_bytes + key_bytes} bytes together in UTF-8, over the limit of "
            f"{MAX_TYPE_AND_KEY_BYTES}: use a shorter type name or key"
        )


def stored_size(commit: Commit, payload: bytes) -> int:
    """The bytes a commit whose events are stored as ``payload`` counts against
    :data:`MAX_ITEM_BYTES`, by the same reckoning in every store."""
    return (
        len(payload)
        + len(encoded_metadata(commit).encode())
        + ITEM_OVERHEAD_BYTES
        + len(commit.aggregate_type.encode())
        + len(commit.aggregate_key.encode())
        + len(commit.commit_id.encode())
    )


def encoded_events(commit: Commit) -> tuple[bytes, bool]:
    """The commit's events as stored (compressed when that pays) and whether they are compressed.

    Call :func:`check_commit` first.

    Raises:
        InvalidEvent: an event holds NaN, an infinity, a lone surrogate or a value JSON cannot
            represent.
        CommitTooLarge: the stored item would exceed :data:`MAX_ITEM_BYTES`.
    """
    try:
        raw = encode_events(commit.events)
    except (TypeError, ValueError) as exc:  # UnicodeEncodeError is a ValueError
        raise InvalidEvent(
            f"the events of a commit to {_where(commit)} cannot be stored as JSON: {exc}"
        ) from exc
    payload, compressed = compress(raw) if len(raw) >= COMPRESSION_THRESHOLD else (raw, False)
    size = stored_size(commit, payload)
    if size > MAX_ITEM_BYTES:
        raise CommitTooLarge(commit.aggregate_id, size, MAX_ITEM_BYTES)
    return payload, compressed


def check_unit(commits: Sequence[Commit]) -> list[tuple[bytes, bool]]:
    """Check the commits of one atomic unit, and return each one's encoded events.

    Raises:
        ValueError: no commit, or two commits of one aggregate (a unit holds one commit per
            aggregate: put all of its events in that commit), or a malformed commit.
        InvalidEvent: as for a single commit.
        CommitTooLarge: a commit is over :data:`MAX_ITEM_BYTES`, or the unit is over
            :data:`MAX_UNIT_COMMITS` commits or :data:`MAX_UNIT_BYTES` (the message names
            the limit).
    """
    if not commits:
        raise ValueError("an atomic unit needs at least one commit")
    seen: set[tuple[str, str]] = set()
    for commit in commits:
        check_commit(commit)
        ident = (commit.aggregate_type, commit.aggregate_key)
        if ident in seen:
            raise ValueError(
                f"an atomic unit holds one commit per aggregate, and {commit.aggregate_id} has "
                "two: put all of its events in one commit"
            )
        seen.add(ident)
    first = commits[0].aggregate_id
    if len(commits) > MAX_UNIT_COMMITS:
        raise CommitTooLarge(
            first,
            len(commits),
            MAX_UNIT_COMMITS,
            f"an atomic unit of {len(commits)} commits (starting with {first}) is over the limit "
            f"of {MAX_UNIT_COMMITS} commits per unit (DynamoDB's 100 actions per transaction, "
            "up to 3 per commit): split the action, or use a process manager",
        )
    encoded = [encoded_events(commit) for commit in commits]
    size = sum(
        2 * stored_size(commit, payload)
        for commit, (payload, _) in zip(commits, encoded, strict=True)
    )
    if size > MAX_UNIT_BYTES:
        raise CommitTooLarge(
            first,
            size,
            MAX_UNIT_BYTES,
            f"an atomic unit of {len(commits)} commits (starting with {first}) is {size} bytes, "
            f"over the limit of {MAX_UNIT_BYTES} bytes per unit (DynamoDB's 4 MB per "
            "transaction, each commit counted twice: its item and its log entry)",
        )
    return encoded


def check_log_partition(log_partition: int, log_partitions: int) -> None:
    """Raise ``ValueError`` when ``log_partition`` is not in ``range(log_partitions)``."""
    if not 0 <= log_partition < log_partitions:
        raise ValueError(f"log_partition must be in 0..{log_partitions - 1}, got {log_partition}")
