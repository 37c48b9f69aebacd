"""Contract checks of what a commit store refuses: every store holds DynamoDB's limits, with the
same errors, so that what passes in memory passes in production. Part of
:data:`ddbes.testing.contracts.COMMIT_STORE_CHECKS`.
"""

from __future__ import annotations

import random
import string
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

from ddbes._validation import (
    MAX_EVENT_DEPTH,
    MAX_ITEM_BYTES,
    MAX_KEY_BYTES,
    MAX_TYPE_AND_KEY_BYTES,
    MAX_VERSION,
    encoded_events,
)
from ddbes.errors import CommitTooLarge, InvalidEvent
from ddbes.model import Commit
from ddbes.ports import CommitStore

__all__ = ["LIMIT_CHECKS"]


class _Factory(Protocol):
    def __call__(self, *, log_partitions: int = 1) -> CommitStore: ...


_T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _commit(
    key: str,
    events: Any = None,
    *,
    aggregate_type: str = "Cart",
    version: int = 1,
    commit_id: str | None = None,
) -> Commit:
    return Commit(
        commit_id=commit_id or uuid.uuid4().hex,
        aggregate_type=aggregate_type,
        aggregate_key=key,
        version=version,
        committed_at=_T0,
        events=({"type": "T"},) if events is None else events,
    )


def _refused(error: type[BaseException], store: CommitStore, commit: Commit) -> BaseException:
    try:
        store.append(commit)
    except error as exc:
        return exc
    except BaseException as exc:
        raise AssertionError(
            f"expected {error.__name__} for {commit!r:.300}, got {type(exc).__name__}: {exc}"
        ) from exc
    raise AssertionError(f"expected {error.__name__} for {commit!r:.300}; the store took it")


def _read_back(store: CommitStore, commit: Commit) -> Commit:
    (read,) = store.read_commits(commit.aggregate_type, commit.aggregate_key)
    return read


def _nothing_stored(store: CommitStore) -> None:
    store.flush_log(timeout=60.0)
    assert store.head_position() == 0, "a refused commit reached the log"


def check_events_that_are_not_objects_with_a_type_are_refused(factory: _Factory) -> None:
    store = factory()
    for index, events in enumerate(
        [
            ("oops",),
            (42,),
            (None,),
            (["type", "T"],),
            ({"no": "type"},),
            ({"type": ""},),
            ({"type": 7},),
            ({"type": None},),
            ({"type": "T"}, "second"),
            ({"type": "T", 1: "int key"},),
            "a string, not a tuple",
        ]
    ):
        error = _refused(InvalidEvent, store, _commit(f"bad{index}", events))
        assert f"bad{index}" in str(error), error
        assert list(store.read_commits("Cart", f"bad{index}")) == []
    _nothing_stored(store)
    assert list(store.aggregate_keys("Cart")) == []


def check_keys_are_held_to_dynamodb_limits(factory: _Factory) -> None:
    store = factory()
    surrogate = "bad\ud800"
    _refused(ValueError, store, _commit(surrogate))
    _refused(ValueError, store, _commit("k", aggregate_type=surrogate))
    _refused(ValueError, store, _commit("k", commit_id=surrogate))
    _refused(ValueError, store, _commit("x" * 2000))
    _refused(ValueError, store, _commit("é" * (MAX_KEY_BYTES // 2) + "x"))  # 1025 bytes
    _refused(ValueError, store, _commit("k", version=MAX_VERSION + 1))
    long_type = "T" * (MAX_TYPE_AND_KEY_BYTES - MAX_KEY_BYTES)
    _refused(ValueError, store, _commit("k" * MAX_KEY_BYTES, aggregate_type=long_type + "x"))
    _nothing_stored(store)
    accepted = [
        _commit("é" * (MAX_KEY_BYTES // 2)),  # 1024 bytes of UTF-8
        _commit("k" * MAX_KEY_BYTES, aggregate_type=long_type),  # 2040 bytes together
        _commit("🙂 ключ 鍵"),
    ]
    for commit in accepted:
        store.append(commit)
        read = _read_back(store, commit)
        assert read.commit_id == commit.commit_id and read.aggregate_key == commit.aggregate_key
    assert list(store.aggregate_keys(long_type)) == ["k" * MAX_KEY_BYTES]


def _nested(depth: int) -> dict[str, Any]:
    """An event of exactly ``depth`` levels (the event object is level 1)."""
    inner: Any = {"leaf": True}
    for level in range(depth - 2):
        inner = {"d": inner} if level % 2 else [inner]
    return {"type": "Deep", "d": inner}


def check_events_nest_at_most_32_levels(factory: _Factory) -> None:
    store = factory()
    for depth in (MAX_EVENT_DEPTH + 1, 5000):
        error = _refused(InvalidEvent, store, _commit(f"deep{depth}", (_nested(depth),)))
        assert f"deeper than {MAX_EVENT_DEPTH}" in str(error), error
    _nothing_stored(store)
    deepest = _commit("deep", (_nested(MAX_EVENT_DEPTH),))
    store.append(deepest)
    assert _read_back(store, deepest).events == deepest.events


def check_values_json_cannot_hold_are_refused(factory: _Factory) -> None:
    store = factory()
    for index, value in enumerate(
        [
            float("nan"),
            float("inf"),
            float("-inf"),
            Decimal("NaN"),
            Decimal("-Infinity"),
            "lone \udc00 surrogate",
            {1, 2},
            b"bytes",
            object(),
        ]
    ):
        error = _refused(InvalidEvent, store, _commit(f"v{index}", ({"type": "T", "v": value},)))
        assert f"v{index}" in str(error), error
    _nothing_stored(store)


def check_decimals_round_trip_exactly_as_strings(factory: _Factory) -> None:
    store = factory()
    amounts = {
        "price": Decimal("12.30"),
        "big": Decimal("123456789012345678901234567890.123456789012345678"),
        "tiny": Decimal("1E-30"),
        "negative_zero": Decimal("-0.00"),
        "whole": Decimal("100"),
    }
    commit = _commit("money", ({"type": "Paid", **amounts},))
    store.append(commit)
    (event,) = _read_back(store, commit).events
    for name, amount in amounts.items():
        assert event[name] == str(amount), (name, event[name])
        back = Decimal(event[name])
        assert back == amount and back.as_tuple() == amount.as_tuple(), (name, back)


def _incompressible(length: int) -> str:
    rng = random.Random(13)
    return "".join(rng.choices(string.ascii_letters + string.digits, k=length))


def _fits(commit: Commit) -> bool:
    try:
        encoded_events(commit)
    except CommitTooLarge:
        return False
    return True


def check_item_size_limit_is_exact_and_the_same_everywhere(factory: _Factory) -> None:
    store = factory()
    text = _incompressible(MAX_ITEM_BYTES * 2)
    commit_id = "edge-" + "0" * 27

    def blob(length: int) -> Commit:
        return _commit("edge", ({"type": "Blob", "b": text[:length]},), commit_id=commit_id)

    fits, too_big = 1000, len(text)  # blob(fits) fits the limit, blob(too_big) does not
    assert _fits(blob(fits)) and not _fits(blob(too_big))
    while too_big - fits > 1:
        middle = (fits + too_big) // 2
        if _fits(blob(middle)):
            fits = middle
        else:
            too_big = middle
    error = _refused(CommitTooLarge, store, blob(too_big))
    assert isinstance(error, CommitTooLarge) and error.limit == MAX_ITEM_BYTES
    assert error.size > MAX_ITEM_BYTES and "Cart:edge" in str(error)
    _nothing_stored(store)
    largest = blob(fits)
    store.append(largest)
    assert _read_back(store, largest).events == largest.events


LIMIT_CHECKS: dict[str, Callable[[_Factory], None]] = {
    name.removeprefix("check_"): check
    for name, check in list(globals().items())
    if name.startswith("check_")
}
