"""The fan-out: which sessions are subscribed, and how one commit reaches each of them.

A commit is encoded once per distinct set of matching events and the same bytes are queued for
every client they match. Queuing never waits: a session whose buffer is full is closed with 4429
(slow consumer) and resumes after reconnecting.

Filter work is charged to each session's :class:`~ddbes_ws._budget.FilterBudget`: a session over
budget is left out of the fan-out (:meth:`Fanout.publish` returns it) and catches up on its own,
paced, so an expensive filter slows its own client only. Sessions with identical filters share
one compiled filter and its answers (``_sharing``).

A stored event that is not an object with a string ``type`` (written before stores validated
events, or by another tool) is never sent: it is logged once per commit, and the stream goes on
past it, so that no client stalls or crashes on it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from typing import Any

from ddbes.errors import InvalidFilter
from ddbes.filters import EventFilter
from ddbes.model import Commit
from ddbes_ws import protocol
from ddbes_ws._session import Frame, Session
from ddbes_ws.protocol import CloseCode

__all__ = ["Fanout", "malformed_events"]

_REPORTED_COMMITS = 4096
"""How many malformed commits the fan-out remembers having logged (each is logged once)."""


def malformed_events(commit: Commit) -> list[int]:
    """The indexes of ``commit``'s events that are not objects with a non-empty string type."""
    return [
        index
        for index, event in enumerate(commit.events)
        if type(event) is not dict or type(event.get("type")) is not str or not event["type"]
    ]


_WORTH_REMEMBERING = 20e-6
"""Seconds of filter work above which the answer is kept for sessions sharing the filter."""


class Fanout:
    """The subscribed sessions, and the queuing and closing of their frames."""

    def __init__(
        self, *, buffer_size: int, log: logging.Logger | logging.LoggerAdapter[Any]
    ) -> None:
        self.subscribers: set[Session] = set()
        self.has_subscribers = asyncio.Event()
        self._buffer_size = buffer_size
        self._log = log
        self._tasks: set[asyncio.Task[Any]] = set()
        self._reported: OrderedDict[tuple[int, int, str], None] = OrderedDict()

    def subscribe(self, session: Session) -> None:
        self.subscribers.add(session)
        self.has_subscribers.set()

    def publish(self, p: int, commit: Commit) -> list[Session]:
        """Hand a new commit of partition ``p`` to every live session not yet past it.

        Returns the sessions whose filter budget is spent: they are no longer live and did not
        get ``commit``; the caller makes them catch up on their own.
        """
        position = commit.position or 0
        cache: dict[Any, bytes] = {}
        over: list[Session] = []
        now = time.perf_counter()
        for session in list(self.subscribers):
            if session.live and session.cursor[p] < position:
                if session.budget is not None and session.budget.exhausted(now):
                    session.live = False
                    over.append(session)
                    continue
                self.deliver(session, p, commit, cache)
        return over

    def deliver(
        self, session: Session, p: int, commit: Commit, cache: dict[Any, bytes], force: bool = False
    ) -> None:
        """Advance the session's cursor over ``commit`` and queue what its filter lets through.

        ``cache`` holds this commit's frames already encoded for other clients: one per commit.
        """
        position = commit.position or 0
        session.cursor[p] = position
        shared = session.filter
        assert shared is not None
        indexes = shared.remembered(p, commit)
        if indexes is None:
            started = time.perf_counter()
            try:
                indexes = self._matching(shared.compiled, p, commit)
            except InvalidFilter as exc:
                indexes = exc
            finished = time.perf_counter()
            if session.budget is not None:
                session.budget.charge(finished - started, finished)
            if finished - started > _WORTH_REMEMBERING:
                shared.remember(p, commit, indexes)
        if isinstance(indexes, InvalidFilter):
            self._log.warning("closing %s: %s", session.peer, indexes)
            self.close(session, CloseCode.FILTER_TOO_EXPENSIVE, "a pattern is too expensive")
            return
        frames: list[bytes] = []
        try:
            if session.legacy:
                for index in indexes:
                    frame = cache.get(index)
                    if frame is None:
                        frame = cache[index] = protocol.legacy_frame(commit, index).encode()
                    frames.append(frame)
            elif indexes:
                key = tuple(indexes)
                frame = cache.get(key)
                if frame is None:
                    frame = cache[key] = protocol.commit_frame(commit, indexes).encode()
                frames.append(frame)
        except (ValueError, TypeError, RecursionError) as exc:
            self._report(p, commit, f"its events cannot be sent as JSON ({exc})")
            frames = []
        if not frames:
            if not session.moved and not session.legacy:
                session.moved = True  # the sender now owes a checkpoint
                session.wakeup.set()
            return
        for frame in frames:
            self.push(session, (frame, p, position), force)

    def _matching(self, compiled: EventFilter, p: int, commit: Commit) -> list[int]:
        """The indexes of the commit's well-formed events that ``compiled`` passes."""
        bad = malformed_events(commit)
        if not bad:
            return compiled.matching_events(commit)
        self._report(
            p, commit, f"event(s) {bad[:10]} are not objects with a non-empty string 'type'"
        )
        return [
            index
            for index, event in enumerate(commit.events)
            if index not in bad and compiled.matches(commit, event)
        ]

    def _report(self, p: int, commit: Commit, what: str) -> None:
        """Log a malformed commit once (whichever sessions meet it)."""
        key = (p, commit.position or 0, commit.commit_id)
        if key in self._reported:
            return
        self._reported[key] = None
        if len(self._reported) > _REPORTED_COMMITS:
            self._reported.popitem(last=False)
        self._log.warning(
            "skipping malformed commit %s version %s (commit id %s) at position %s of log "
            "partition %s: %s; those events are not streamed. Repair or remove the stored item",
            commit.aggregate_id,
            commit.version,
            commit.commit_id,
            commit.position,
            p,
            what,
        )

    def push(self, session: Session, frame: Frame, force: bool = False) -> None:
        """Queue ``frame`` for ``session``; over the buffer size (unless ``force``), close it."""
        if session.closing:
            return
        if not force and len(session.frames) >= self._buffer_size:
            self._log.warning(
                "closing %s: slow consumer (%d frames waiting)", session.peer, len(session.frames)
            )
            self.close(
                session,
                CloseCode.SLOW_CONSUMER,
                f"slow consumer: over {self._buffer_size} frames waiting",
            )
            return
        session.frames.append(frame)
        session.wakeup.set()

    def close(self, session: Session, code: int, reason: str, flush: bool = False) -> None:
        """Stop feeding ``session`` and close it (after its queued frames when ``flush``)."""
        if session.closing:
            return
        session.closing = True
        self.subscribers.discard(session)
        if session.catch_up is not None:
            session.catch_up.cancel()
        if flush:
            session.close_after = (code, reason[:120])
            session.wakeup.set()
            return
        session.frames.clear()
        session.wakeup.set()
        session.closer = task = asyncio.create_task(session.ws.close(code, reason[:120]))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
