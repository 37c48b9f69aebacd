"""Parked commits: a projector with ``on_failure="park"`` sets aside a commit whose handler kept
failing, holds back the later commits of its aggregate, and goes on with the others.

The parked state lives in the checkpoint store (:meth:`~ddbes.ports.CheckpointStore.put_parked`
and its siblings), never only in memory, and every change to it is one conditional write:

* parking stores the commit only if its aggregate has none parked (after a crash the same
  commit fails again: then it is held, which changes nothing);
* holding moves the aggregate's ``held_through`` to the held commit's position, only while the
  aggregate is parked; a projector that finds it unparked (retried or skipped meanwhile,
  perhaps by another process) handles the commit as usual;
* releasing (retry, skip) handles the parked commit and the held ones in log order, then
  unparks the aggregate only if nothing was held since it read ``held_through``; if something
  was, it handles that too and tries again. So an aggregate's commits are handled in order
  whichever process releases it, while the projector runs or not.

Each operation is written once as steps (:mod:`ddbes.projection._steps`), run by the sync
projector on a sync checkpoint store and by the async one on an async store.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ddbes.errors import ProjectionFailed
from ddbes.model import Commit, ParkedCommit
from ddbes.ports import CheckpointStore, Clock, CommitStore
from ddbes.projection._steps import Call, Steps, collect, run_sync, store_call
from ddbes.retry import RetryPolicy

__all__ = ["POLICIES", "Parking", "release", "release_steps"]

POLICIES = ("stop", "park")
"""The values of ``Projector(on_failure=...)``."""


def _error_text(failure: ProjectionFailed) -> str:
    cause = failure.__cause__
    return repr(cause) if cause is not None else str(failure)


class Parking:
    """A running projector's parked aggregates: which commits to hold back, and parking more.

    The sync methods run on a :class:`~ddbes.ports.CheckpointStore`; the ``*_steps`` ones
    are the same operations for either kind of store.

    Args:
        store: the checkpoint store (sync, or async through the ``*_steps`` methods only).
        name: the projector's stored name (with its version).
        clock: stamps ``parked_at``.
        log: the projector's logger.
        retry, nap: store calls are retried by ``retry`` while the store is unavailable,
            sleeping with ``nap`` (a coroutine function for an async store).
    """

    def __init__(
        self,
        store: Any,
        *,
        name: str,
        clock: Clock,
        log: Any,
        retry: RetryPolicy,
        nap: Callable[[float], Any],
    ) -> None:
        self._store = store
        self._name = name
        self._clock = clock
        self._log = log
        self._retry = retry
        self._nap = nap
        self._lock = threading.Lock()
        self._aggregates: set[str] = set()
        self.last_error: str | None = None

    def _call(self, function: Callable[..., Any], *args: Any) -> Steps[Any]:
        return store_call(function, *args, policy=self._retry, nap=self._nap)

    def load(self) -> None:
        """Read which aggregates are parked (at start, and when a partition is taken over)."""
        run_sync(self.load_steps())

    def holds(self, commit: Commit) -> bool:
        """Hold ``commit`` back if its aggregate is parked: :meth:`holds_steps`."""
        if not self._aggregates:  # the usual case, once per commit: keep it cheap
            return False
        return run_sync(self.holds_steps(commit))

    def park(self, commit: Commit, log_partition: int, failure: ProjectionFailed) -> None:
        """Park ``commit``, whose handler kept failing (``failure``), and log it."""
        run_sync(self.park_steps(commit, log_partition, failure))

    def load_steps(self) -> Steps[None]:
        """Read which aggregates are parked."""
        parked: list[ParkedCommit] = yield from self._call(self._store.parked, self._name)
        with self._lock:
            self._aggregates = {p.aggregate_id for p in parked}
        if parked and self.last_error is None:
            self.last_error = max(parked, key=lambda p: p.parked_at).error

    @property
    def count(self) -> int:
        """How many aggregates this projector knows to be parked."""
        return len(self._aggregates)

    def is_parked(self, aggregate_id: str) -> bool:
        """Whether the aggregate is parked, as far as this projector knows."""
        return aggregate_id in self._aggregates

    def holds_steps(self, commit: Commit) -> Steps[bool]:
        """Hold ``commit`` back if its aggregate is parked; ``False``: handle it as usual."""
        aggregate = commit.aggregate_id
        if aggregate not in self._aggregates:
            return False
        held: bool = yield from self._call(
            self._store.hold,
            self._name, commit.aggregate_type, commit.aggregate_key, commit.position or 0,
        )  # fmt: skip
        if not held:  # released meanwhile
            with self._lock:
                self._aggregates.discard(aggregate)
        return held

    def park_steps(
        self, commit: Commit, log_partition: int, failure: ProjectionFailed
    ) -> Steps[None]:
        """Park ``commit``, whose handler kept failing (``failure``), and log it."""
        error = _error_text(failure)
        parked = ParkedCommit(
            aggregate_type=commit.aggregate_type,
            aggregate_key=commit.aggregate_key,
            log_partition=log_partition,
            position=commit.position or 0,
            version=commit.version,
            commit_id=commit.commit_id,
            error=error,
            parked_at=self._clock.now(),
            held_through=commit.position or 0,
        )
        stored: bool = yield from self._call(self._store.put_parked, self._name, parked)
        if not stored:  # parked before this commit was handled again (after a crash)
            yield from self._call(
                self._store.hold,
                self._name, commit.aggregate_type, commit.aggregate_key, parked.position,
            )  # fmt: skip
        with self._lock:
            self._aggregates.add(commit.aggregate_id)
        self.last_error = error
        self._log.error(
            "projector %r parked %s version %d (position %d of log partition %d): %s; its later "
            "commits are held back until it is retried or skipped",
            self._name, commit.aggregate_id, commit.version, parked.position, log_partition,
            error,
        )  # fmt: skip


def release(
    parked: ParkedCommit,
    *,
    name: str,
    skip: bool,
    handle: Callable[[Commit], None],
    commits: CommitStore,
    store: CheckpointStore,
    clock: Clock,
) -> ParkedCommit | None:
    """Handle a parked aggregate's commits and unpark it, in this thread: :func:`release_steps`."""
    return run_sync(
        release_steps(
            parked, name=name, skip=skip, handle=handle, commits=commits, store=store, clock=clock
        )
    )


def release_steps(
    parked: ParkedCommit,
    *,
    name: str,
    skip: bool,
    handle: Callable[[Commit], Any],
    commits: Any,
    store: Any,
    clock: Clock,
) -> Steps[ParkedCommit | None]:
    """Handle a parked aggregate's commits (the parked one too unless ``skip``) and unpark it.

    Reads the log partition from the parked commit through ``held_through``, handling the
    aggregate's commits in order. ``handle`` (a function, or a coroutine function with async
    stores) raises :class:`ProjectionFailed` when a handler keeps failing: that commit is
    parked in place of the first (the held ones stay held).

    Returns:
        ``None`` once unparked (or if another process released it first); the aggregate's new
        parked commit if a handler failed again.
    """
    aggregate, current = parked.aggregate_id, parked
    after = parked.position if skip else parked.position - 1
    passed = 0  # held commits reached so far (handled, or the one that failed)
    while True:
        through = current.held_through
        while after < through:
            batch: list[Commit] = yield Call(
                collect,
                (
                    commits.read_log(
                        after=after,
                        log_partition=parked.log_partition,
                        limit=min(500, through - after),
                    ),
                ),
            )
            if not batch:  # the log ends before held_through: nothing more to hand over
                after = through
                break
            for commit in batch:
                position = commit.position or 0
                if position > through:
                    break
                if commit.aggregate_id == aggregate:
                    passed += position > parked.position
                    try:
                        yield Call(handle, (commit,))
                    except ProjectionFailed as failure:
                        again = replace(
                            current,
                            position=position,
                            version=commit.version,
                            commit_id=commit.commit_id,
                            error=_error_text(failure),
                            parked_at=clock.now(),
                            held=max(current.held - passed, 0),  # those behind it
                        )
                        if (yield Call(store.put_parked, (name, again), {"expected": through})):
                            return again
                        break  # held more meanwhile: read it again below
                after = position
            else:
                continue
            break
        if after >= through and (
            yield Call(
                store.delete_parked,
                (name, parked.aggregate_type, parked.aggregate_key),
                {"expected": through},
            )
        ):
            return None
        found = [p for p in (yield Call(store.parked, (name,))) if p.aggregate_id == aggregate]
        if not found:
            return None
        current = found[0]
