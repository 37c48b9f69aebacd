"""The ports: what the core needs from the outside world.

Each port is an abstract base class whose docstrings are the specification every adapter must
meet, including the exact :mod:`ddbes.errors` it raises. The contract suites in
:mod:`ddbes.testing.contracts` check an adapter against them. These ports are synchronous (boto3
is); :mod:`ddbes.async_ports` holds their asyncio twins, with the same contracts.
"""

from __future__ import annotations

import asyncio
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime

from ddbes.errors import CheckpointConflict
from ddbes.model import Commit, ParkedCommit, Snapshot

__all__ = ["AppendListeners", "CheckpointStore", "Clock", "CommitStore", "SnapshotStore"]


class AppendListeners:
    """In-process listeners for the commits a store object put into the global log; shared by
    :class:`CommitStore` and :class:`ddbes.async_ports.AsyncCommitStore`."""

    _append_listeners: tuple[Callable[[Commit], object], ...] = ()

    def add_append_listener(self, listener: Callable[[Commit], object]) -> Callable[[], None]:
        """Call ``listener(commit)`` for every commit that *this* store object put into the
        global log, with its position: after the append, in the appending thread, when the store
        gives positions as part of the append; in the sequencing thread when it writes the log
        in the background (then commits appended by other processes may be heard too). A
        retried append of a stored ``commit_id`` may be heard again. An event stream server in
        the same process uses it to push commits at once instead of at its next poll.

        Returns:
            A function that removes the listener. A listener that raises is logged and ignored:
            the commit is stored whatever a listener does.
        """
        self._append_listeners = (*self._append_listeners, listener)

        def remove() -> None:
            self._append_listeners = tuple(
                other for other in self._append_listeners if other is not listener
            )

        return remove

    def _appended(self, commit: Commit) -> Commit:
        """Tell the append listeners about a stored commit; returns it."""
        for listener in self._append_listeners:
            try:
                listener(commit)
            except Exception:
                logging.getLogger("ddbes").exception("an append listener failed")
        return commit


class CommitStore(AppendListeners, ABC):
    """The commit log: every aggregate's commits, and one global log of them all.

    Guarantees every implementation gives:

    * **Atomic, optimistic appends.** A commit is stored whole or not at all, at exactly the
      version it names; a version that another commit holds is a :class:`VersionConflict`.
    * **Idempotent by** ``commit_id``. Appending a commit whose ``commit_id`` is already stored at
      that version returns the stored commit and writes nothing, so a write whose outcome is
      unknown (a timeout, :class:`StoreUnavailable`) is retried safely with the same commit.
    * **A global log that never loses a commit.** The log is split into ``log_partitions``
      (an aggregate maps to one by :func:`ddbes.model.log_partition_for`). Within a partition each
      stored commit gets the next dense position: 1, 2, 3, ... with no hole and no duplicate,
      and the commits of one aggregate in version order; a reader that resumes after position
      ``p`` sees every commit that enters the log after ``p``. A store may give positions as
      part of the append (the in-memory store, DynamoDB tables with ``sequencing="inline"``) or
      shortly after it, in the background (DynamoDB's default): then :meth:`append` returns
      the commit with ``position=None`` and :meth:`flush_log` waits for its position.
    * **Isolated keys.** An aggregate key never reads another key's commits, whatever characters
      the keys contain (``"a"``, ``"a:5"``, ``"a.b"``).
    * **Reads are strongly consistent** and follow every page of the backend.

    Append listeners (:meth:`add_append_listener`) are an in-process courtesy, not a port
    method to implement: an adapter calls :meth:`_appended` for each commit that *this store
    object* put into the global log (with its position).
    """

    @property
    @abstractmethod
    def log_partitions(self) -> int:
        """The number of global log partitions (fixed when the store is created)."""

    @abstractmethod
    def append(self, commit: Commit) -> Commit:
        """Store ``commit`` (whose ``position`` is ignored) atomically.

        Args:
            commit: a commit at the version after the aggregate's newest (``1`` for a new one),
                with at least one event, a non-empty
                ``aggregate_type`` and ``aggregate_key``, and an aware ``committed_at``.

        Returns:
            The commit as stored, with its ``log_partition`` set, and its ``position`` when the
            store gives positions as part of the append (``None`` when the log is written in the
            background: :meth:`flush_log` waits for it). When a commit with the same
            ``commit_id`` is already stored at that version, that stored commit.

        Raises:
            VersionConflict: another commit holds this version; nothing was written. A store
                may also refuse a version that would leave a gap (the in-memory store does).
            CommitTooLarge: the commit cannot be stored in one item; nothing was written.
            StoreUnavailable: the backend failed or timed out; the outcome is unknown, so retry
                with the same commit.
            ConfigurationError: the backing table or resource does not exist.
            InvalidEvent: an event is not a JSON object with a non-empty string ``"type"``
                and string keys, nests deeper than 32 levels, or holds NaN, an infinity, a lone
                surrogate or another value JSON cannot hold; nothing was written.
            ValueError: the commit is malformed (version below 1, empty type or key, no events,
                a naive ``committed_at``), or its type or key is over a limit every store holds
                to, DynamoDB's: not valid Unicode, a key over 1024 UTF-8 bytes, or type and key
                over 2040 bytes together.
        """

    def append_all(self, commits: Sequence[Commit]) -> list[Commit]:
        """Store ``commits``, each on a different aggregate, **atomically**: all or none.

        Every guarantee of :meth:`append` holds for each commit; in addition:

        * **All or nothing.** When any commit conflicts, none is written, and the
          :class:`VersionConflict` names that commit's aggregate.
        * **Together in the log.** The commits of the unit that share a log partition take
          consecutive positions there, in the order given, with no other commit between them
          (commits in different partitions are in their own partitions' logs).
        * **Idempotent** by the commits' ids: appending the same unit again after an unknown
          outcome returns the stored commits and writes nothing.

        The limits are DynamoDB's for one transaction, held by every store:
        :data:`ddbes._validation.MAX_UNIT_COMMITS` commits and
        :data:`ddbes._validation.MAX_UNIT_BYTES` (each commit counted twice).

        Returns:
            The commits as stored, in the order given (see :meth:`append`).

        Raises:
            VersionConflict: a commit's version is taken or would leave a gap; nothing was
                written. Its ``aggregate_id`` names the aggregate.
            CommitTooLarge: a commit or the unit is over a limit (the message names it);
                nothing was written.
            ValueError: no commit, two commits of one aggregate, or a malformed commit.
            NotImplementedError: the store does not support atomic units (this default).
            StoreUnavailable, ConfigurationError, InvalidEvent: as for :meth:`append`.
        """
        raise NotImplementedError(
            f"{type(self).__name__} cannot append atomic units: implement "
            "CommitStore.append_all (ddbes.testing.contracts checks it), or use "
            "ddbes.memory.InMemoryCommitStore or ddbes_dynamodb.DynamoDBCommitStore"
        )

    @abstractmethod
    def read_commits(
        self,
        aggregate_type: str,
        aggregate_key: str,
        *,
        from_version: int = 1,
        to_version: int | None = None,
        until: datetime | None = None,
        descending: bool = False,
        limit: int | None = None,
    ) -> Iterator[Commit]:
        """One aggregate's commits, ordered by version.

        Args:
            from_version: the lowest version to return (inclusive).
            to_version: the highest version to return (inclusive); ``None`` for no bound.
            until: return only commits with ``committed_at <= until`` (an aware datetime).
            descending: newest first.
            limit: at most this many commits (``None``: all of them).

        Returns:
            An iterator that fetches further pages lazily; each commit has its ``position``.

        Raises:
            StoreUnavailable, ConfigurationError: as for :meth:`append`.
        """

    @abstractmethod
    def read_log(
        self, *, after: int = 0, log_partition: int = 0, limit: int | None = None
    ) -> Iterator[Commit]:
        """The global log of one partition, strictly after position ``after``, in order.

        Returns:
            Commits with positions ``after + 1, after + 2, ...`` with no gap, up to the head at
            the time of reading (or ``limit`` commits).

        Raises:
            ValueError: ``log_partition`` is not below :attr:`log_partitions`, or ``after < 0``.
            StoreUnavailable, ConfigurationError: as for :meth:`append`.
        """

    def flush_log(self, timeout: float | None = None) -> None:
        """Wait until every commit appended through this store object is in the global log.

        A store that gives positions as part of the append has nothing to wait for (this
        default returns at once). A store that writes the log in the background sequences what
        is pending itself if it has to, so this returns even when no other process sequences.

        Args:
            timeout: the most seconds to wait; ``None`` waits as long as it takes.

        Raises:
            StoreUnavailable: the backend failed, or ``timeout`` passed first (the commits are
                stored either way; only their log positions are not known yet).
        """
        return None

    @abstractmethod
    def head_position(self, log_partition: int = 0) -> int:
        """The position of the newest commit in a log partition; 0 when it is empty.

        Raises:
            ValueError: ``log_partition`` is not below :attr:`log_partitions`.
            StoreUnavailable, ConfigurationError: as for :meth:`append`.
        """

    @abstractmethod
    def aggregate_keys(self, aggregate_type: str) -> Iterator[str]:
        """The keys of every aggregate of ``aggregate_type`` that has a commit, each once, sorted.

        Raises:
            StoreUnavailable, ConfigurationError: as for :meth:`append`.
        """


class SnapshotStore(ABC):
    """The latest snapshot of each aggregate. A cache: losing one only costs a replay."""

    fetch_in_parallel: bool = False
    """True for a store whose ``get()`` waits on the network (S3): a load then reads the
    aggregate's newest commits while the snapshot is fetched, instead of after it."""

    @abstractmethod
    def get(self, aggregate_type: str, aggregate_key: str) -> Snapshot | None:
        """The latest snapshot of an aggregate, or ``None`` if there is none.

        Raises:
            SnapshotUnreadable: a snapshot is stored but cannot be decoded.
            StoreUnavailable: the backend failed or cannot be reached.
        """

    @abstractmethod
    def put(self, snapshot: Snapshot) -> None:
        """Store ``snapshot``, replacing the aggregate's previous one.

        Raises:
            ValueError: the state is not JSON-compatible.
            StoreUnavailable: the backend failed or cannot be reached.
        """

    @abstractmethod
    def delete(self, aggregate_type: str, aggregate_key: str) -> None:
        """Remove an aggregate's snapshot; no error when there is none.

        Raises:
            StoreUnavailable: the backend failed or cannot be reached.
        """

    @abstractmethod
    def clear(self, aggregate_type: str | None = None) -> None:
        """Remove every snapshot of ``aggregate_type``, or every snapshot this store holds.

        Removes only what this store wrote (its own prefix, table or namespace), every page of it.

        Raises:
            StoreUnavailable: the backend failed or cannot be reached.
        """


class CheckpointStore(ABC):
    """Where projectors keep their position in each log partition."""

    @abstractmethod
    def get(self, name: str, log_partition: int = 0) -> int:
        """The saved position of projector ``name`` in a log partition; 0 when none is saved.

        Raises:
            StoreUnavailable: the backend failed or cannot be reached.
        """

    @abstractmethod
    def save(self, name: str, position: int, log_partition: int = 0) -> None:
        """Move the checkpoint forward to ``position``. Saving the current position is a no-op.

        Raises:
            CheckpointConflict: the stored position is beyond ``position``; it is left as is.
            ValueError: ``position`` is negative.
            StoreUnavailable: the backend failed or cannot be reached.
        """

    def advance(self, name: str, position: int, log_partition: int = 0, *, expected: int) -> None:
        """Move the checkpoint to ``position``, only if it is still at ``expected``.

        A projector saves with this, ``expected`` being what it last read or saved, so that a
        second projector of the same name moving the checkpoint under it is noticed.

        This default reads, then saves, which misses a move made between the two calls; adapters
        override it with one conditional write (the in-memory and DynamoDB stores do).

        Raises:
            CheckpointConflict: the stored position is not ``expected`` (``current`` says where
                it is); it is left as is.
            ValueError: ``position`` is negative or below ``expected``.
            StoreUnavailable: the backend failed or cannot be reached.
        """
        check_advance(position, expected)
        current = self.get(name, log_partition)
        if current != expected:
            raise CheckpointConflict(
                moved_message(name, log_partition, current, expected), current=current
            )
        self.save(name, position, log_partition)

    # Operations (issue 15). Not abstract, so that adapters written before them keep working:
    # these defaults say the adapter cannot do them.

    def reset(self, name: str, log_partition: int = 0, *, position: int = 0) -> None:
        """Set the checkpoint to ``position``, backwards too, whatever it is now; 0 deletes it.

        For rebuilding a read model from the start (:meth:`ddbes.Projector.reset`). Run it only
        while no projector of this name runs: one that is running saves over it.

        Raises:
            ValueError: ``position`` is negative, or ``name`` is longer than
                :data:`MAX_NAME_BYTES` in UTF-8.
            StoreUnavailable: the backend failed or cannot be reached.
            NotImplementedError: this adapter cannot reset checkpoints.
        """
        raise _cannot(self, "reset checkpoints")

    def parked(self, name: str) -> list[ParkedCommit]:
        """The commits projector ``name`` parked (one per aggregate), by log partition and position.

        Raises:
            StoreUnavailable: the backend failed or cannot be reached.
            NotImplementedError: this adapter cannot park commits.
        """
        raise _cannot(self, "park commits")

    def put_parked(self, name: str, parked: ParkedCommit, *, expected: int | None = None) -> bool:
        """Park a commit of an aggregate, or replace the aggregate's parked commit.

        With ``expected=None`` it stores ``parked`` only if the aggregate has no parked commit;
        with ``expected`` only if it has one whose ``held_through`` is ``expected``. One
        conditional write. ``parked.error`` is cut to :data:`~ddbes.model.PARKED_ERROR_CHARS`.

        Returns:
            Whether it was stored; ``False`` leaves the store as it was.

        Raises:
            ValueError: ``name`` is longer than :data:`MAX_NAME_BYTES` in UTF-8, or a position,
                version or count is negative.
            StoreUnavailable: the backend failed or cannot be reached.
            NotImplementedError: this adapter cannot park commits.
        """
        raise _cannot(self, "park commits")

    def hold(self, name: str, aggregate_type: str, aggregate_key: str, position: int) -> bool:
        """Hold back a later commit (at ``position``) of an aggregate that has a parked commit:
        ``held_through`` becomes the larger of the two and ``held`` counts it (a position at or
        below ``held_through`` changes nothing: a commit handled again after a crash). One
        conditional write.

        Returns:
            ``True`` if the aggregate has a parked commit; ``False`` (nothing stored) if not.

        Raises:
            StoreUnavailable: the backend failed or cannot be reached.
            NotImplementedError: this adapter cannot park commits.
        """
        raise _cannot(self, "park commits")

    def delete_parked(
        self, name: str, aggregate_type: str, aggregate_key: str, *, expected: int
    ) -> bool:
        """Unpark an aggregate, only if its ``held_through`` is still ``expected`` (no commit
        was held back since its caller read it). One conditional write.

        Returns:
            Whether it was deleted; ``False`` when it moved on or is gone.

        Raises:
            StoreUnavailable: the backend failed or cannot be reached.
            NotImplementedError: this adapter cannot park commits.
        """
        raise _cannot(self, "park commits")


MAX_NAME_BYTES = 1024
"""The longest projector name (UTF-8) a checkpoint store resets or parks under."""


def check_operation(name: str, *numbers: int) -> None:
    """Refuse what every :class:`CheckpointStore` refuses in ``reset`` and ``put_parked``."""
    if not isinstance(name, str) or not name or len(name.encode()) > MAX_NAME_BYTES:
        raise ValueError(
            f"a projector name must be a non-empty string of at most {MAX_NAME_BYTES} bytes "
            f"(UTF-8), got {name[:40] if isinstance(name, str) else name!r}"
        )
    for number in numbers:
        if not isinstance(number, int) or isinstance(number, bool) or number < 0:
            raise ValueError(f"checkpoint positions and counts are ints >= 0, got {number!r}")


def _cannot(store: object, what: str) -> NotImplementedError:
    return NotImplementedError(
        f"{type(store).__name__} cannot {what}: implement CheckpointStore.reset, parked, "
        "put_parked, hold and delete_parked (ddbes.testing.contracts checks them), or use "
        "ddbes.memory.InMemoryCheckpointStore or ddbes_dynamodb.DynamoDBCheckpointStore"
    )


def check_advance(position: int, expected: int) -> None:
    """Refuse a checkpoint advance that is not a move forward from a valid position."""
    for label, value in (("position", position), ("expected", expected)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"a checkpoint {label} must be an int >= 0, got {value!r}")
    if position < expected:
        raise ValueError(f"a checkpoint only moves forward: {expected} -> {position} is back")


def moved_message(name: str, log_partition: int, current: int, expected: int) -> str:
    """The message of a :class:`CheckpointConflict` for a checkpoint moved by someone else."""
    return (
        f"checkpoint {name!r} of log partition {log_partition} is at {current}, not at "
        f"{expected} as expected: another projector of this name moved it"
    )


class Clock(ABC):
    """A source of the current time, and the one way ddbes waits.

    Every pause ddbes makes (between retries of a conflicting command, say) goes through
    :meth:`sleep` or :meth:`async_sleep`, and every deadline it keeps is measured with
    :meth:`monotonic`, so that a test clock (:class:`ddbes.testing.ManualClock`) controls them
    all. Only :meth:`now` is abstract: the others default to the machine's.
    """

    @abstractmethod
    def now(self) -> datetime:
        """The current time, as an aware UTC datetime."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back, for deadlines (``time.monotonic()``)."""
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        """Block the calling thread for ``seconds`` (``time.sleep``)."""
        time.sleep(seconds)

    async def async_sleep(self, seconds: float) -> None:
        """Suspend the calling task for ``seconds`` (``asyncio.sleep``)."""
        await asyncio.sleep(seconds)
