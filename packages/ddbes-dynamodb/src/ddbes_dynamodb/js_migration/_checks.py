"""ddbes's own checks of a commit, applied to commits coming from the JavaScript library.

This is the only module of the migration that reaches into the core's private validation: the
importer writes items itself, so it must refuse exactly what ``DynamoDBCommitStore.append``
refuses, with the same messages.
"""

from __future__ import annotations

from dataclasses import replace

from ddbes import Commit
from ddbes._validation import check_commit, encoded_events
from ddbes.errors import CommitTooLarge, InvalidEvent

__all__ = ["Encoded", "check_envelope", "encode", "event_problem"]

Encoded = tuple[bytes, bool]
"""The events as stored (maybe compressed) and whether they are compressed."""

_PLACEHOLDER = ({"type": "placeholder"},)


def check_envelope(commit: Commit) -> str | None:
    """Why ddbes cannot store a commit of this type, key, commit id and version, whatever its
    events (``None``: it can)."""
    try:
        check_commit(replace(commit, events=_PLACEHOLDER))
    except ValueError as exc:
        return str(exc)
    return None


def encode(commit: Commit) -> Encoded | str:
    """The stored events of a commit whose envelope passed :func:`check_envelope`, or why ddbes
    refuses them."""
    try:
        check_commit(commit)
        return encoded_events(commit)
    except (InvalidEvent, CommitTooLarge, ValueError) as exc:
        return str(exc)


def event_problem(commit: Commit, index: int) -> str | None:
    """Why ddbes refuses event ``index`` of ``commit`` on its own (``None``: it accepts it)."""
    result = encode(replace(commit, events=(commit.events[index],)))
    if isinstance(result, str):
        return result.replace("event 0 of", f"event {index} of")
    return None
