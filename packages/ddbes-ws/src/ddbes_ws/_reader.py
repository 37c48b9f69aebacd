"""The shared log reader: one reader of the global log for all of a server's clients.

It reads every log partition after its position ``head`` (one ``read_log`` per partition per
poll: awaited on an :class:`~ddbes.async_ports.AsyncCommitStore`, through
:func:`asyncio.to_thread` on a sync :class:`~ddbes.ports.CommitStore`) and hands each new
commit to the fan-out, so the number of store reads does not grow with the number of clients.
A session that resumes behind ``head`` first catches up with its own reads, fed only as fast as
it drains, and turns live in the event-loop step its cursor reaches ``head``. A live session
whose filter budget is spent catches up the same way, its filter work paced to its budget.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime
from typing import Any

from ddbes import telemetry
from ddbes.async_ports import AsyncCommitStore
from ddbes.errors import CorruptItem
from ddbes.model import Commit
from ddbes.ports import CommitStore
from ddbes_ws._fanout import Fanout
from ddbes_ws._session import Session

__all__ = ["LogReader"]

_SLICE = 0.002
"""Seconds of filter work a catching-up session does before letting the event loop run others."""
_PACED_SHARE = 0.25
"""The share of the event loop that every session over its filter budget may use together."""


def _placeholder(log_partition: int, position: int) -> Commit:
    """What stands in for a log entry the store cannot decode: no events, so no client is sent
    anything, and every client's position moves past it."""
    return Commit(
        commit_id="",
        aggregate_type="",
        aggregate_key="",
        version=0,
        committed_at=datetime.now(UTC),
        events=(),
        position=position,
        log_partition=log_partition,
    )


class LogReader:
    """Reads the log for the fan-out (:meth:`run`) and for sessions catching up."""

    def __init__(
        self,
        commit_store: CommitStore | AsyncCommitStore,
        fanout: Fanout,
        *,
        poll_delay: float,
        batch_size: int,
        buffer_size: int,
        log: logging.Logger | logging.LoggerAdapter[Any],
    ) -> None:
        self.commit_store = commit_store
        self.partitions = 0
        self.head: list[int] = []
        self.wake = asyncio.Event()
        """Set it to read now rather than after ``poll_delay``."""
        self.store_reads = 0
        self.paced: set[Session] = set()
        """Sessions over their filter budget, catching up at their pace."""
        self._fanout = fanout
        self._poll_delay = poll_delay
        self._batch_size = batch_size
        self._buffer_size = buffer_size
        self._log = log
        self._damaged: set[tuple[int, int]] = set()  # (partition, position) already logged

    async def start(self) -> None:
        """Learn the log's partitions and start reading at its head."""
        store = self.commit_store
        if isinstance(store, AsyncCommitStore):
            await store.head_position(0)  # an async store learns its layout on a request
        self.partitions = store.log_partitions
        self.head = await self.heads()

    async def heads(self) -> list[int]:
        """The log's head position per partition, read from the store."""
        store, partitions = self.commit_store, self.partitions
        if isinstance(store, AsyncCommitStore):
            heads = [await store.head_position(p) for p in range(partitions)]
        else:
            heads = await asyncio.to_thread(
                lambda: [store.head_position(p) for p in range(partitions)]
            )
        self.store_reads += partitions
        return heads

    async def _read(self, after: list[int], limit: int) -> list[list[Commit]]:
        return [await self._read_partition(p, position, limit) for p, position in enumerate(after)]

    async def _read_partition(self, p: int, after: int, limit: int) -> list[Commit]:
        """Up to ``limit`` commits after ``after``; a log entry the store cannot decode comes
        back as an empty placeholder at its position (logged), so the stream goes on."""
        commits: list[Commit] = []
        position = after
        while len(commits) < limit:
            try:
                await self._fetch(p, position, limit - len(commits), commits)
                return commits
            except CorruptItem as exc:
                if commits:
                    position = commits[-1].position or position
                position = self._skip(p, position, exc, commits)
        return commits

    async def _fetch(self, p: int, after: int, limit: int, commits: list[Commit]) -> None:
        """Append the log after ``after`` to ``commits``: awaited from an async store, in a
        thread from a sync one."""
        store = self.commit_store
        if isinstance(store, AsyncCommitStore):
            async for commit in store.read_log(after=after, log_partition=p, limit=limit):
                commits.append(commit)
            return

        def fetch() -> None:
            for commit in store.read_log(after=after, log_partition=p, limit=limit):
                commits.append(commit)

        await asyncio.to_thread(fetch)

    def _skip(self, p: int, position: int, exc: CorruptItem, commits: list[Commit]) -> int:
        """Step over the damaged entry right after ``position`` (logged once), or re-raise."""
        if exc.position != position + 1:
            raise exc
        if (p, exc.position) not in self._damaged:
            self._damaged.add((p, exc.position))
            self._log.error(
                "skipping the log entry at position %d of log partition %d: %s",
                exc.position,
                p,
                exc,
            )
        commits.append(_placeholder(p, exc.position))
        return exc.position

    async def run(self) -> None:
        """Read the log while anyone is subscribed, until cancelled."""
        fanout = self._fanout
        failures = 0
        while True:
            if not fanout.subscribers:
                fanout.has_subscribers.clear()
                await fanout.has_subscribers.wait()
                continue
            self.wake.clear()
            for p in range(self.partitions):
                # Nobody needs what lies before every client's cursor: do not read it.
                lowest = min((session.cursor[p] for session in fanout.subscribers), default=0)
                self.head[p] = max(self.head[p], lowest)
            try:
                batches = await self._read(list(self.head), self._batch_size)
                self.store_reads += self.partitions
                for p, commits in enumerate(batches):
                    if commits:
                        self._fan_out(p, commits)
            except Exception:
                # The reader must outlive any failure: log it, back off, try again.
                failures += 1
                delay = min(self._poll_delay * 2**failures, 5.0)
                self._log.warning(
                    "reading the commit log failed; retrying in %.1f s", delay, exc_info=True
                )
                await asyncio.sleep(delay)
                continue
            failures = 0
            if any(len(commits) >= self._batch_size for commits in batches):
                await asyncio.sleep(0)
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll_delay):
                    await self.wake.wait()

    def _fan_out(self, p: int, commits: list[Commit]) -> None:
        """Hand a batch of partition ``p`` to the fan-out: one ``ddbes.stream.fanout`` span
        for the batch (none per client or frame), then each subscribed client's queue depth."""
        if not telemetry.enabled():
            for commit in commits:
                self._publish(p, commit)
            return
        subscribers = self._fanout.subscribers
        with telemetry.span(
            "ddbes.stream.fanout",
            {
                "ddbes.log_partition": p,
                "ddbes.position.from": commits[0].position,
                "ddbes.position.to": commits[-1].position,
                "ddbes.commits": len(commits),
                "ddbes.stream.clients": len(subscribers),
            },
            kind="producer",
        ):
            for commit in commits:
                self._publish(p, commit)
        if telemetry.metering():
            for session in list(subscribers):
                telemetry.record("ddbes.stream.queue_depth", len(session.frames))

    def _publish(self, p: int, commit: Commit) -> None:
        position = commit.position or 0
        if position <= self.head[p]:
            return
        self.head[p] = position
        for session in self._fanout.publish(p, commit):
            self._log.debug("client %s is over its filter budget: pacing it", session.peer)
            session.catch_up = asyncio.create_task(self._paced(session))

    async def _paced(self, session: Session) -> None:
        self.paced.add(session)
        try:
            await self.catch_up(session)
        finally:
            self.paced.discard(session)

    async def catch_up(self, session: Session) -> None:
        """Read the log for one session from its cursor until it reaches the shared reader."""
        failures = 0
        while not session.closing:
            behind = [p for p in range(self.partitions) if session.cursor[p] < self.head[p]]
            if not behind:
                session.live = True
                return
            while len(session.frames) > self._buffer_size // 2 and not session.closing:
                session.drained.clear()
                await session.drained.wait()
            p = behind[0]
            room = max(1, self._buffer_size - len(session.frames))
            try:
                commits = await self._read_partition(
                    p, session.cursor[p], min(room, self._batch_size)
                )
            except Exception:
                failures += 1
                delay = min(self._poll_delay * 2**failures, 5.0)
                self._log.warning(
                    "catching up %s failed; retrying in %.1f s", session.peer, delay, exc_info=True
                )
                await asyncio.sleep(delay)
                continue
            failures = 0
            self.store_reads += 1
            slice_started = time.perf_counter()
            for commit in commits:
                budget = session.budget
                if budget is not None:
                    if session in self.paced:
                        budget.share(_PACED_SHARE, len(self.paced))
                    now = time.perf_counter()
                    if budget.exhausted(now):
                        await asyncio.sleep(budget.wait(now))
                        slice_started = time.perf_counter()
                    elif now - slice_started > _SLICE:
                        await asyncio.sleep(0)
                        slice_started = time.perf_counter()
                if session.closing or (commit.position or 0) <= session.cursor[p]:
                    continue
                self._fanout.deliver(session, p, commit, {}, force=True)
