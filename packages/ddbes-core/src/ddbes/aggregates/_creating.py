"""Creating an aggregate, and loading it or creating it: core operations written once for both
aggregate APIs (see :mod:`ddbes.aggregates._requests`)."""

from __future__ import annotations

from typing import Any, TypeVar

from ddbes.aggregates._base import AggregateBase
from ddbes.aggregates._loading import loading
from ddbes.aggregates._requests import Call, Steps
from ddbes.errors import ConfigurationError, VersionConflict

__all__ = ["creating", "loading_or_creating"]

G = TypeVar("G", bound=AggregateBase)


def creating(cls: type[G], key: str, props: dict[str, Any]) -> Steps[G]:
    """A new instance at ``key`` whose own ``create(**props)`` committed its first events.

    Raises:
        ConfigurationError: the configuration is incomplete (before any user code runs), or
            ``create()`` committed nothing.
        VersionConflict: the aggregate exists already.
    """
    instance = cls(key)
    instance._settings()
    yield Call(instance.create, (), props)
    instance._check_awaited()
    if instance.version == 0:
        raise ConfigurationError(
            f"{cls.__name__}.create() committed nothing: it must call self.commit()"
        )
    return instance


def loading_or_creating(cls: type[G], props: dict[str, Any]) -> Steps[G]:
    """The aggregate the props' key names, created when it has no commits yet; safe under
    concurrent callers (the loser of a race loads the winner's)."""
    key, full = cls._key_and_props(props)
    found = yield from loading(cls, key)
    if found is not None and (cls._key_parts is not None or found.version > 0):
        return found
    try:
        return (yield from creating(cls, key, full))
    except VersionConflict:
        loaded = yield from loading(cls, key, fail=True)
        assert loaded is not None
        return loaded
