"""What the sans-I/O aggregate core asks its shells to do: the requests, as plain values.

The core's operations (load, hydrate, commit, create, a retried command...) are generators.
Each ``yield`` hands one request to the shell that drives it, which performs it (with sync
stores in :class:`~ddbes.aggregates.aggregate.Aggregate`, with async ones in
:class:`~ddbes.aggregates.async_aggregate.AsyncAggregate`) and sends the result back, or
throws the exception it raised into the generator. Every decision is in the generators;
the shells (:mod:`ddbes.aggregates._shells`) only move data in and out, as ``h11`` and
``websockets``' ``protocol.py`` separate a protocol from its I/O.

A request names the store or clock it is for, so that a shell needs no other context. Requests
are short-lived messages on the hot path of every commit: plain slotted dataclasses (not frozen,
whose construction costs more), never changed after they are made.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from ddbes.model import Commit, Snapshot

__all__ = [
    "Append",
    "Both",
    "Call",
    "FetchTipSnapshot",
    "GetSnapshot",
    "PutSnapshot",
    "ReadCommits",
    "ReadTip",
    "Request",
    "Sleep",
    "Steps",
]

T = TypeVar("T")


@dataclass(slots=True)
class ReadCommits:
    """``store.read_commits(...)``, each commit handed to ``each`` as it arrives; result ``None``.

    ``each`` is core code: it may raise to stop the read (the exception is thrown back in).
    """

    store: Any
    aggregate_type: str
    aggregate_key: str
    each: Callable[[Commit], object]
    from_version: int = 1
    to_version: int | None = None
    until: datetime | None = None
    descending: bool = False
    limit: int | None = None


@dataclass(slots=True)
class Append:
    """``store.append(commit)``; result: the stored commit."""

    store: Any
    commit: Commit


@dataclass(slots=True)
class GetSnapshot:
    """``store.get(aggregate_type, aggregate_key)``; result: the snapshot or ``None``."""

    store: Any
    aggregate_type: str
    aggregate_key: str


@dataclass(slots=True)
class PutSnapshot:
    """``store.put(snapshot)``; result ``None``."""

    store: Any
    snapshot: Snapshot


@dataclass(slots=True)
class ReadTip:
    """``store.read_tip(aggregate_type, aggregate_key, commits=commits)`` of a
    :class:`~ddbes.snapshot_tip.TipSnapshotStore`; result: the tip."""

    store: Any
    aggregate_type: str
    aggregate_key: str
    commits: int


@dataclass(slots=True)
class FetchTipSnapshot:
    """``tip.snapshot()`` (one more request when the tip held only a pointer)."""

    tip: Any


@dataclass(slots=True)
class Both:
    """``first`` and ``second`` at the same time; result: ``(outcome, outcome)``, where an
    outcome is the request's result or the exception it raised."""

    first: Request
    second: Request


@dataclass(slots=True)
class Sleep:
    """``clock.sleep(seconds)`` or ``await clock.async_sleep(seconds)``; result ``None``."""

    clock: Any
    seconds: float


@dataclass(slots=True)
class Call:
    """Run ``function(*args, **kwargs)``: user code (a command, ``create``) or an operation of
    the shell itself; a sync shell calls it, an async one awaits it. Result: what it returned."""

    function: Callable[..., Any]
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] | None = None


Request = (
    ReadCommits
    | Append
    | GetSnapshot
    | PutSnapshot
    | ReadTip
    | FetchTipSnapshot
    | Both
    | Sleep
    | Call
)

Steps = Generator[Request, Any, T]
"""A core operation: yields requests, receives their results, returns a ``T``."""
