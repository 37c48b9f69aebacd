"""What ``Aggregate`` and ``AsyncAggregate`` share: the class attributes, the key, the three
levels of configuration, and the in-memory point an instance is at. No I/O here."""

from __future__ import annotations

import threading
from collections.abc import Coroutine, Mapping
from datetime import datetime
from typing import Any, ClassVar, Self, cast

from ddbes.aggregates._misuse import check_class, not_awaited
from ddbes.aggregates._reducing import fold_commit
from ddbes.aggregates._settings import AggregateSettings, resolve_settings
from ddbes.aggregates.creation import create_method
from ddbes.aggregates.keys import KEYLESS, KeyPart, KeySchema, key_from_props, normalize_schema
from ddbes.aggregates.upcasting import Upcasters, upcasters_checksum
from ddbes.model import Commit, Snapshot
from ddbes.settings import OPTION_NAMES, config, validate_options
from ddbes.typed_events import EventTypes

__all__ = ["AggregateBase", "Point"]

Point = tuple[Any, int, str | None, datetime | None]
"""An instance's state, version, head commit id and time."""


class AggregateBase:
    """The definition both aggregate APIs share (see :class:`ddbes.Aggregate`)."""

    key_schema: ClassVar[KeySchema | None] = None
    key_separator: ClassVar[str] = "."
    aggregate_type: ClassVar[str] = "Aggregate"
    upcasters: ClassVar[Upcasters] = {}
    snapshot_version: ClassVar[int | str] = 0
    event_types: ClassVar[EventTypes | None] = None

    create: Any
    _asynchronous: ClassVar[bool] = False
    _key_parts: ClassVar[tuple[KeyPart, ...] | None] = None
    _checksum: ClassVar[str] = upcasters_checksum({}, 0)

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
        check_class(cls.__name__, own, asynchronous=cls._asynchronous)
        if "create" in own and not isinstance(own["create"], create_method):
            cls.create = create_method(own["create"])
        cls._key_parts = normalize_schema(cls.key_schema)
        cls._checksum = upcasters_checksum(cls.upcasters, cls.snapshot_version)

    def __init__(self, key: str | Mapping[str, Any] | None = None, **options: Any) -> None:
        validate_options(options, f"{type(self).__name__}()")
        self.key: str = type(self)._key_string(key)
        self._options = options
        self.state: Any = None
        self.version = 0
        self.head_commit_id: str | None = None
        self.head_committed_at: datetime | None = None
        self._committing = threading.Lock()
        self._cached_settings: tuple[int, AggregateSettings] | None = None
        self._unawaited: Coroutine[Any, Any, Any] | None = None

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

    @classmethod
    def _key_and_props(cls, props: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        """The key the props name, and the props with the key parts filled in."""
        key, key_props = key_from_props(cls._key_parts, props, cls.key_separator)
        return key, {**props, **key_props}

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

    def _settings(self) -> AggregateSettings:
        cached = self._cached_settings
        if cached is not None and cached[0] == config.generation:
            return cached[1]
        settings = resolve_settings(
            self._option, type(self).__name__, asynchronous=self._asynchronous
        )
        self._cached_settings = (config.generation, settings)
        return settings

    # -------------------------------------------------------------- the reducer

    @staticmethod
    def reducer(state: Any, event: Any, commit: Commit) -> Any:
        """Return the state after ``event``. ``state`` is ``None`` before the first event.

        ``event`` is the event's dict, or an instance of its class when the aggregate declares
        ``event_types`` (annotate it with the union of those classes: mypy then checks a
        ``match`` over it)."""
        raise NotImplementedError(
            "define reducer(state, event, commit) -> new_state on the aggregate"
        )

    # ----------------------------------------------- the point the instance is at

    def _apply(self, commit: Commit) -> None:
        """Fold a stored commit into the instance (the caller restores it when this raises)."""
        cls = type(self)
        self.state = fold_commit(
            self.state,
            commit,
            self.reducer,
            cls.upcasters,
            stored=True,
            event_types=cls.event_types,
        )
        self._advance(commit)

    def _advance(self, commit: Commit) -> None:
        self.version = commit.version
        self.head_commit_id = commit.commit_id
        self.head_committed_at = commit.committed_at

    def _start_at(self, snapshot: Snapshot, head: Commit) -> None:
        """Take the snapshot's state; ``head`` is the commit it was taken at."""
        self.state = snapshot.state
        self.version = snapshot.version
        self.head_commit_id = head.commit_id
        self.head_committed_at = head.committed_at

    def _reset(self) -> None:
        self.state = None
        self.version = 0
        self.head_commit_id = None
        self.head_committed_at = None

    def _point(self) -> Point:
        return (self.state, self.version, self.head_commit_id, self.head_committed_at)

    def _put_back(self, point: Point) -> None:
        self.state, self.version, self.head_commit_id, self.head_committed_at = point

    def _snapshot(self) -> Snapshot | None:
        """A snapshot of the current state, or ``None`` before the first commit."""
        if self.version == 0 or self.head_commit_id is None or self.head_committed_at is None:
            return None
        return Snapshot(
            aggregate_type=self.aggregate_type,
            aggregate_key=self.key,
            version=self.version,
            state=self.state,
            head_commit_id=self.head_commit_id,
            head_committed_at=self.head_committed_at,
            checksum=type(self)._checksum,
        )

    def _check_awaited(self) -> None:
        """Raise when an earlier ``commit`` of this (async) instance was never awaited.

        Raises:
            TypeError: naming the forgotten ``await`` (the coroutine is closed: nothing ran).
        """
        pending = self._unawaited
        if pending is not None:
            self._unawaited = None
            pending.close()
            raise not_awaited(self.aggregate_id, "commit")
