"""Operating a projector: status, reset, parked commits (retry, skip), read-your-writes
(``wait_for``), and the check that a new read model does not meet an old checkpoint.

:class:`ProjectorOperations` is a base of :class:`~ddbes.projection.projector.Projector`; it
works on the projector's stores and state, and the store operations of
:class:`~ddbes.ports.CheckpointStore` (``reset``, ``parked``, ...).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from ddbes.aggregates._base import AggregateBase
from ddbes.async_ports import AsyncCheckpointStore, AsyncCommitStore
from ddbes.errors import CommitParked, ConfigurationError, ProjectionFailed, StaleCheckpoint
from ddbes.model import Commit, ParkedCommit
from ddbes.ports import CheckpointStore, CommitStore
from ddbes.projection._checkpoints import PartitionCheckpoints
from ddbes.projection._group import slot_of
from ddbes.projection._handler_calls import HandlerCalls
from ddbes.projection._parking import Parking, release
from ddbes.projection._partition import Partition
from ddbes.projection.leases import LeaseKeeper, LeaseStore
from ddbes.projection.status import ProjectorStatus, read_status
from ddbes.settings import config

__all__ = ["ProjectorOperations", "not_in_log", "stored_commit"]

T = TypeVar("T")


def stored_commit(target: object) -> tuple[str, str, int]:
    """The aggregate type, key and version of what ``wait_for`` waits for: a stored
    :class:`~ddbes.model.Commit`, or an aggregate instance's newest commit (what
    ``instance.commit(...)`` just stored).

    Raises:
        TypeError: ``target`` is neither (a position is handled before this).
        ValueError: an aggregate instance that has no commit yet.
    """
    if isinstance(target, Commit):
        return target.aggregate_type, target.aggregate_key, target.version
    if isinstance(target, AggregateBase):
        if target.version < 1:
            raise ValueError(f"{target!r} has no commit to wait for yet")
        return type(target).aggregate_type, target.key, target.version
    raise TypeError(f"wait_for takes a Commit, an aggregate instance or a position, got {target!r}")


def not_in_log(kind: str, key: str, version: int) -> ValueError:
    """What ``wait_for`` raises for a commit that the store has no position for."""
    return ValueError(
        f"{kind}:{key} version {version} has no position in the log yet: "
        "wait_for needs a stored commit"
    )


class ProjectorOperations:
    """The operations of a projector (mixed into :class:`~ddbes.projection.projector.Projector`,
    whose attributes these are)."""

    name: str
    version: int
    stored_name: str
    owner: str
    _options: dict[str, Any]
    _cond: threading.Condition
    _parts: list[Partition]
    _running: bool
    _stopping: bool
    _error: BaseException | None
    _keeper: LeaseKeeper | None
    _lease_store: LeaseStore | None
    _parking: Parking | None
    _last_error: str | None
    _calls: HandlerCalls
    _is_new: Callable[[], bool] | None
    _on_new: str
    _log: Any
    _slots: int | None
    _failure: ProjectionFailed | None
    _pump: Callable[[Partition, CommitStore], int]

    def _store_call(self, action: Callable[[], T]) -> T:
        raise NotImplementedError

    # ---------------------------------------------------------------- operations

    def status(self) -> ProjectorStatus:
        """Where this projector stands: per log partition its position and the head, lag in
        commits and seconds, parked commits, the last error; for ``version > 1`` the status of
        the previous version too (``previous``), so that you can tell when to switch.

        Reads the stores (about two reads per log partition and one query of the parked
        commits), whether or not the projector runs; while it runs here, its live positions.

        Raises:
            ConfigurationError: no commit or checkpoint store is given or configured.
            StoreUnavailable: a store cannot be reached.
        """
        commits, checkpoints = self._stores()
        with self._cond:
            live = {p.number: p.position for p in self._parts} if self._running else None
        if self._slots is not None:
            live = None  # other members hold other units: read them all
        return read_status(
            self.name, version=self.version, commits=commits, checkpoints=checkpoints,
            clock=self._options["clock"] or config.get("clock"), positions=live,
            running=self._running, error=self._last_error, slots=self._slots,
        )  # fmt: skip

    def reset(self) -> None:
        """Start again from position 0: delete this projector's checkpoints (every log
        partition) and its parked commits. Its next run handles the whole log; clear the read
        model first (or build the new one beside it with ``version=N+1``).

        Raises:
            RuntimeError: the projector runs, or (with a lease store) another process holds a
                lease of its name: stop every projector of this name first.
            ConfigurationError: no commit or checkpoint store is given or configured.
        """
        commits, checkpoints = self._stores()
        if self._running:
            raise RuntimeError(f"projector {self.stored_name!r} runs: stop it before reset()")
        if self._lease_store is not None:
            for name, part in self._work_units(commits):
                lease = self._lease_store.holder(name, part)
                if lease is not None and lease.owner != self.owner:
                    raise RuntimeError(
                        f"projector {self.stored_name!r} runs in {lease.owner} (it holds the "
                        f"lease of log partition {part}): stop it before reset()"
                    )
        self._reset_stores(commits, checkpoints)

    def parked(self) -> list[ParkedCommit]:
        """The commits this projector parked (``on_failure="park"``), one per aggregate, with
        their errors and how many later commits of their aggregates are held back."""
        _, checkpoints = self._stores()
        return checkpoints.parked(self.stored_name)

    def retry(self, aggregate_id: str | None = None) -> list[ParkedCommit]:
        """Hand parked commits to the handlers again (every parked aggregate, or the one named
        ``"<type>:<key>"``), each followed by the later commits of its aggregate held back
        behind it, in order; an aggregate whose commits all succeed is unparked. A commit whose
        handler fails again (after the usual retries) is parked in its place.

        It runs in the calling thread, while the projector runs (in this process or another)
        or not: the parked state in the checkpoint store keeps each aggregate's commits in
        order.

        Returns:
            The aggregates still parked among those it retried.

        Raises:
            KeyError: ``aggregate_id`` is not parked.
        """
        return self._release(aggregate_id, skip=False)

    def skip(self, aggregate_id: str) -> ParkedCommit | None:
        """Give up on an aggregate's parked commit (its handlers never complete it) and hand
        the later commits held back behind it to the handlers, as :meth:`retry` does.

        Returns:
            ``None`` once the aggregate is unparked; the commit parked in its place if a later
            one failed too.

        Raises:
            KeyError: ``aggregate_id`` is not parked.
        """
        left = self._release(aggregate_id, skip=True)
        return left[0] if left else None

    def wait_for(
        self, commit_or_position: Commit | AggregateBase | int, *, log_partition: int = 0,
        timeout: float | None = None,
    ) -> None:  # fmt: skip
        """Return once this projector, running in this process, has handled a commit: for an
        HTTP handler that commits and then reads the read model.

        Args:
            commit_or_position: a stored :class:`~ddbes.model.Commit` (as ``append()``
                returns it), an aggregate instance (its newest commit: the one
                ``instance.commit(...)`` just made), or a position of ``log_partition``.
            timeout: seconds to wait at most (``None``: no limit).

        Raises:
            CommitParked: the projector went past the commit but its aggregate is parked.
            TimeoutError: not handled after ``timeout`` seconds.
            RuntimeError: the projector is not running, or stopped before handling it (its
                error chained), or (with a lease store) another process holds the partition.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        position, part_number = self._position_of(commit_or_position, log_partition, timeout)
        with self._cond:
            while True:
                part = next((p for p in self._parts if p.number == part_number), None)
                if part is not None and part.position >= position:
                    break
                if not self._running or self._stopping:
                    raise RuntimeError(
                        f"projector {self.stored_name!r} is not running: it cannot handle the "
                        f"commit at position {position} of log partition {part_number}"
                    ) from self._error
                keeper = self._keeper
                if part is not None and keeper is not None and not keeper.valid(part_number):
                    raise RuntimeError(
                        f"projector {self.stored_name!r} does not hold log partition "
                        f"{part_number} here: another process handles it"
                    )
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise TimeoutError(
                        f"projector {self.stored_name!r} has not handled the commit at position "
                        f"{position} of log partition {part_number} after {timeout} s (it is at "
                        f"{0 if part is None else part.position})"
                    )
                self._cond.wait(left if left is not None else 1.0)
        parking = self._parking
        commit = commit_or_position
        if isinstance(commit, Commit) and parking and parking.is_parked(commit.aggregate_id):
            raise CommitParked(
                    f"projector {self.stored_name!r} did not handle {commit.aggregate_id} "
                    f"version {commit.version}: the aggregate is parked (projector.parked() "
                    "says why; retry() or skip() releases it)",
                    position=position, aggregate_id=commit.aggregate_id,
                    version=commit.version, log_partition=part_number,
                )  # fmt: skip

    def _check_read_model(self, commits: CommitStore, checkpoints: CheckpointStore) -> None:
        """Refuse, warn or reset when the read model looks new but the checkpoint is not."""
        if self._is_new is None:
            return
        key = self.stored_name
        saved = {p: self._store_call(partial(checkpoints.get, key, p))
                 for p in range(commits.log_partitions)}  # fmt: skip
        if not any(saved.values()) or not self._is_new():
            return
        if self._on_new == "reset":
            self._log.warning(
                "projector %r: the read model is new but the checkpoints are at %s: "
                "starting again from position 0 (on_new_read_model='reset')", key, saved,
            )  # fmt: skip
            self._reset_stores(commits, checkpoints)
            return
        message = (
            f"projector {key!r}: the read model looks new (read_model_is_new() said so) but "
            f"the saved checkpoints are at {saved} (log partition: position), so the commits "
            "before them would never reach it. Rebuild it from the start with "
            f"projector.reset() or `ddbes projector reset {self.name}"
            + (f" --version {self.version}" if self.version != 1 else "")
            + "`, or pass on_new_read_model='reset' (or 'warn' to carry on regardless)"
        )
        if self._on_new == "refuse":
            raise StaleCheckpoint(message)
        self._log.warning("%s; carrying on from the checkpoints (on_new_read_model='warn')",
                          message)  # fmt: skip

    def _stores(self) -> tuple[CommitStore, CheckpointStore]:
        commits = self._options["commit_store"] or config.get("commit_store")
        checkpoints = self._options["checkpoint_store"] or config.get("checkpoint_store")
        found = []
        for option, given in (("commit_store", commits), ("checkpoint_store", checkpoints)):
            value = given
            if value is None:
                raise ConfigurationError(
                    f"projector {self.name!r} has no {option}: pass {option}=... to Projector() "
                    f"or call ddbes.config.update({option}=...) at startup "
                    "(ddbes.memory has in-memory stores for tests)"
                )
            if isinstance(value, AsyncCommitStore | AsyncCheckpointStore):
                view = getattr(value, "as_sync", None)
                if not callable(view):
                    raise ConfigurationError(
                        f"Projector {self.name!r} got an async {option} {value!r}: run an "
                        "ddbes.AsyncProjector with it, or give this one a sync store"
                    )
                value = view()
            found.append(value)
        return found[0], found[1]

    def _work_units(self, commits: CommitStore) -> list[tuple[str, int]]:
        """The (lease and checkpoint name, number) of every unit of work."""
        partitions = commits.log_partitions
        if self._slots is None:
            return [(self.stored_name, p) for p in range(partitions)]
        name = f"{self.stored_name}#g{self._slots}"
        return [(name, unit) for unit in range(partitions * self._slots)]

    def _reset_stores(self, commits: CommitStore, checkpoints: CheckpointStore) -> None:
        key = self.stored_name
        for part in range(commits.log_partitions):
            self._store_call(partial(checkpoints.reset, key, part))
        if self._slots is not None:
            for name, unit in self._work_units(commits):
                self._store_call(partial(checkpoints.reset, name, unit))
        for parked in self._store_call(partial(checkpoints.parked, key)):
            checkpoints.delete_parked(
                key, parked.aggregate_type, parked.aggregate_key, expected=parked.held_through
            )
        self._log.info("projector %r reset: it starts again from position 0", key)

    def _release(self, aggregate_id: str | None, *, skip: bool) -> list[ParkedCommit]:
        commits, checkpoints = self._stores()
        parked = checkpoints.parked(self.stored_name)
        if aggregate_id is not None:
            parked = [p for p in parked if p.aggregate_id == aggregate_id]
            if not parked:
                raise KeyError(f"projector {self.stored_name!r} has no parked {aggregate_id}")
        log = self._options["logger"] or config.get("logger")
        idle = not self._running  # else the run opened the calls, and closes them
        if idle:
            self._calls.open(log)
        left: list[ParkedCommit] = []
        try:
            for entry in parked:
                again = release(
                    entry, name=self.stored_name, skip=skip,
                    handle=partial(self._calls.handle, log_partition=entry.log_partition),
                    commits=commits, store=checkpoints,
                    clock=self._options["clock"] or config.get("clock"),
                )  # fmt: skip
                action = "skipped" if skip else "retried"
                if again is None:
                    log.info("projector %r: %s %s and unparked it",
                             self.stored_name, action, entry.aggregate_id)  # fmt: skip
                else:
                    log.error("projector %r: %s %s, which failed again at version %d: %s",
                              self.stored_name, action, entry.aggregate_id, again.version,
                              again.error)  # fmt: skip
                    left.append(again)
        finally:
            if idle:
                self._calls.close()
        return left

    def _unit_of(self, commit: Commit, log_partition: int) -> int:
        slots = self._slots
        return log_partition if slots is None else log_partition * slots + slot_of(commit, slots)

    def _position_of(
        self, target: Commit | AggregateBase | int, log_partition: int, timeout: float | None
    ) -> tuple[int, int]:
        if isinstance(target, int) and not isinstance(target, bool):
            if self._slots is not None:
                raise ValueError("in a consumer group (slots=N) wait_for needs the Commit")
            return target, log_partition
        kind, key, version = stored_commit(target)
        if isinstance(target, Commit) and target.position is not None:
            return target.position, self._unit_of(target, target.log_partition)
        commits, _ = self._stores()
        commits.flush_log(timeout)  # a store that writes its log in the background
        for stored in commits.read_commits(kind, key, from_version=version, to_version=version):
            if stored.position is not None:
                return stored.position, self._unit_of(stored, stored.log_partition)
        raise not_in_log(kind, key, version)

    def _handle_inline(
        self, commits: CommitStore, checkpoints: PartitionCheckpoints, commit: Commit
    ) -> None:
        """In the appending thread: handle the log up to the appended commit (the loop saves
        the checkpoint)."""
        position = commit.position
        if position is None or self._stopping or self._failure is not None:
            return
        part = next((p for p in self._parts if p.number == commit.log_partition), None)
        keeper = self._keeper
        if part is None or (keeper is not None and not keeper.valid(part.number)):
            return
        with part.reading:
            while part.dispatched < position and not self._stopping and self._failure is None:
                if self._pump(part, commits) == 0:
                    break
        self._wake()

    def _wake(self) -> None:
        with self._cond:
            self._cond.notify_all()
