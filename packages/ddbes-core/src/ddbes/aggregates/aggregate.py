"""``Aggregate``: the sync shell of the aggregate core. Each method runs a core operation with
blocking store calls (:func:`~ddbes.aggregates._shells.run_sync`); the decisions are in the
core, shared with :class:`~ddbes.aggregates.async_aggregate.AsyncAggregate`."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Self

from ddbes.aggregates._base import AggregateBase
from ddbes.aggregates._committing import committing, encoded_events, writing_snapshot
from ddbes.aggregates._creating import creating, loading_or_creating
from ddbes.aggregates._loading import bounds, hydrating, loading
from ddbes.aggregates._shells import run_sync
from ddbes.aggregates.commands import aggregate_command, appending_at_head
from ddbes.aggregates.creation import create_method
from ddbes.causation import metadata_for
from ddbes.model import Commit, Event
from ddbes.retry import RetryPolicy

__all__ = ["Aggregate", "aggregate_command"]


def _missing_create(self: Aggregate, /, **props: Any) -> Any:
    raise NotImplementedError(
        f"{type(self).__name__} has no instance method create(): define "
        "`def create(self, **props): return self.commit({...})`"
    )


class Aggregate(AggregateBase):
    """An event-sourced aggregate. Subclass it, give it a ``reducer`` and commands.

    See the README and ``API.md`` for the full contract. Configuration comes from three levels,
    most specific first: ``Cls.using(...)``/constructor options, class attributes of the same
    names, then ``ddbes.config``. For asyncio code, :class:`ddbes.AsyncAggregate` has the same
    class attributes, with coroutines for the methods that do I/O.
    """

    create: Any = create_method(_missing_create)

    # ------------------------------------------------------------------ reading

    def hydrate(self, *, version: int | None = None, time: datetime | str | None = None) -> Self:
        """Bring the instance up to date, or to ``version`` / the last commit at or before ``time``.

        Raises:
            ValueError: ``version`` is negative, or ``time`` is naive or not ISO-8601.
            TypeError: ``version`` is not an int.
            ReducerFailed: the reducer or an upcaster raised on a stored event; the instance
                keeps the state and version it had.
        """
        run_sync(hydrating(self, *bounds(version, time)))
        return self

    @classmethod
    def load(
        cls,
        key: str | Mapping[str, Any] | None = None,
        *,
        version: int | None = None,
        time: datetime | str | None = None,
        fail: bool = False,
    ) -> Self | None:
        """The aggregate at its head, at ``version``, or at ``time``.

        A keyless class always returns an instance. A keyed aggregate without commits (at that
        version or time) returns ``None``, or raises ``AggregateNotFound`` when ``fail`` is set.
        """
        return run_sync(loading(cls, key, version, time, fail))

    @classmethod
    def get_state(cls, key: str | Mapping[str, Any] | None = None, **load_kwargs: Any) -> Any:
        """The loaded aggregate's state, or ``None`` when it does not exist."""
        instance = cls.load(key, **load_kwargs)
        return None if instance is None else instance.state

    @classmethod
    def instances(cls) -> Iterator[Self]:
        """Every aggregate of this type that has a commit, hydrated, in key order."""
        store = cls._probe()._settings().commit_store
        for key in store.aggregate_keys(cls.aggregate_type):
            instance = cls.load(key)
            if instance is not None:
                yield instance

    # ---------------------------------------------------------------- creating

    @classmethod
    def _create_from_props(cls, **props: Any) -> Self:
        return run_sync(creating(cls, *cls._key_and_props(props)))

    @classmethod
    def load_or_create(cls, **props: Any) -> Self:
        """Load the aggregate the props' key names, or create it (safe under concurrent callers)."""
        return run_sync(loading_or_creating(cls, props))

    # ---------------------------------------------------------------- writing

    def commit(
        self,
        event_or_events: Event | Sequence[Event] | Any,
        *,
        retry: bool | RetryPolicy = False,
        metadata: Mapping[str, Any] | None = None,
    ) -> Self:
        """Append one commit of one event (a dict) or several at ``version + 1`` and apply it.

        An aggregate that declares ``event_types`` (:class:`ddbes.typed_events.EventTypes`)
        may commit instances of its event classes. ``metadata`` is stored with the commit
        (:attr:`ddbes.Commit.metadata`: ids, a user, a tenant; a JSON object of at most 16
        KiB); the correlation and causation ids are added when the commit is made while
        handling another commit, or inside a traced request (:mod:`ddbes.causation`).

        The whole commit ends within ``commit_timeout`` seconds (an option; default 20):
        conflict retries, and the store's retries of transient failures, stop at that deadline.

        Raises:
            InvalidEvent: an event is not a JSON-serializable dict with a string ``type``.
            ReducerFailed: the reducer or an upcaster raised on an event: nothing was written.
            VersionConflict: the instance is stale (without ``retry``).
            RetriesExhausted: every retry conflicted, or the deadline came first.
            CommitInProgress: another commit on this instance is in flight.
            StoreUnavailable: the store failed past its retries or the deadline; the outcome
                is unknown (the instance is back where it was: the next load shows it).
        """
        return run_sync(committing(self, event_or_events, retry, metadata))

    @classmethod
    def append(
        cls,
        events: Event | Sequence[Event],
        key: str | Mapping[str, Any] | None = None,
        *,
        metadata: Mapping[str, Any] | None = None,
    ) -> Commit:
        """Blindly append ``events`` at the aggregate's current head version, retrying conflicts.

        No state is loaded: only the head commit is read, and the reducer does not run, so an
        event it would reject is stored and makes ``load`` raise ``ReducerFailed`` (an upcaster
        is the way forward). Returns the stored commit.
        """
        probe = cls(key)
        normalized = encoded_events(probe, events)
        settings = probe._settings()
        return run_sync(
            appending_at_head(
                settings.commit_store,
                clock=settings.clock,
                aggregate_type=cls.aggregate_type,
                aggregate_key=probe.key,
                events=normalized,
                timeout=settings.commit_timeout,
                metadata=metadata_for(metadata),
            )
        )

    def write_snapshot(self) -> None:
        """Store a snapshot of the current state now.

        Raises:
            ConfigurationError: no snapshot store is configured.
            ValueError: the state is not JSON-compatible.
            StoreUnavailable: the snapshot store failed.
        """
        run_sync(writing_snapshot(self, self._settings()))
