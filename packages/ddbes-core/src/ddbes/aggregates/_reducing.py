"""Folding a commit into a state: upcast its events, then reduce them one by one.

User code (an upcaster or the reducer) that raises is reported as
:class:`~ddbes.errors.ReducerFailed`, naming the aggregate, the commit and the event, with the
cause chained. A commit is folded before it is written, so an event the reducer rejects is
never stored; the same fold replays stored commits, where a rejection names the stored commit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from types import CoroutineType
from typing import Any

from ddbes.aggregates._misuse import refuse_coroutine
from ddbes.aggregates.upcasting import Upcasters, upcast_event
from ddbes.errors import DdbesError, ReducerFailed
from ddbes.model import Commit
from ddbes.typed_events import EventTypes

__all__ = ["Reducer", "decoded_events", "fold_commit"]

Reducer = Callable[[Any, Any, Commit], Any]


def fold_commit(
    state: Any,
    commit: Commit,
    reducer: Reducer,
    upcasters: Upcasters,
    *,
    stored: bool,
    event_types: EventTypes | None = None,
) -> Any:
    """The state after ``commit``'s events, upcast (and decoded into ``event_types``'
    classes, when the aggregate declares them), are reduced into ``state``.

    ``stored`` says whether ``commit`` comes from storage (a load) or is about to be written.
    The reducer may change ``state`` in place even when this raises: the caller restores it.

    Raises:
        ReducerFailed: the reducer or an upcaster raised (the cause is chained).
        InvalidEvent: an upcaster chain cannot bring an event up to date (a note names the
            commit), or an event does not fit its declared class (the message names it).
        TypeError: the reducer returned a coroutine (an ``async def`` reducer).
    """
    commit, events = decoded_events(commit, upcasters, event_types, stored=stored)
    for index, event in enumerate(events):
        try:
            state = reducer(state, event, commit)
        except Exception as exc:
            raise _failure(commit, index, stored=stored, upcasting=False, cause=exc) from exc
        if type(state) is CoroutineType:  # an async def reducer, or a forgotten await
            refuse_coroutine(state, reducer)
    return state


def decoded_events(
    commit: Commit,
    upcasters: Upcasters,
    event_types: EventTypes | None,
    *,
    stored: bool = True,
) -> tuple[Commit, tuple[Any, ...]]:
    """``commit`` with its events upcast, and those events decoded into ``event_types``'
    classes (the upcast dicts when ``event_types`` is ``None``): what a reducer or a projector
    handler is given.

    Raises:
        ReducerFailed: an upcaster raised (the cause is chained).
        InvalidEvent: an upcaster chain cannot bring an event up to date (a note names the
            commit), or an event does not fit its declared class (the message names it).
    """
    if upcasters:
        commit = _upcast(commit, upcasters, stored=stored)
    events: tuple[Any, ...] = commit.events
    if event_types is not None:
        events = event_types.decode_all(commit, events)
    return commit, events


def _upcast(commit: Commit, upcasters: Upcasters, *, stored: bool) -> Commit:
    events = []
    for index, event in enumerate(commit.events):
        try:
            events.append(upcast_event(event, upcasters))
        except DdbesError as exc:
            exc.add_note(_where(commit, index, stored=stored))
            raise
        except Exception as exc:
            raise _failure(commit, index, stored=stored, upcasting=True, cause=exc) from exc
    upcast = tuple(events)
    return commit if upcast == commit.events else replace(commit, events=upcast)


def _failure(
    commit: Commit, index: int, *, stored: bool, upcasting: bool, cause: Exception
) -> ReducerFailed:
    event = commit.events[index] if index < len(commit.events) else {}
    kind = event.get("type") if isinstance(event, dict) else None
    return ReducerFailed(
        aggregate_id=commit.aggregate_id,
        version=commit.version,
        commit_id=commit.commit_id if stored else None,
        event_type=kind if isinstance(kind, str) else repr(kind),
        event_index=index,
        stored=stored,
        upcasting=upcasting,
        cause=cause,
    )


def _where(commit: Commit, index: int, *, stored: bool) -> str:
    if stored:
        return (
            f"in event {index} of stored commit {commit.commit_id} "
            f"(version {commit.version}) of {commit.aggregate_id}"
        )
    return f"in event {index} of the commit at version {commit.version} of {commit.aggregate_id}"
