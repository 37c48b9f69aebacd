"""ddbes.typed_events: the stored JSON object <-> an instance of a declared event class, for
dataclasses, msgspec Structs and pydantic models, with errors that name the commit."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal
from typing import ClassVar

import msgspec
import pydantic
import pytest

from ddbes.codec import decode_events, encode_events
from ddbes.errors import InvalidEvent
from ddbes.model import Commit
from ddbes.typed_events import EventTypes


@dataclasses.dataclass(frozen=True)
class ItemAdded:
    name: str
    price: Decimal
    at: datetime | None = None


class ItemRemoved(msgspec.Struct, frozen=True):
    name: str


class Renamed(pydantic.BaseModel):
    event_type: ClassVar[str] = "cart-renamed"  # stored under this name
    title: str
    tags: list[str] = []


TYPES = EventTypes(ItemAdded, ItemRemoved, Renamed)
COMMIT = Commit(
    commit_id="c-1",
    aggregate_type="Cart",
    aggregate_key="k",
    version=4,
    committed_at=datetime(2030, 1, 1, tzinfo=UTC),
    events=({"type": "ItemAdded"},),
)


def _stored(event: object) -> dict[str, object]:
    """The event as a store gives it back: encoded, then JSON both ways."""
    (back,) = decode_events(encode_events([TYPES.encode(event)]))
    return back


@pytest.mark.parametrize(
    "event",
    [
        ItemAdded("book", Decimal("12.10"), datetime(2030, 1, 2, 3, 4, 5, 6, tzinfo=UTC)),
        ItemAdded("pen", Decimal("0.5")),
        ItemRemoved("book"),
        Renamed(title="Saturday", tags=["a", "b"]),
    ],
    ids=["dataclass", "dataclass-defaults", "struct", "pydantic"],
)
def test_every_kind_round_trips_through_storage(event: object) -> None:
    stored = _stored(event)
    assert stored["type"] == TYPES.name_of(type(event))
    assert TYPES.decode(stored, COMMIT) == event


def test_the_stored_form_is_the_plain_json_object_with_its_type_first() -> None:
    encoded = TYPES.encode(ItemAdded("book", Decimal("12.10")))
    assert list(encoded) == ["type", "name", "price", "at"]
    assert encoded == {"type": "ItemAdded", "name": "book", "price": "12.10", "at": None}
    assert TYPES.encode(Renamed(title="x"))["type"] == "cart-renamed"
    untyped = {"type": "Legacy", "n": 1}
    assert TYPES.encode(untyped) is untyped  # dicts keep working beside instances


def test_unknown_and_invalid_events_name_the_commit() -> None:
    with pytest.raises(InvalidEvent) as unknown:
        TYPES.decode({"type": "Teleported"}, COMMIT, 2)
    assert "event 2 ('Teleported') of commit c-1 (Cart:k, version 4)" in str(unknown.value)
    assert "ItemAdded" in str(unknown.value)  # what is declared
    for bad in (
        {"type": "ItemAdded", "name": "book"},  # no price
        {"type": "ItemAdded", "name": 7, "price": "1"},  # a number where a string goes
        {"type": "ItemRemoved"},
        {"type": "cart-renamed", "title": ["not", "a", "string"]},
    ):
        with pytest.raises(InvalidEvent, match=r"of commit c-1 \(Cart:k, version 4\) does not"):
            TYPES.decode(bad, COMMIT)
    with pytest.raises(InvalidEvent, match="not an event class of this aggregate"):
        TYPES.encode(COMMIT)


def test_declaring_the_same_name_twice_or_a_plain_class_is_refused() -> None:
    class ItemAdded2(msgspec.Struct):
        event_type: ClassVar[str] = "ItemAdded"

    with pytest.raises(ValueError, match="claimed by ItemAdded and ItemAdded2"):
        EventTypes(ItemAdded, ItemAdded2)
    with pytest.raises(TypeError, match=r"not a dataclass, msgspec\.Struct or pydantic model"):
        EventTypes(object)


def test_decoding_a_whole_commit() -> None:
    events = [TYPES.encode(ItemRemoved("a")), TYPES.encode(ItemRemoved("b"))]
    assert TYPES.decode_all(COMMIT, events) == (ItemRemoved("a"), ItemRemoved("b"))
