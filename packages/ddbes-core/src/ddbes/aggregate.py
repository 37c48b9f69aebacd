"""Aggregates: state rebuilt from commits, changed by committing new events."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from logging import Logger
from typing import Any, ClassVar, Self, cast

from ddbes._reducing import fold_commit
from ddbes.codec import normalize_events, parse_time
from ddbes.commands import (
    aggregate_command,
    append_at_head,
    append_idempotently,
    as_policy,
    new_commit,
)
from ddbes.creation import create_method
from ddbes.errors import (
    AggregateNotFound,
    CommitInProgress,
    ConfigurationError,
    InvalidEvent,
    ReducerFailed,
    VersionConflict,
)
from ddbes.keys import KEYLESS, KeyPart, KeySchema, key_from_props, normalize_schema
from ddbes.model import Commit, Event, Snapshot
from ddbes.ports import Clock, CommitStore, SnapshotStore
from ddbes.retry import RetryPolicy, call_with_retries
from ddbes.settings import OPTION_NAMES, config, require_commit_store, validate_options
from ddbes.snapshot_loading import start_load
from ddbes.upcasting import Upcasters, upcasters_checksum

__all__ = ["Aggregate", "aggregate_command"]


_Point = tuple[Any, int, str | None, datetime | None]
"""An instance's state, version, head commit id and time."""
_IMMUTABLE = frozenset({type(None), bool, int, float, complex, str, bytes})


@dataclass(frozen=True, slots=True)
class _Settings:
    commit_store: CommitStore
    snapshot_store: SnapshotStore | None
    snapshots: bool
    snapshots_frequency: int
    clock: Clock
    logger: Logger


def _missing_create(self: Aggregate, /, **props: Any) -> Any:
    raise NotImplementedError(
        f"{type(self).__name__} has no instance method create(): define "
        "`def create(self, **props): return self.commit({...})`"
    )


class Aggregate:
    """An event-sourced aggregate. Subclass it, give it a ``reducer`` and commands.

    See the README and ``API.md`` for the full contract. Configuration comes from three levels,
    most specific first: ``Cls.using(...)``/constructor options, class attributes of the same
    names, then ``ddbes.config``.
    """

    key_schema: ClassVar[KeySchema | None] = None
    key_separator: ClassVar[str] = "."
    aggregate_type: ClassVar[str] = "Aggregate"
    upcasters: ClassVar[Upcasters] = {}
    snapshot_version: ClassVar[int | str] = 0

    _key_parts: ClassVar[tuple[KeyPart, ...] | None] = None
    _checksum: ClassVar[str] = upcasters_checksum({}, 0)

    create: Any = create_method(_missing_create)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = cls.__dict__
        if not own.get("_ddbes_variant") and "aggregate_type" not in own:
            cls.aggregate_type = cls.__name__
        if not isinstance(cls.aggregate_type, str) or not cls.aggregate_type:
            raise TypeError(f"{cls.__name__}.aggregate_type must be a non-empty string")
        if not isinstance(cls.key_separator, str) or not cls.key_separator:
            raise TypeError(f"{cls.__name__}.key_separator must be a non-empty string")
        validate_options(
            {k: v for k, v in own.items() if k in OPTION_NAMES}, f"class {cls.__name__}"
        )
        cls._key_parts = normalize_schema(cls.key_schema)
        cls._checksum = upcasters_checksum(cls.upcasters, cls.snapshot_version)
        if "create" in own and not isinstance(own["create"], create_method):
            cls.create = create_method(own["create"])

    def __init__(self, key: str | Mapping[str, Any] | None = None, **options: Any) -> None:
        validate_options(options, f"{type(self).__name__}()")
        self.key: str = type(self)._key_string(key)
        self._options = options
        self.state: Any = None
        self.version = 0
        self.head_commit_id: str | None = None
        self.head_committed_at: datetime | None = None
        self._committing = threading.Lock()
        self._cached_settings: tuple[int, _Settings] | None = None

    # ----------------------------------------------------------------- identity

    @property
    def aggregate_id(self) -> str:
        """``"<aggregate_type>:<key>"``."""
        return f"{self.aggregate_type}:{self.key}"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.key!r} version={self.version} state={self.state!r}>"

    @classmethod
    def _key_string(cls, key: str | Mapping[str, Any] | None) -> str:
        if cls._key_parts is None:
            if key not in (None, KEYLESS) and not (isinstance(key, Mapping) and not key):
                raise ValueError(
                    f"{cls.__name__} has no key_schema: it has one instance, key {KEYLESS!r}"
                )
            return KEYLESS
        if key is None:
            names = ", ".join(part.name for part in cls._key_parts)
            raise ValueError(
                f"{cls.__name__} needs a key: pass the key string or a mapping of {names}"
            )
        if isinstance(key, Mapping):
            return key_from_props(cls._key_parts, key, cls.key_separator)[0]
        if not isinstance(key, str) or not key:
            raise ValueError(f"a key of {cls.__name__} must be a non-empty string, got {key!r}")
        return key

    # ------------------------------------------------------------ configuration

    @classmethod
    def _probe(cls) -> Self:
        """An instance that only serves to resolve the class's configuration."""
        return cls(None if cls._key_parts is None else "-")

    @classmethod
    def using(cls, **options: Any) -> type[Self]:
        """A variant of this class bound to ``options`` (same aggregate type and key schema).

        Raises:
            TypeError: an unknown option name.
        """
        validate_options(options, f"{cls.__name__}.using()")
        namespace = {
            **options,
            "_ddbes_variant": True,
            "__module__": cls.__module__,
            "__qualname__": cls.__qualname__,
            "__doc__": cls.__doc__,
        }
        return cast("type[Self]", type(cls.__name__, (cls,), namespace))

    def _option(self, name: str) -> Any:
        value = self._options.get(name)
        if value is not None:
            return value
        for klass in type(self).__mro__:
            value = klass.__dict__.get(name)
            if value is not None:
                return value
        return config.get(name)

    def _settings(self) -> _Settings:
        cached = self._cached_settings
        if cached is not None and cached[0] == config.generation:
            return cached[1]
        settings = self._resolve_settings()
        self._cached_settings = (config.generation, settings)
        return settings

    def _resolve_settings(self) -> _Settings:
        store = require_commit_store(self._option("commit_store"), type(self).__name__)
        snapshots = bool(self._option("snapshots"))
        snapshot_store = self._option("snapshot_store")
        if snapshots and snapshot_store is None:
            raise ConfigurationError(
                f"{type(self).__name__} has snapshots=True but no snapshot_store: configure one "
                "(ddbes_s3.S3SnapshotStore, or ddbes.memory.InMemorySnapshotStore for tests)"
            )
        return _Settings(
            commit_store=store,
            snapshot_store=snapshot_store,
            snapshots=snapshots,
            snapshots_frequency=int(self._option("snapshots_frequency")),
            clock=self._option("clock"),
            logger=self._option("logger"),
        )

    # -------------------------------------------------------------- the reducer

    @staticmethod
    def reducer(state: Any, event: Event, commit: Commit) -> Any:
        """Return the state after ``event``. ``state`` is ``None`` before the first event."""
        raise NotImplementedError(
            "define reducer(state, event, commit) -> new_state on the aggregate"
        )

    def _apply(self, commit: Commit) -> None:
        """Fold a stored commit into the instance (the caller restores it when this raises)."""
        self.state = fold_commit(
            self.state, commit, self.reducer, type(self).upcasters, stored=True
        )
        self._advance(commit)

    def _advance(self, commit: Commit) -> None:
        self.version = commit.version
        self.head_commit_id = commit.commit_id
        self.head_committed_at = commit.committed_at

    def _reset(self) -> None:
        self.state = None
        self.version = 0
        self.head_commit_id = None
        self.head_committed_at = None

    def _point(self) -> _Point:
        return (self.state, self.version, self.head_commit_id, self.head_committed_at)

    def _restore(self, point: _Point, settings: _Settings) -> None:
        """Put the instance back at ``point`` after a reducer may have changed its state in place.

        Only failures pay for this: a state that cannot change in place is put back, any other is
        rebuilt from the commits (states are never copied). When they cannot be read, the
        instance is emptied (version 0): the next ``hydrate()`` rebuilds it.
        """
        if type(point[0]) in _IMMUTABLE:
            self.state, self.version, self.head_commit_id, self.head_committed_at = point
            return
        self._reset()
        version = point[1]
        try:
            self._hydrate(settings, version, None)
        except Exception as exc:
            self._reset()
            settings.logger.warning(
                "could not rebuild %s at version %d after a failed commit or load; the instance "
                "is now empty (version 0): hydrate() it again: %s",
                self.aggregate_id,
                version,
                exc,
            )

    # ------------------------------------------------------------------ reading

    def hydrate(self, *, version: int | None = None, time: datetime | str | None = None) -> Self:
        """Bring the instance up to date, or to ``version`` / the last commit at or before ``time``.

        Raises:
            ValueError: ``version`` is negative, or ``time`` is naive or not ISO-8601.
            TypeError: ``version`` is not an int.
            ReducerFailed: the reducer or an upcaster raised on a stored event; the instance
                keeps the state and version it had.
        """
        if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
            raise TypeError(f"version must be an int, got {version!r}")
        if version is not None and version < 0:
            raise ValueError(f"version must be >= 0, got {version}")
        until = parse_time(time) if time is not None else None
        settings = self._settings()
        before = self._point()
        try:
            self._hydrate(settings, version, until)
        except (ReducerFailed, InvalidEvent):
            self._restore(before, settings)
            raise
        return self

    def _hydrate(self, settings: _Settings, version: int | None, until: datetime | None) -> None:
        if (version is not None and version < self.version) or (
            until is not None
            and self.head_committed_at is not None
            and until < self.head_committed_at
        ):
            self._reset()
        if version is not None and version == self.version:
            return
        if settings.snapshots:
            self._hydrate_from_snapshot(settings, version, until)
            return
        for commit in settings.commit_store.read_commits(
            self.aggregate_type,
            self.key,
            from_version=self.version + 1,
            to_version=version,
            until=until,
        ):
            self._apply(commit)

    def _hydrate_from_snapshot(
        self, settings: _Settings, version: int | None, until: datetime | None
    ) -> None:
        """Hydrate from the snapshot when it helps (see :mod:`ddbes.snapshot_loading`)."""
        assert settings.snapshot_store is not None
        start = start_load(
            settings.commit_store,
            settings.snapshot_store,
            aggregate_type=self.aggregate_type,
            aggregate_key=self.key,
            aggregate_id=self.aggregate_id,
            checksum=type(self)._checksum,
            from_version=self.version + 1,
            to_version=version,
            until=until,
            window=settings.snapshots_frequency,
            logger=settings.logger,
        )
        commits = start.commits
        if start.snapshot is not None:
            head = next(commits)
            self.state = start.snapshot.state
            self.version = start.snapshot.version
            self.head_commit_id = head.commit_id
            self.head_committed_at = head.committed_at
        for commit in commits:
            self._apply(commit)

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
        instance = cls(key)
        instance.hydrate(version=version, time=time)
        if instance.version == 0 and cls._key_parts is not None:
            if fail:
                raise AggregateNotFound(cls.aggregate_type, instance.key)
            return None
        return instance

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
        key, key_props = key_from_props(cls._key_parts, props, cls.key_separator)
        return cls._create_at(key, {**props, **key_props})

    @classmethod
    def _create_at(cls, key: str, props: Mapping[str, Any]) -> Self:
        instance = cls(key)
        instance._settings()  # configuration errors before any user code runs
        instance.create(**props)
        if instance.version == 0:
            raise ConfigurationError(
                f"{cls.__name__}.create() committed nothing: it must call self.commit()"
            )
        return instance

    @classmethod
    def load_or_create(cls, **props: Any) -> Self:
        """Load the aggregate the props' key names, or create it (safe under concurrent callers)."""
        key, key_props = key_from_props(cls._key_parts, props, cls.key_separator)
        found = cls.load(key)
        if found is not None and (cls._key_parts is not None or found.version > 0):
            return found
        try:
            return cls._create_at(key, {**props, **key_props})
        except VersionConflict:
            loaded = cls.load(key, fail=True)
            assert loaded is not None
            return loaded

    # ---------------------------------------------------------------- writing

    def commit(
        self, event_or_events: Event | Sequence[Event], *, retry: bool | RetryPolicy = False
    ) -> Self:
        """Append one commit of one event (a dict) or several at ``version + 1`` and apply it.

        Raises:
            InvalidEvent: an event is not a JSON-serializable dict with a string ``type``.
            ReducerFailed: the reducer or an upcaster raised on an event: nothing was written.
            VersionConflict: the instance is stale (without ``retry``).
            RetriesExhausted: every retry conflicted.
            CommitInProgress: another commit on this instance is in flight.
        """
        events = normalize_events(event_or_events, aggregate_id=self.aggregate_id)
        settings = self._settings()
        if not self._committing.acquire(blocking=False):
            raise CommitInProgress(
                f"{self.aggregate_id} is busy committing version {self.version + 1}"
            )
        try:

            def attempt() -> Commit:
                before = self._point()
                commit = new_commit(
                    settings.clock,
                    self.aggregate_type,
                    self.key,
                    events,
                    version=self.version + 1,
                    previous=self.head_committed_at,
                )
                try:  # the state first: an event the reducer rejects is never written
                    state = fold_commit(
                        self.state, commit, self.reducer, type(self).upcasters, stored=False
                    )
                    stored = append_idempotently(settings.commit_store, commit)
                except Exception:
                    self._restore(before, settings)
                    raise
                except BaseException:
                    self._reset()  # interrupted: no reads now; the next hydrate() rebuilds it
                    raise
                self.state = state
                self._advance(stored)
                return stored

            policy = as_policy(retry)
            if policy is None:
                attempt()
            else:
                call_with_retries(
                    attempt,
                    policy,
                    retry_on=VersionConflict,
                    before_retry=lambda _error, _attempt: self.hydrate(),
                )
        finally:
            self._committing.release()
        settings.logger.debug("committed %s version %d", self.aggregate_id, self.version)
        if settings.snapshots and self.version % settings.snapshots_frequency == 0:
            try:
                self._write_snapshot(settings)
            except Exception as exc:  # the commit is durable; a snapshot is only a cache
                settings.logger.warning(
                    "could not write the snapshot of %s at version %d (the commit is stored): %s",
                    self.aggregate_id,
                    self.version,
                    exc,
                )
        return self

    @classmethod
    def append(
        cls, events: Event | Sequence[Event], key: str | Mapping[str, Any] | None = None
    ) -> Commit:
        """Blindly append ``events`` at the aggregate's current head version, retrying conflicts.

        No state is loaded: only the head commit is read, and the reducer does not run, so an
        event it would reject is stored and makes ``load`` raise ``ReducerFailed`` (an upcaster
        is the way forward). Returns the stored commit.
        """
        probe = cls(key)
        normalized = normalize_events(events, aggregate_id=probe.aggregate_id)
        settings = probe._settings()
        return append_at_head(
            settings.commit_store, settings.clock, cls.aggregate_type, probe.key, normalized
        )

    def write_snapshot(self) -> None:
        """Store a snapshot of the current state now.

        Raises:
            ConfigurationError: no snapshot store is configured.
            ValueError: the state is not JSON-compatible.
            StoreUnavailable: the snapshot store failed.
        """
        settings = self._settings()
        if settings.snapshot_store is None:
            raise ConfigurationError(f"{type(self).__name__} has no snapshot_store configured")
        self._write_snapshot(settings)

    def _write_snapshot(self, settings: _Settings) -> None:
        if self.version == 0 or self.head_commit_id is None or self.head_committed_at is None:
            return
        assert settings.snapshot_store is not None
        settings.snapshot_store.put(
            Snapshot(
                aggregate_type=self.aggregate_type,
                aggregate_key=self.key,
                version=self.version,
                state=self.state,
                head_commit_id=self.head_commit_id,
                head_committed_at=self.head_committed_at,
                checksum=type(self)._checksum,
            )
        )
