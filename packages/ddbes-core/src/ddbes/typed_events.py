"""Typed events: event classes instead of dicts, on the same stored JSON.

An aggregate may declare its event classes (dataclasses, ``msgspec.Struct`` subclasses or
pydantic models) in an :class:`EventTypes`; its reducer and handlers then receive instances,
and its commands may commit instances. Nothing changes in storage or on the wire: an event is
still the JSON object with its ``"type"``, so typed and untyped code share a table and the
JavaScript client still works. Upcasters run on the stored dict, before it is decoded.

Decoding takes the fastest validated path there is for each kind of class:

* ``msgspec.Struct`` and dataclasses: ``msgspec.convert`` (with the ``ddbes-core[typed]``
  extra; without msgspec a dataclass is built with ``cls(**fields)``, which checks the field
  names but not their types);
* pydantic models: ``model_validate``.

Values JSON cannot hold are stored as JSON can hold them (a ``Decimal`` or a ``datetime`` as a
string) and converted back on decoding (``strict=False``). An event whose ``"type"`` names no
class, or whose data does not fit its class, is an :class:`~ddbes.errors.InvalidEvent` that
names the commit.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ddbes.errors import InvalidEvent
from ddbes.model import Commit, Event

__all__ = ["EventTypes"]

_MSGSPEC: Any = False


def _msgspec() -> Any:
    """msgspec (the extra ``ddbes-core[typed]``), imported when the first :class:`EventTypes`
    is made, so that importing ddbes imports the standard library only; ``None`` without it."""
    global _MSGSPEC
    if _MSGSPEC is False:
        try:
            import msgspec  # noqa: PLC0415
        except ImportError:
            _MSGSPEC = None
        else:
            _MSGSPEC = msgspec
    return _MSGSPEC


def _is_pydantic(cls: type) -> bool:
    return callable(getattr(cls, "model_validate", None)) and callable(
        getattr(cls, "model_dump", None)
    )


def _is_struct(cls: type) -> bool:
    msgspec = _msgspec()
    return msgspec is not None and isinstance(cls, type) and issubclass(cls, msgspec.Struct)


class EventTypes:
    """An aggregate's event classes, by the ``"type"`` their events are stored under.

    Args:
        *classes: event classes, each stored under its class name, or under its
            ``event_type`` class attribute when it has one (a string; annotate it
            ``ClassVar[str]`` so that it is not a field).
        named: more classes under explicit type names (for names that are not identifiers, or
            classes shared between aggregates under other names).

    Raises:
        TypeError: a class is not a dataclass, ``msgspec.Struct`` or pydantic model.
        ValueError: two classes claim one type name.
    """

    def __init__(self, *classes: type, named: Mapping[str, type] | None = None) -> None:
        self._by_name: dict[str, type] = {}
        self._names: dict[type, str] = {}
        self._decoders: dict[str, Callable[[Event], Any]] = {}
        pairs = [(self._default_name(cls), cls) for cls in classes]
        pairs += list((named or {}).items())
        for name, cls in pairs:
            if not isinstance(name, str) or not name:
                raise ValueError(f"an event type name must be a non-empty string, got {name!r}")
            if name in self._by_name:
                raise ValueError(
                    f"event type {name!r} is claimed by {self._by_name[name].__name__} and "
                    f"{cls.__name__}: give one of them another name (named={{...}})"
                )
            self._by_name[name] = cls
            self._names.setdefault(cls, name)
            self._decoders[name] = self._decoder(cls)

    @staticmethod
    def _default_name(kind: type) -> str:
        name = getattr(kind, "event_type", None)
        return name if isinstance(name, str) else kind.__name__

    @staticmethod
    def _decoder(cls: type) -> Callable[[Event], Any]:  # noqa: PLW0211
        if _is_struct(cls) or (dataclasses.is_dataclass(cls) and _msgspec() is not None):
            return functools.partial(_msgspec().convert, type=cls, strict=False)
        if dataclasses.is_dataclass(cls):
            names = {f.name for f in dataclasses.fields(cls) if f.init}

            def decode_dataclass(raw: Event) -> Any:
                return cls(**{k: v for k, v in raw.items() if k in names})

            return decode_dataclass
        if _is_pydantic(cls):
            validate = cls.model_validate  # type: ignore[attr-defined]

            def decode_model(raw: Event) -> Any:
                return validate(raw)

            return decode_model
        raise TypeError(
            f"{cls!r} is not a dataclass, msgspec.Struct or pydantic model: an event class must "
            "be one of them"
        )

    @property
    def names(self) -> Mapping[str, type]:
        """Type name -> class."""
        return dict(self._by_name)

    def name_of(self, cls: type) -> str:
        """The type name ``cls``'s events are stored under.

        Raises:
            KeyError: ``cls`` is not one of these classes.
        """
        return self._names[cls]

    def decode(self, event: Event, commit: Commit | None = None, index: int = 0) -> Any:
        """The instance a stored event (after upcasting) stands for.

        Raises:
            InvalidEvent: its ``"type"`` names none of these classes, or its data does not fit
                the class; the message names the commit and the event.
        """
        kind = event.get("type")
        decoder = self._decoders.get(kind) if isinstance(kind, str) else None
        if decoder is None or not isinstance(kind, str):
            raise InvalidEvent(
                f"{_where(commit, index, kind)} has a type no event class is declared for "
                f"(declared: {', '.join(sorted(self._by_name))}); declare it, or upcast it "
                "to one that is"
            )
        try:
            return decoder(event)
        except Exception as exc:  # msgspec's, pydantic's and the constructors' errors
            detail = " ".join(str(exc).split())
            raise InvalidEvent(
                f"{_where(commit, index, kind)} does not fit {self._by_name[kind].__name__}: "
                f"{detail}"
            ) from exc

    def decode_all(self, commit: Commit, events: Iterable[Event]) -> tuple[Any, ...]:
        """:meth:`decode` for each of a commit's (upcast) events."""
        events = tuple(events)
        decoders = self._decoders
        try:  # the fast path: no per-event bookkeeping
            return tuple([decoders[event["type"]](event) for event in events])
        except Exception:  # the slow path below names the event at fault, chained to nothing
            pass
        return tuple(self.decode(event, commit, index) for index, event in enumerate(events))

    def encode(self, event: Any) -> Event:
        """The stored form of an event: an instance of one of these classes becomes its JSON
        object with ``"type"`` first; a dict is returned as it is.

        Raises:
            InvalidEvent: ``event`` is an instance of a class not declared here.
        """
        if isinstance(event, dict):
            return event
        name = self._names.get(type(event))
        if name is None:
            raise InvalidEvent(
                f"{type(event).__name__} is not an event class of this aggregate (declared: "
                f"{', '.join(sorted(self._by_name))})"
            )
        if _is_pydantic(type(event)):
            fields = event.model_dump(mode="json")
        elif _msgspec() is not None:
            fields = _msgspec().to_builtins(event)
        else:
            fields = dataclasses.asdict(event)
        fields.pop("type", None)
        return {"type": name, **fields}

    def __repr__(self) -> str:
        return f"EventTypes({', '.join(sorted(self._by_name))})"


def _where(commit: Commit | None, index: int, kind: object) -> str:
    if commit is None:
        return f"an event of type {kind!r}"
    return (
        f"event {index} ({kind!r}) of commit {commit.commit_id} ({commit.aggregate_id}, "
        f"version {commit.version})"
    )
